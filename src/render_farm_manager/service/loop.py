"""The scheduling loop: its own thread runs ``run_scheduling_cycle()`` every N seconds, and
promptly after any change made elsewhere (a submission, a cancel, a node going offline).

Requests never run a cycle: they change the farm, the manager tells its change listeners, and
the listener here only wakes this thread. Changes the cycle itself commits do not wake it again.

With a :class:`~render_farm_manager.execution.runner.FarmRunner` (render nodes attached), the
thread also carries the decisions out: it polls the executor's events every
``poll_seconds``, applies them, and starts and stops renders after each cycle.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import AuditLogEntry
from render_farm_manager.execution.runner import FarmRunner

_log = logging.getLogger(__name__)

CycleObserver = Callable[[float, bool], None]
"""Told of each cycle: its duration in seconds and whether it succeeded."""


class SchedulingLoop:
    def __init__(
        self,
        manager: RenderFarmManager,
        every_seconds: float = 5.0,
        *,
        min_gap_seconds: float = 0.05,
        on_cycle: CycleObserver | None = None,
        runner: FarmRunner | None = None,
        poll_seconds: float = 0.1,
    ) -> None:
        if not every_seconds > 0:
            raise ValueError(f"every_seconds must be positive, got {every_seconds}")
        self.manager = manager
        self.every_seconds = every_seconds
        self.min_gap_seconds = min_gap_seconds
        self.on_cycle = on_cycle
        self.runner = runner
        self.poll_seconds = poll_seconds
        self.cycles = 0
        self.failures = 0
        self.last_error: str | None = None
        self.last_seconds = 0.0
        """How long the latest cycle took."""
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the scheduling loop is already started")
        self._thread = threading.Thread(target=self._run, name="render-farm-scheduler", daemon=True)
        self.manager.add_change_listener(self.changed)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self.manager.remove_change_listener(self.changed)
        if self._thread is not None:
            self._thread.join(timeout)
        if self.runner is not None:
            self.runner.executor.close()

    def changed(self, entries: list[AuditLogEntry]) -> None:
        """Change listener (runs under the manager's lock: only sets a flag)."""
        if threading.current_thread() is not self._thread:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.runner is not None and not self._wake.is_set():
                self._wake.wait(self.poll_seconds)
                if not self._wake.is_set() and not self._stop.is_set():
                    self._poll()
                    continue
            self._wake.wait(self.every_seconds)
            if self._stop.is_set():
                return
            # Let a burst of submissions settle into one cycle, and under a steady stream of
            # changes keep the cycles to about a fifth of the time (the rest is the requests').
            self._stop.wait(max(self.min_gap_seconds, min(1.0, 4 * self.last_seconds)))
            self._wake.clear()
            self.run_once()

    def _poll(self) -> None:
        """Between cycles: the executor's news, applied (a cycle runs when it changed
        something, or every ``every_seconds``)."""
        assert self.runner is not None
        try:
            self.runner.step()
        except Exception:  # logged; the next poll retries
            _log.exception("applying the executor's events failed")

    def run_once(self) -> None:
        started = time.perf_counter()
        ok = True
        try:
            if self.runner is not None:
                self.runner.step(force=True)
            else:
                self.manager.run_scheduling_cycle()
            self.cycles += 1
        except Exception as error:  # a failed cycle changed nothing; the next one retries
            ok = False
            self.failures += 1
            self.last_error = f"{type(error).__name__}: {error}"
            _log.exception("scheduling cycle failed")
        self.last_seconds = time.perf_counter() - started
        if self.on_cycle is not None:
            self.on_cycle(self.last_seconds, ok)
