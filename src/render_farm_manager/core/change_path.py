"""The one path every state change takes: validate → check the transition → apply → audit →
index.

It owns the farm's state (clients, nodes and jobs by id) and the scheduler's index of it. Every
manager method, every edit a user makes to a model the manager holds (``job.status =
"cancelled"``) and every worker event runs as one *change*: a :class:`Transaction` that is
committed as a whole, or, if anything in it raises, rolled back so that nothing of it remains.
Audit entries and monitor updates are queued during a change and written when it commits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from render_farm_manager.core.clock import Clock
from render_farm_manager.core.errors import RenderFarmError, StoreError
from render_farm_manager.core.lifecycle import check_transition
from render_farm_manager.core.models import (
    FINISHED_STATUSES,
    WAITING_STATUSES,
    AnyClient,
    AuditLogEntry,
    FarmModel,
    RenderJob,
    RenderJobStatus,
    RenderNode,
)
from render_farm_manager.core.tracked import TRACKED_NAMES, track_fields, tracked
from render_farm_manager.core.transaction import Transaction
from render_farm_manager.scheduling.job_index import IndexedJob, JobIndex

if TYPE_CHECKING:
    from render_farm_manager.core.audit_api import ChangeListener
    from render_farm_manager.core.interfaces import (
        AuditLoggerInterface,
        PerformanceMonitorInterface,
    )
    from render_farm_manager.store.base import Store

_log = logging.getLogger(__name__)


def _outside_change() -> NoReturn:
    raise RuntimeError("state changes must run inside ChangePath.change()")


class Waiter(Protocol):
    def wait(self) -> None:
        """Return once the change set is stored; raise StoreError if it could not be."""


EditHandler = Callable[[FarmModel, str, Any], None]
AfterMove = Callable[[list[RenderJob], list[RenderJobStatus], RenderJobStatus], None]


class ChangePath:
    def __init__(
        self,
        clock: Clock,
        audit_logger: AuditLoggerInterface,
        performance_monitor: PerformanceMonitorInterface,
    ) -> None:
        self.clock = clock
        self.audit_logger = audit_logger
        self.performance_monitor = performance_monitor
        self.clients: dict[str, AnyClient] = {}
        self.nodes: dict[str, RenderNode] = {}
        self.jobs: dict[str, RenderJob] = {}
        self.index = JobIndex(self.jobs, self._write_blocked_reason)
        self.lock = threading.RLock()
        self.version = 0
        """Incremented by every committed change: what is derived from the state is stale."""
        self.nodes_version = 0
        """Incremented when nodes are added, removed, or change status or hardware."""
        self.edit_handler: EditHandler | None = None
        self.after_move: AfterMove | None = None
        """Told of every status move after it was applied (shots follow their tasks)."""
        self.limits: dict[str, int] = {}
        """Counted resources (licences, seats) by name: how many tasks may hold one at once."""
        self.store: Store | None = None
        """Where committed changes are written (None: memory only)."""
        self.persist: Callable[[Transaction], Waiter | None] | None = None
        """Writes a committed change to the store (or hands it to the store's committer and
        returns what to wait on)."""
        self.broken: str | None = None
        """Why the store failed to commit a change (then no further change is accepted)."""
        self.listeners: list[ChangeListener] = []
        """Called after each commit with the audit entries the change wrote."""
        self._tx: Transaction | None = None
        self._stray: list[AuditLogEntry] = []
        """Entries written outside any change: they go with the next one."""
        add_sink = getattr(audit_logger, "add_sink", None)
        self._sunk = add_sink is not None
        if add_sink is not None:  # every entry, also those components write themselves
            add_sink(self._entry_written)
        self._now: datetime | None = None
        self._held: dict[int, RenderJob | RenderNode | AnyClient] = {}

    # -- changes -------------------------------------------------------------------------------

    def change(self) -> Change:
        """One change set (joined by nested calls): all of it commits, or none of it. The
        clock is read once, first: every time the change records is that time. With a store
        that commits in the background, the outermost change returns once its change set is
        stored (waiting outside the lock, so that others can go on meanwhile)."""
        return Change(self)

    def _stored(self, stored: Waiter) -> None:
        """Wait (outside the lock) until the change set is stored."""
        try:
            stored.wait()
        except StoreError as error:
            self.broken = self.broken or str(error)
            raise

    def _write_through(self, tx: Transaction) -> Waiter | None:
        assert self.persist is not None
        try:
            return self.persist(tx)
        except Exception as error:
            self.broken = f"{type(error).__name__}: {error}"
            if isinstance(error, StoreError):
                raise
            raise StoreError(f"the change could not be stored: {error}") from error

    def _tell_listeners(self, entries: list[AuditLogEntry]) -> None:
        for listener in list(self.listeners):
            try:
                listener(entries)
            except Exception as error:  # a listener never undoes a committed change
                _log.exception("change listener %r failed: %s", listener, error)

    def _entry_written(self, entry: AuditLogEntry) -> None:
        tx = self._tx
        (tx.logged if tx is not None else self._stray).append(entry)

    def _undo(self, tx: Transaction) -> None:
        """Undo everything the change wrote, the scheduler's index included."""
        written = tx.changed
        self._stray.extend(tx.logged)  # written by components directly: on record regardless
        tx.rollback()
        self.index.queue.undo_journal()
        self._tx = None
        self._now = None
        if written:
            self.index.resync(self.jobs.values())
            self.version += 1
            self.nodes_version += 1

    @property
    def tx(self) -> Transaction:
        tx = self._tx
        if tx is None:
            _outside_change()
        return tx

    def now(self) -> datetime:
        """The time of the change under way (read once when it began), else the clock's."""
        return self._now if self._now is not None else self.clock.now()

    def write(self, model: FarmModel, name: str, value: Any) -> None:
        tx = self._tx
        if tx is None:
            _outside_change()
        if name in TRACKED_NAMES:  # a collection whose in-place changes are edits
            value = tracked(model, name, value)
        tx.write(model, name, value)

    def nodes_changed(self) -> None:
        self.tx.set_attr(self, "nodes_version", self.nodes_version + 1)

    def log(self, method: str, *args: Any, **kwargs: Any) -> None:
        """Queue one audit entry (``audit_logger.<method>(*args, **kwargs)``) for the commit."""
        logger = self.audit_logger
        tx = self._tx
        if tx is None:
            _outside_change()
        if self._sunk:  # the entry reaches tx.logged through the logger's sink
            tx.call_after_commit(getattr(logger, method), args, kwargs)
        else:
            tx.after_commit(lambda: tx.logged.append(getattr(logger, method)(*args, **kwargs)))

    def measure(self, method: str, *args: Any, **kwargs: Any) -> None:
        """Queue one performance-monitor update for the commit."""
        tx = self._tx
        if tx is None:
            _outside_change()
        tx.call_after_commit(getattr(self.performance_monitor, method), args, kwargs)

    # -- job statuses --------------------------------------------------------------------------

    def move(
        self, jobs: list[RenderJob], new_status: RenderJobStatus, reason: str = "", **details: Any
    ) -> None:
        """Change the status of ``jobs``: every move is checked against the transition table
        before any is made, then applied, audited (one entry, in every job's history) and
        indexed."""
        if not jobs:
            return
        old_statuses = [RenderJobStatus(job.status) for job in jobs]
        for job, old in zip(jobs, old_statuses, strict=True):
            check_transition(job.id, old, new_status)
        for job in jobs:
            self.write(job, "status", new_status)
        suffix = f": {reason}" if reason else ""
        if len(jobs) == 1:
            job, old = jobs[0], old_statuses[0]
            self.log(
                "log_event",
                "job_status_changed",
                f"Job {job.id} {old.value} -> {new_status.value}{suffix}",
                job_id=job.id,
                client_id=job.client_id,
                node_id=job.assigned_node_id,
                old_status=old.value,
                new_status=new_status.value,
                reason=reason,
                **details,
            )
        else:
            self.log(
                "log_batch_event",
                "job_status_changed",
                f"{len(jobs)} jobs -> {new_status.value}{suffix}",
                job_ids=[job.id for job in jobs],
                old_status=sorted({old.value for old in old_statuses}),
                new_status=new_status.value,
                reason=reason,
                **details,
            )
        for job, old in zip(jobs, old_statuses, strict=True):
            self.reindex(job, old)
        if self.after_move is not None:
            self.after_move(jobs, old_statuses, new_status)

    def reindex(self, job: RenderJob, old_status: RenderJobStatus | None = None) -> None:
        """Put ``job`` where its state says in the scheduler's index. Without ``old_status``,
        its priority, deadline or remaining work changed; with it, its status did (what it
        passes on to its parents changes only when it finishes or stops being finished), and
        the jobs waiting on it are re-examined."""
        index = self.index
        if old_status is None:
            index.inheritance.mark(job.id)
            index.place(job)
            return
        if old_status in WAITING_STATUSES and job.status in WAITING_STATUSES:
            index.newly_ready.discard(job.id)
            return
        index.place(job)
        if (old_status in FINISHED_STATUSES) != (job.status in FINISHED_STATUSES):
            index.inheritance.mark(job.id)
        index.settle_dependents(job)

    def _write_blocked_reason(self, job: IndexedJob, reason: str | None) -> None:
        self.write(job, "blocked_reason", reason)  # type: ignore[arg-type]

    # -- models the manager holds --------------------------------------------------------------

    def hold(self, model: RenderJob | RenderNode | AnyClient) -> None:
        """From now on, edits of ``model`` (and of a node's capabilities) come to this path."""
        holder = model.holder()
        if holder is not None and holder is not self and holder.observes(model):
            raise RenderFarmError(
                f"{type(model).__name__} {model.id!r} is already held by another manager; "
                "give this one a copy (model.model_copy())"
            )
        self.attach(model)
        self.tx.on_rollback(lambda: self.release(model))

    def attach(self, model: RenderJob | RenderNode | AnyClient) -> None:
        model.hold(self)
        track_fields(model)
        self._held[id(model)] = model
        if isinstance(model, RenderNode):
            part = model.capabilities
            part.hold(self)
            track_fields(part)
            self._held[id(part)] = model

    def hold_part(self, owner: RenderNode, part: FarmModel, old: FarmModel) -> None:
        """A held node got new capabilities: they are held, the old ones no longer."""
        self._swap_part(owner, part, old)
        self.tx.on_rollback(lambda: self._swap_part(owner, old, part))

    def _swap_part(self, owner: RenderNode, new: FarmModel, old: FarmModel) -> None:
        old.hold(None)
        self._held.pop(id(old), None)
        new.hold(self)
        track_fields(new)
        self._held[id(new)] = owner

    def let_go(self, model: RenderJob | RenderNode | AnyClient) -> None:
        """The model is no longer held (it was removed from the farm)."""
        self.release(model)
        self.tx.on_rollback(lambda: self.attach(model))

    def release(self, model: RenderJob | RenderNode | AnyClient) -> None:
        parts: list[FarmModel] = [model]
        if isinstance(model, RenderNode):
            parts.append(model.capabilities)
        for part in parts:
            if part.holder() is self:
                part.hold(None)
            self._held.pop(id(part), None)

    def owner_of(self, part: FarmModel) -> RenderJob | RenderNode | AnyClient | None:
        """The held model ``part`` is (a part of)."""
        return self._held.get(id(part))

    def observes(self, model: FarmModel) -> bool:
        owner = self._held.get(id(model))
        if owner is None:
            return False
        if isinstance(owner, RenderNode):
            held = self.nodes.get(owner.id) is owner
            return held and (owner is model or owner.capabilities is model)
        if isinstance(owner, RenderJob):
            return owner is model and self.jobs.get(owner.id) is owner
        return owner is model and self.clients.get(owner.id) is owner

    def edit(self, model: FarmModel, name: str, value: Any) -> None:
        """A user assigned ``model.name = value`` on a held model (value already validated)."""
        with self.lock:
            if self._tx is not None:
                # Written by a component while the manager applies a change of its own.
                self.write(model, name, value)
                return
            if not self.observes(model):  # let go by another thread meanwhile
                model.__dict__[name] = value
                return
            if self.edit_handler is None:
                raise RenderFarmError("this manager does not accept edits of its models")
            with self.change():
                self.edit_handler(model, name, value)


class Change:
    """The context of :meth:`ChangePath.change` (a class rather than a generator: every manager
    call and every edit runs in one, so its own cost counts). Entering takes the manager's lock
    and, outermost, starts the transaction; leaving commits it (or undoes it when the block
    raised), releases the lock and then waits for the store, if it commits in the background."""

    __slots__ = ("_path", "_tx")

    def __init__(self, path: ChangePath) -> None:
        self._path = path
        self._tx: Transaction | None = None
        """The transaction this context began (None when it joined an outer change)."""

    def __enter__(self) -> Transaction:
        if self._tx is not None:
            raise RuntimeError("this change is under way; call change() again to join it")
        path = self._path
        path.lock.acquire()
        try:
            tx = path._tx
            if tx is not None:  # nested: joins the change under way
                return tx
            if path.broken is not None:
                raise StoreError(
                    f"the store failed to commit a change ({path.broken}); this manager's "
                    "memory is ahead of what was stored: reopen it to reload the committed state"
                )
            now = path.clock.now()
            tx = self._tx = path._tx = Transaction(track=path.persist is not None)
            path._now = now
            path.index.queue.begin_journal()
            return tx
        except BaseException:
            path.lock.release()
            raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        path = self._path
        tx = self._tx
        if tx is None:
            path.lock.release()
            return
        self._tx = None
        stored: Waiter | None = None
        try:
            queue = path.index.queue
            if kind is not None:  # the block raised: nothing of it remains
                try:
                    path._undo(tx)
                finally:
                    queue.end_journal()
                return
            moved = queue.end_journal()
            if tx.track:  # work that moved in the queue is written with its new place
                tx.keys.extend((queue, work_id) for work_id in moved)
            try:
                tx.commit()
                if path._stray:
                    tx.logged[:0], path._stray = path._stray, []
                if path.persist is not None:
                    stored = path._write_through(tx)
            finally:
                path._tx = None
                path._now = None
                if tx.changed:
                    path.version += 1
            if path.listeners:
                path._tell_listeners(tx.logged)
        finally:
            path.lock.release()
        if stored is not None:
            path._stored(stored)
