"""Tie an executor to a manager: what the manager decides is started and stopped on the
executor, and what the executor reports goes back through the manager's methods (the one change
path: checked, applied, audited, learned from).

One :meth:`FarmRunner.step` applies the executor's events, runs a scheduling cycle, then makes
the executor run exactly what the manager has running: tasks placed are started, tasks the
manager took off their node (preempted, cancelled, paused, failed) are killed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

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

    def step(self, force: bool = False) -> int:
        """Apply events, decide (``force``: a cycle whatever changed), carry the decisions
        out. Returns the events applied. The
        first step takes over what the manager had running (after a restart, from its store):
        work the executor still runs stays attached, the rest is requeued, keeping its
        checkpoint and finished frames, so nothing runs twice."""
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
        for task_id, node_id in executor.running().items():
            if wanted.get(task_id) != node_id:
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

    def run(
        self,
        done: Callable[[], bool],
        poll_seconds: float = 0.1,
        timeout_seconds: float | None = None,
        on_step: Callable[[], None] | None = None,
    ) -> bool:
        """Step until ``done()`` (True) or the timeout (False); the executor keeps nothing
        running afterwards."""
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        try:
            while True:
                self.step()
                if on_step is not None:
                    on_step()
                if done():
                    return True
                if deadline is not None and time.monotonic() > deadline:
                    return False
                time.sleep(poll_seconds)
        finally:
            self.executor.close()
