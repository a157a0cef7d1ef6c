"""Group commit: change sets are written by one thread of their own, as many at once as have
queued up, in one transaction; each caller waits (outside the manager's lock) until its own
change set is committed.

The manager applies a change in memory under its lock and hands the change set over; while the
store commits it, the next request can already apply its own change. So a commit (an fsync on
PostgreSQL) is paid once per batch, not per change, and the rows of each change are serialized
at the moment of the change. The store always holds a prefix of the changes in the order they
were made; a call returns only once its change is in the store, so nothing acknowledged is
lost. What other threads read meanwhile may include changes not yet committed.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from render_farm_manager.core.errors import StoreError
from render_farm_manager.store.base import ChangeSet, Store

_log = logging.getLogger(__name__)
MAX_BATCH = 256
"""Change sets committed together at most."""


class Ticket:
    """A change set's place in the queue: :meth:`wait` returns once it is committed."""

    __slots__ = ("_done", "error")

    def __init__(self) -> None:
        self._done = threading.Event()
        self.error: BaseException | None = None

    def finish(self, error: BaseException | None = None) -> None:
        self.error = error
        self._done.set()

    def wait(self) -> None:
        self._done.wait()
        if self.error is not None:
            if isinstance(self.error, StoreError):
                raise self.error
            raise StoreError(f"the change could not be stored: {self.error}") from self.error


class Committer:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: deque[tuple[ChangeSet, Ticket]] = deque()
        self._wake = threading.Condition()
        self._closed = False
        self.failed: BaseException | None = None
        self.batches = 0
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="render-farm-store", daemon=True)
        self._thread.start()

    def submit(self, changes: ChangeSet) -> Ticket:
        ticket = Ticket()
        with self._wake:
            if self.failed is not None:
                ticket.finish(self.failed)
                return ticket
            if self._closed:
                ticket.finish(StoreError("the store is closed"))
                return ticket
            self._queue.append((changes, ticket))
            self._wake.notify()
        return ticket

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._closed:
                    self._wake.wait()
                if not self._queue:
                    return
                batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
            try:
                self.store.write_many([changes for changes, _ in batch])
            except BaseException as error:  # every waiter hears it; nothing after is written
                _log.error("the store failed to commit %d change sets: %s", len(batch), error)
                with self._wake:
                    self.failed = error
                    pending = list(self._queue)
                    self._queue.clear()
                for _, ticket in batch + pending:
                    ticket.finish(error)
                continue
            self.batches += 1
            self.written += len(batch)
            for _, ticket in batch:
                ticket.finish()

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()
