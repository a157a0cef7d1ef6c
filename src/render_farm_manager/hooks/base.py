"""The one hook interface, and the dispatcher that feeds hooks without ever holding up the farm.

A hook (:class:`EventHook`) delivers one job event somewhere: a signed webhook, a Kitsu or
ShotGrid task. The :class:`HookDispatcher` attaches to a manager as a change listener; on each
committed change it turns the audit entries into job events (a few dictionary look-ups, under
the manager's lock, no I/O) and appends them to one bounded queue per hook. One background
thread per hook delivers them in order, retrying a failed delivery with exponential back-off,
so a slow or failing tracker delays only its own events. When a hook's queue is full the oldest
event is dropped and counted. Failures are logged and counted; nothing is ever raised into the
manager.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from render_farm_manager.core.errors import InvalidInputError, RenderFarmError
from render_farm_manager.core.models import AuditLogEntry
from render_farm_manager.hooks.events import DeadlineWatch, JobEvent, JobEventTranslator

if TYPE_CHECKING:
    from render_farm_manager.core.manager import RenderFarmManager

_log = logging.getLogger(__name__)


class DeliveryError(RenderFarmError):
    """A hook could not deliver an event. Retried with back-off unless ``retryable`` is False
    (the receiver refused it: retrying would be refused again)."""

    def __init__(self, hook: str, message: str, *, retryable: bool = True) -> None:
        self.hook = hook
        self.retryable = retryable
        super().__init__(f"{hook}: {message}")


class EventHook(ABC):
    """Delivers job events to one destination.

    ``deliver`` runs on the hook's own background thread, one event at a time and in order. It
    returns when the event was accepted, raises :class:`DeliveryError` with ``retryable=False``
    when it was refused for good, and raises anything else (``DeliveryError``, a connection
    error) to have it retried.
    """

    @property
    def name(self) -> str:
        """How logs and statistics name the hook."""
        return type(self).__name__

    @abstractmethod
    def deliver(self, event: JobEvent) -> None: ...

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections (called once by the dispatcher's ``close``)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failed delivery is tried again."""

    attempts: int = 6
    """Tries in all (the first one included)."""
    first_delay: float = 0.5
    """Seconds before the second try; each later wait is ``factor`` times longer."""
    factor: float = 2.0
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise InvalidInputError(
                f"attempts must be at least 1, got {self.attempts}", field="attempts"
            )
        if self.first_delay < 0 or self.max_delay < 0 or self.factor < 1:
            raise InvalidInputError(
                "first_delay and max_delay must be >= 0 and factor >= 1, got "
                f"{self.first_delay}, {self.max_delay}, {self.factor}",
                field="retry",
            )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        return float(min(self.max_delay, self.first_delay * self.factor ** (attempt - 1)))


@dataclass
class HookStats:
    """What happened to one hook's events."""

    delivered: int = 0
    failed: int = 0
    """Given up on: refused, or still failing after the last retry."""
    retries: int = 0
    dropped: int = 0
    """Dropped unsent because the hook's queue was full (the oldest go first)."""
    abandoned: int = 0
    """Still queued or in back-off when ``close`` ran out of time."""
    queued: int = 0


class _Lane:
    """One hook's bounded queue and delivery thread."""

    def __init__(self, hook: EventHook, capacity: int, retry: RetryPolicy) -> None:
        self.hook = hook
        self.capacity = capacity
        self.retry = retry
        self.stats = HookStats()
        self.queue: deque[JobEvent] = deque()
        self.ready = threading.Condition()
        self.closing = False
        self.abort = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"hook-{hook.name}", daemon=True)
        self.thread.start()

    def put(self, events: Sequence[JobEvent]) -> None:
        with self.ready:
            if self.closing:
                self.stats.dropped += len(events)
                return
            for event in events:
                if len(self.queue) >= self.capacity:
                    self.queue.popleft()
                    self.stats.dropped += 1
                self.queue.append(event)
            self.ready.notify()

    def snapshot(self) -> HookStats:
        with self.ready:
            return replace(self.stats, queued=len(self.queue))

    def close(self) -> None:
        with self.ready:
            self.closing = True
            self.ready.notify()

    def _run(self) -> None:
        while True:
            with self.ready:
                while not self.queue and not self.closing:
                    self.ready.wait()
                if self.abort.is_set() or not self.queue:
                    self.stats.abandoned += len(self.queue)
                    self.queue.clear()
                    return
                event = self.queue.popleft()
            self._deliver(event)

    def _deliver(self, event: JobEvent) -> None:
        hook, retry = self.hook, self.retry
        for attempt in range(1, retry.attempts + 1):
            try:
                hook.deliver(event)
            except DeliveryError as error:
                if not error.retryable:
                    self._count("failed")
                    _log.error("%s refused %s event %s: %s", hook.name, event.kind, event.id, error)
                    return
                problem: Exception = error
            except Exception as error:  # any failure of a hook is its own, never the farm's
                problem = error
            else:
                self._count("delivered")
                return
            if attempt == retry.attempts:
                break
            delay = retry.delay(attempt)
            _log.warning(
                "%s could not deliver %s event %s (try %d of %d), retrying in %.2fs: %s",
                hook.name,
                event.kind,
                event.id,
                attempt,
                retry.attempts,
                delay,
                problem,
            )
            self._count("retries")
            if self.abort.wait(delay):
                self._count("abandoned")
                return
        self._count("failed")
        _log.error(
            "%s gave up on %s event %s of job %s after %d tries: %s",
            hook.name,
            event.kind,
            event.id,
            event.job_id,
            retry.attempts,
            problem,
        )

    def _count(self, name: str) -> None:
        with self.ready:
            setattr(self.stats, name, getattr(self.stats, name) + 1)


class HookDispatcher:
    """Sends a manager's job events to hooks in the background.

    >>> dispatcher = HookDispatcher([WebhookHook(url, secret)])
    >>> dispatcher.attach(manager)        # from now on every change is reported
    >>> ...
    >>> dispatcher.close(timeout=10)      # deliver what is queued, then stop

    ``capacity`` bounds each hook's queue (the oldest events are dropped beyond it);
    ``deadline_check_seconds`` is how often jobs are checked for deadline risk (None: only when
    :meth:`check_deadlines` is called).
    """

    def __init__(
        self,
        hooks: Iterable[EventHook],
        *,
        capacity: int = 10_000,
        retry: RetryPolicy | None = None,
        deadline_check_seconds: float | None = 60.0,
    ) -> None:
        hooks = list(hooks)
        for hook in hooks:
            if not isinstance(hook, EventHook):
                raise InvalidInputError(
                    f"hooks must be EventHook instances, got {type(hook).__name__}", field="hooks"
                )
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise InvalidInputError(
                f"capacity must be a whole number of events >= 1, got {capacity!r}",
                field="capacity",
            )
        if deadline_check_seconds is not None and not deadline_check_seconds > 0:
            raise InvalidInputError(
                f"deadline_check_seconds must be > 0 or None, got {deadline_check_seconds!r}",
                field="deadline_check_seconds",
            )
        self.deadline_check_seconds = deadline_check_seconds
        self._lanes = [_Lane(hook, capacity, retry or RetryPolicy()) for hook in hooks]
        self._manager: RenderFarmManager | None = None
        self._translator: JobEventTranslator | None = None
        self._watch = DeadlineWatch()
        self._watch_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._closed = False

    # -- the manager ---------------------------------------------------------------------------

    def attach(self, manager: RenderFarmManager) -> None:
        """Report ``manager``'s job events from its next change on."""
        if self._closed:
            raise RenderFarmError("this hook dispatcher is closed; create a new one")
        if self._manager is not None:
            raise RenderFarmError(
                "this hook dispatcher is already attached to a manager; detach() it first"
            )
        self._translator = JobEventTranslator(manager.jobs)
        self._manager = manager
        manager.add_change_listener(self._changed)
        if self.deadline_check_seconds is not None:
            self._stop.clear()
            self._watcher = threading.Thread(
                target=self._watch_deadlines, name="hook-deadline-watch", daemon=True
            )
            self._watcher.start()

    def detach(self) -> None:
        """Stop listening to the manager (events already queued are still delivered)."""
        manager, self._manager = self._manager, None
        self._stop.set()
        if manager is not None:
            manager.remove_change_listener(self._changed)
        watcher, self._watcher = self._watcher, None
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join()

    def _changed(self, entries: list[AuditLogEntry]) -> None:
        """The change listener: runs under the manager's lock, so it only translates and
        enqueues."""
        translator = self._translator
        if translator is None or not entries:
            return
        events = translator.translate(entries)
        if events:
            self.publish(events)

    def check_deadlines(self) -> list[JobEvent]:
        """Look for jobs that will miss their deadline now; queue (and return) an ``at_risk``
        event for each one newly at risk."""
        manager = self._manager
        if manager is None:
            return []
        with self._watch_lock:
            events = self._watch.check(manager)
        self.publish(events)
        return events

    def _watch_deadlines(self) -> None:
        interval = self.deadline_check_seconds or 60.0
        while not self._stop.wait(interval):
            try:
                self.check_deadlines()
            except Exception:
                _log.exception("deadline check for hooks failed")

    # -- events --------------------------------------------------------------------------------

    def publish(self, events: Sequence[JobEvent]) -> None:
        """Queue ``events`` for every hook (never blocks on delivery)."""
        if not events:
            return
        for lane in self._lanes:
            lane.put(events)

    def stats(self) -> dict[str, HookStats]:
        """What happened to each hook's events so far, by hook name."""
        return {lane.hook.name: lane.snapshot() for lane in self._lanes}

    def close(self, timeout: float = 10.0) -> bool:
        """Detach, deliver what is queued for up to ``timeout`` seconds, then stop. True when
        everything queued was dealt with (delivered or given up on) in time."""
        if self._closed:
            return True
        self._closed = True
        self.detach()
        for lane in self._lanes:
            lane.close()
        end = time.monotonic() + max(0.0, timeout)
        for lane in self._lanes:
            lane.thread.join(max(0.0, end - time.monotonic()))
        drained = not any(lane.thread.is_alive() for lane in self._lanes)
        for lane in self._lanes:
            lane.abort.set()
        for lane in self._lanes:
            if lane.thread.is_alive():
                lane.thread.join(1.0)  # a delivery in flight finishes its request, then stops
            try:
                lane.hook.close()
            except Exception:
                _log.exception("closing hook %s failed", lane.hook.name)
        if not drained:
            _log.warning("hook dispatcher closed with undelivered events: %s", self.stats())
        return drained

    def __enter__(self) -> HookDispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
