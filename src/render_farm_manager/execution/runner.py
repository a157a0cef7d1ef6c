"""Tie an executor to a manager: what the manager decides is started and stopped on the
executor, and what the executor reports goes back through the manager's methods (the one change
path: checked, applied, audited, learned from).

One :meth:`FarmRunner.step` applies the executor's events, runs a scheduling cycle, then makes
the executor run exactly what the manager has running: tasks placed are started, tasks the
manager took off their node (preempted, cancelled, paused, failed) are killed; the render of a
task that completed with its last frame is left to end by itself (its ``finished`` event brings
the time it took).

:meth:`FarmRunner.run` steps when there is news (an executor event, a change to the manager) or
a cycle falls due, rather than at fixed intervals.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from render_farm_manager.core.errors import RenderFarmError
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import NodeStatus, RenderJobStatus, RenderTask
from render_farm_manager.execution.events import EventKind, TaskEvent
from render_farm_manager.execution.executor import Executor
from render_farm_manager.execution.hardware import node_from_advert

S = RenderJobStatus
_AVAILABLE = (NodeStatus.ONLINE, NodeStatus.STARTING)


class FarmRunner:
    def __init__(
        self, manager: RenderFarmManager, executor: Executor, idle_cycle_seconds: float = 1.0
    ) -> None:
        self.manager = manager
        self.executor = executor
        self.idle_cycle_seconds = idle_cycle_seconds
        """With no event and no change, a cycle still runs this often (deferrals end, previews
        fall due); otherwise a step without news costs nothing."""
        self._last_cycle: tuple[float, int] | None = None
        self.attempts: dict[str, int] = {}
        """Task id → the attempt the executor runs now (older attempts' events are stale)."""
        self.starts: dict[str, int] = {}
        """Task id → how many times it was started (a render per start)."""
        self.render_seconds = 0.0
        """Time the executor's render processes took, over every finished or failed run."""
        self.dispatch_seconds: list[float] = []
        """For each render started: from the start of the cycle that placed it to its first
        process running."""
        self._decided_at: dict[tuple[str, int], float] = {}
        self._attached = False
        self._stepping: int | None = None
        """The thread inside :meth:`step` (its own changes to the manager are no news)."""
        self.wind_down_seconds = 10.0
        """How long the render of a task completed by its frames may go on ending by itself
        (its process exiting) before it is killed."""
        self._winding_down: dict[str, float] = {}
        """Task id → when its last frame, reported by its render, completed it (the render
        then ends by itself)."""

    def step(self, force: bool = False) -> int:
        """Apply events, decide (``force``: a cycle whatever changed), carry the decisions
        out. Returns the events applied. The
        first step takes over what the manager had running (after a restart, from its store):
        work the executor still runs stays attached, the rest is requeued, keeping its
        checkpoint and finished frames, so nothing runs twice."""
        self._stepping = threading.get_ident()
        try:
            return self._step(force)
        finally:
            self._stepping = None

    def _step(self, force: bool) -> int:
        if not self._attached:
            self.manager.requeue_lost_work(self.executor.running())
            self._offline_unconnected()
            self._attached = True
        applied = self.apply(self.executor.events())
        decided = time.monotonic()
        last = self._last_cycle
        version = self.manager.state_version
        quiet = (
            not force
            and last is not None
            and version == last[1]
            and decided - last[0] < (self.idle_cycle_seconds)
        )
        if not quiet:
            self.manager.run_scheduling_cycle()
            self.reconcile(decided)
            self._last_cycle = (decided, self.manager.state_version)
        return applied

    def next_cycle_in(self, now: float | None = None) -> float:
        """Seconds until a step runs a cycle with no news (0 when one would now: the manager
        changed since the last cycle, or there was none yet)."""
        last = self._last_cycle
        if last is None or last[1] != self.manager.state_version:
            return 0.0
        now = time.monotonic() if now is None else now
        return max(0.0, last[0] + self.idle_cycle_seconds - now)

    def apply(self, events: list[TaskEvent]) -> int:
        applied = 0
        for event in events:
            if not event.task_id:  # about a node, not a task
                applied += self._node_event(event)
                continue
            if event.seconds is not None:
                self.render_seconds += event.seconds
            if event.kind == EventKind.STARTED:
                decided = self._decided_at.pop((event.task_id, event.attempt), None)
                if decided is not None:
                    self.dispatch_seconds.append(event.at - decided)
            if self.attempts.get(event.task_id) != event.attempt:
                continue  # from a render that was stopped since
            job = self.manager.jobs.get(event.task_id)
            if job is None or job.status != S.RUNNING or job.assigned_node_id != event.node_id:
                continue
            applied += 1
            try:
                self._apply(event)
            except RenderFarmError as error:  # refused: the state stays as it was, on record
                self.manager.audit_logger.log_event(
                    "executor_event_refused",
                    f"{event.kind.value} of {event.task_id} on {event.node_id} refused: {error}",
                    job_id=event.task_id,
                    node_id=event.node_id,
                )
        return applied

    def _apply(self, event: TaskEvent) -> None:
        manager = self.manager
        if event.kind == EventKind.FRAME_DONE and event.frame is not None:
            manager.report_frames_done(event.task_id, [event.frame])
            if manager.jobs[event.task_id].status == S.COMPLETED:
                self._winding_down[event.task_id] = time.monotonic()
        elif event.kind == EventKind.PROGRESS and event.progress is not None:
            job = manager.jobs[event.task_id]
            if event.progress > job.progress:
                manager.update_job_progress(event.task_id, event.progress)
        elif event.kind == EventKind.FINISHED:
            manager.complete_job(event.task_id)
        elif event.kind == EventKind.FAILED:
            self.attempts.pop(event.task_id, None)
            manager.report_render_error(
                event.task_id,
                event.error or "render failed",
                node_id=event.node_id,
                failure=event.failure or "node",
            )
        elif event.kind == EventKind.PREVIEW and event.frame is not None:
            manager.record_preview(event.task_id, event.frame, str(event.path or ""))
        elif event.kind == EventKind.NODE_LOST:
            self.attempts.pop(event.task_id, None)  # gone with its node: may start again
            manager.handle_node_failure(event.node_id, event.error or "node lost")

    def _offline_unconnected(self) -> None:
        """Nodes whose machines must connect (Dask workers) and are not connected yet go
        offline until they do (after a restart the store still has them online)."""
        connected = self.executor.connected_nodes()
        if connected is None:
            return
        for node in list(self.manager.nodes.values()):
            if node.id not in connected and node.status in _AVAILABLE:
                self.manager.set_node_online(node.id, False, reason="its worker is not connected")

    def _node_event(self, event: TaskEvent) -> int:
        """A node's machine connected (``node_joined``: added, or back online with the hardware
        it advertises now) or left with no task on it (``node_lost``: offline)."""
        manager, node_id = self.manager, event.node_id
        try:
            if event.kind == EventKind.NODE_JOINED:
                advert = node_from_advert({**(event.node or {}), "id": node_id})
                node = manager.nodes.get(node_id)
                if node is None:
                    manager.add_node(advert)
                    return 1
                if node.capabilities != advert.capabilities:
                    node.capabilities = advert.capabilities  # an edit: the one change path
                if node.status in (NodeStatus.OFFLINE, NodeStatus.ERROR):
                    manager.set_node_online(node_id, True, reason="its worker connected")
                return 1
            if event.kind == EventKind.NODE_LOST:
                node = manager.nodes.get(node_id)
                if node is not None and node.status in _AVAILABLE:
                    manager.set_node_online(node_id, False, reason=event.error or "worker left")
                return 1
        except RenderFarmError as error:
            manager.audit_logger.log_event(
                "executor_event_refused",
                f"{event.kind.value} of node {node_id} refused: {error}",
                node_id=node_id,
            )
        return 0

    def reconcile(self, decided: float | None = None) -> None:
        """Make the executor run exactly the work the manager has on nodes (``decided``: when
        the cycle that placed new work began, for the dispatch latency)."""
        manager, executor = self.manager, self.executor
        wanted = {
            job.id: job.assigned_node_id
            for job in manager.jobs.values()
            if job.status == S.RUNNING and not job.is_shot and job.assigned_node_id
        }
        winding_down, self._winding_down = self._winding_down, {}
        for task_id, node_id in executor.running().items():
            if wanted.get(task_id) != node_id:
                since = winding_down.get(task_id)
                if since is not None and time.monotonic() - since < self.wind_down_seconds:
                    self._winding_down[task_id] = since  # left to end by itself
                    continue
                executor.cancel(task_id)
                self.attempts.pop(task_id, None)
        running = executor.running()
        for task_id, node_id in wanted.items():
            if task_id in running or node_id is None:
                continue
            if self.attempts.get(task_id) is not None:
                continue  # finished here; its last events are still to be applied
            task = manager.jobs[task_id]
            shot = manager.jobs.get(task.job_id) if isinstance(task, RenderTask) else None
            attempt = executor.start(task, node_id, shot)
            self.attempts[task_id] = attempt
            self.starts[task_id] = self.starts.get(task_id, 0) + 1
            if decided is not None:
                self._decided_at[task_id, attempt] = decided

    def _let_end(
        self, news: threading.Event | None, poll_seconds: float, deadline: float | None
    ) -> None:
        """Before the executor is closed: the renders of completed tasks that are still ending
        by themselves end (for ``wind_down_seconds`` at most), and their events are applied."""
        until = time.monotonic() + self.wind_down_seconds
        if deadline is not None:
            until = min(until, deadline)
        while any(task_id in self._winding_down for task_id in self.executor.running()):
            now = time.monotonic()
            if now >= until:
                return
            if news is not None:  # its end need not be news: look again soon regardless
                news.wait(min(until - now, 0.05))
                news.clear()
            else:
                time.sleep(min(until - now, poll_seconds))
            self.apply(self.executor.events())
        self.apply(self.executor.events())

    def run(
        self,
        done: Callable[[], bool],
        poll_seconds: float = 0.1,
        timeout_seconds: float | None = None,
        on_step: Callable[[], None] | None = None,
    ) -> bool:
        """Step until ``done()`` (True) or the timeout (False); the executor keeps nothing
        running afterwards.

        Between steps it waits for news. With an executor that says when it has events
        (:meth:`Executor.watch`), after a step that had none it steps as soon as one comes, or
        the manager is changed from elsewhere (another thread, or ``on_step``), and otherwise
        when the next idle cycle falls due (``idle_cycle_seconds``); after a step that had
        events (more tend to follow) it steps again ``poll_seconds`` later, so that a burst of
        events makes a step every ``poll_seconds``, not one per event. With an executor that
        cannot say, it steps every ``poll_seconds``. ``done()`` is asked after each step."""
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        news = threading.Event()

        def changed(_entries: Any) -> None:
            if self._stepping != threading.get_ident():  # not this runner's own step
                news.set()

        watching = self.executor.watch(news.set)
        if watching:
            self.manager.add_change_listener(changed)
        try:
            while True:
                news.clear()  # what comes from here on is news for the next step
                applied = self.step()
                if on_step is not None:
                    on_step()
                if done():
                    self._let_end(news if watching else None, poll_seconds, deadline)
                    return True
                now = time.monotonic()
                if deadline is not None and now > deadline:
                    return False
                if not watching or applied:
                    time.sleep(poll_seconds)
                    continue
                wait = self.next_cycle_in(now)
                if deadline is not None:
                    wait = min(wait, deadline - now)
                if wait > 0:
                    news.wait(wait + 0.001)  # a hair late rather than early: then it is due
        finally:
            if watching:
                self.executor.watch(None)
                self.manager.remove_change_listener(changed)
            self.executor.close()
