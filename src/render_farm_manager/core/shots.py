"""Shots: jobs with frames, split into tasks that the same core places, each on its own node.

A shot is held in the job table like any job, but is never queued itself: its tasks are. Its
status, progress and timestamps follow its tasks (kept by counters, so a task's move costs O(1)):
it is running while any task runs, completed when every task is, failed as soon as a task fails
for good (its other unfinished tasks are then held, paused, so that nothing more is spent on it
until an operator retries the failed tasks). An operation on the shot (cancel, pause, resume,
retry, reprioritise) applies to its unfinished tasks, in the same change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from render_farm_manager.core.change_path import ChangePath
from render_farm_manager.core.errors import (
    InvalidInputError,
    JobFinishedError,
)
from render_farm_manager.core.models import (
    FINISHED_STATUSES,
    JobStep,
    LogLevel,
    RenderJob,
    RenderJobStatus,
    RenderTask,
)
from render_farm_manager.core.shot_operations import ShotOperations
from render_farm_manager.core.work import remaining_hours
from render_farm_manager.jobs.expansion import PlannedTask, plan_tasks
from render_farm_manager.jobs.frame_range import format_frames, frames_label
from render_farm_manager.node_specialization.fit import hardware_misfit

if TYPE_CHECKING:
    from render_farm_manager.core.job_changes import JobChanges

S = RenderJobStatus
UNFINISHED = (S.PENDING, S.QUEUED, S.RUNNING, S.PAUSED)


_NO_DEFAULTS_NEEDED: dict[str, Any] = {
    "deadline": None,
    "estimated_duration_hours": 1.0,
    "client_id": "",
}


def derived_status(counts: dict[S, int], started: bool) -> S:
    """The shot's status from how many of its tasks are in each status."""
    unfinished = sum(counts.get(s, 0) for s in UNFINISHED)
    if counts.get(S.FAILED, 0):
        return S.FAILED
    if unfinished == 0:
        return S.CANCELLED if counts.get(S.CANCELLED, 0) else S.COMPLETED
    if counts.get(S.RUNNING, 0):
        return S.RUNNING
    if counts.get(S.PAUSED, 0) == unfinished:
        return S.PAUSED
    return S.QUEUED if started or counts.get(S.QUEUED, 0) else S.PENDING


class ShotChanges(ShotOperations):
    def __init__(self, path: ChangePath, jobs: JobChanges) -> None:
        self.path = path
        self.jobs = jobs
        self.tasks: dict[str, list[str]] = {}
        """Shot id → its task ids, in the order they were queued (preview frames first)."""
        self.counts: dict[str, dict[S, int]] = {}
        self.frames_done: dict[str, int] = {}
        self.frames_total: dict[str, int] = {}
        self.previews: dict[str, list[dict[str, Any]]] = {}
        """Shot id → the previews written, in the order they became available."""
        self.observed: dict[str, tuple[float, float]] = {}
        """Shot id → (hours its completed tasks took, hours they were estimated at)."""
        path.after_move = self.tasks_moved

    # -- reading -------------------------------------------------------------------------------

    def shot_of(self, task: RenderJob) -> RenderJob | None:
        if not isinstance(task, RenderTask):
            return None
        return self.path.jobs.get(task.job_id)

    def tasks_of(self, shot: RenderJob) -> list[RenderTask]:
        jobs = self.path.jobs
        return [jobs[t] for t in self.tasks.get(shot.id, ()) if t in jobs]  # type: ignore[misc]

    def unfinished_tasks(self, shot: RenderJob) -> list[RenderTask]:
        return [t for t in self.tasks_of(shot) if t.status not in FINISHED_STATUSES]

    # -- submission ----------------------------------------------------------------------------

    def expand(self, shot: RenderJob) -> None:
        """Create the shot's tasks (inside the change that submits the shot)."""
        path = self.path
        now = path.now()
        speed = 1.0
        if shot.target_task_seconds is not None or any(s.target_task_seconds for s in shot.steps):
            speed = self.jobs.placement.best_speed(shot) or 1.0
        hours_left = (shot.deadline - now).total_seconds() / 3600.0
        planned = plan_tasks(shot, speed=speed, hours_left=hours_left)
        clashes = [p.id for p in planned if p.id in path.jobs]
        if clashes:
            raise InvalidInputError(
                f"job {shot.id!r} cannot be split into tasks: id {clashes[0]!r} is already taken",
                field="id",
                object_id=shot.id,
            )
        total_hours = sum(p.hours for p in planned)
        nodes = max(1, len(path.nodes))
        parallel = min(len(planned), shot.machine_limit or len(planned), nodes)
        per_node = total_hours / max(1, parallel)
        prototype = RenderTask.model_construct(
            id=shot.id, name=shot.name, job_id=shot.id, **_NO_DEFAULTS_NEEDED
        )
        tasks = [self._task(prototype, shot, p, now, per_node) for p in planned]
        tx = path.tx
        tx.set_item(self.tasks, shot.id, [t.id for t in tasks])
        tx.set_item(self.frames_done, shot.id, 0)
        tx.set_item(self.frames_total, shot.id, sum(len(t.task_frames) for t in tasks))
        checked: dict[str, RenderTask] = {}
        for task in tasks:
            path.hold(task)
            tx.set_item(path.jobs, task.id, task)
            if task.dependencies:
                path.index.inheritance.link(task)
        # A task nothing holds up is queued at once (no pending -> queued move per task at the
        # next cycle: a 100,000-task queue costs the first cycle nothing extra).
        unmet = path.index.unmet_dependencies
        for task in tasks:
            if not task.dependencies or not unmet(task):
                task.__dict__["status"] = S.QUEUED  # a new object: nothing to undo
        queued = sum(1 for t in tasks if t.status == S.QUEUED)
        tx.set_item(self.counts, shot.id, {S.PENDING: len(tasks) - queued, S.QUEUED: queued})
        for task in tasks:
            first = checked.get(task.step)
            if first is None:
                checked[task.step] = task
                self.jobs.placement.check_feasibility(task, now)
            else:
                path.write(task, "deadline_feasible", first.deadline_feasible)
                path.write(task, "placement_warning", first.placement_warning)
            path.reindex(task)
        path.write(
            shot,
            "deadline_feasible",
            all(t.deadline_feasible for t in checked.values()) and self.feasible(shot, tasks),
        )
        warnings = [t.placement_warning for t in checked.values() if t.placement_warning]
        path.write(shot, "placement_warning", warnings[0] if warnings else None)
        self._settle(shot, [])
        path.log(
            "log_event",
            "job_split_into_tasks",
            f"Job {shot.id} split into {len(tasks)} tasks ({self.frames_total[shot.id]} frames)",
            job_id=shot.id,
            client_id=shot.client_id,
            tasks=len(tasks),
            frames=self.frames_total[shot.id],
            steps=sorted({t.step for t in tasks}),
        )

    def feasible(self, shot: RenderJob, tasks: list[RenderTask] | None = None) -> bool:
        """Could an empty farm finish the shot's remaining tasks by its deadline, running as
        many at once as it has fitting nodes (within the machine limit)? A longer-than-the-rest
        task bounds it too."""
        path = self.path
        tasks = [t for t in (tasks or self.tasks_of(shot)) if t.status not in FINISHED_STATUSES]
        if not tasks:
            return True
        speed = self.jobs.placement.best_speed(tasks[0])
        if speed is None:
            return False
        fitting = sum(
            1 for n in path.nodes.values() if hardware_misfit(tasks[0], n.capabilities) is None
        )
        parallel = max(1, min(len(tasks), shot.machine_limit or len(tasks), fitting))
        hours = [remaining_hours(t) for t in tasks]
        needed = max(sum(hours) / parallel, max(hours)) / speed
        return path.now() + timedelta(hours=needed) <= shot.deadline

    def check_feasibility(self, shot: RenderJob) -> None:
        """Re-examine the shot's deadline after an edit (the same rule as at submission)."""
        feasible = self.feasible(shot)
        if feasible != shot.deadline_feasible:
            self.path.write(shot, "deadline_feasible", feasible)

    def _task(
        self,
        prototype: RenderTask,
        shot: RenderJob,
        planned: PlannedTask,
        now: Any,
        per_node: float,
    ) -> RenderTask:
        step: JobStep = planned.step
        values: dict[str, Any] = {
            name: getattr(shot, name)
            for name in (
                "client_id",
                "priority",
                "deadline",
                "job_type",
                "requires_gpu",
                "memory_requirements_gb",
                "cpu_requirements",
                "scene_complexity",
                "output_path",
                "can_be_preempted",
                "supports_progressive_output",
                "supports_checkpoint",
                "energy_intensive",
                "emergency",
                "preview_scale",
                "machine_limit",
                "gpu_count",
                "gpu_memory_gb",
                "os",
            )
        }
        for name in (
            "job_type",
            "requires_gpu",
            "cpu_requirements",
            "memory_requirements_gb",
            "gpu_count",
            "gpu_memory_gb",
            "limits",
            "os",
            "required_attributes",
        ):
            override = getattr(step, name)
            if override is not None:
                values[name] = override
        if values.get("gpu_count"):
            values["requires_gpu"] = True
        frames = planned.frames
        label = frames_label(frames) if frames else "all"
        values.update(
            id=planned.id,
            name=f"{shot.name} [{step.name} {label}]",
            job_id=shot.id,
            step=step.name,
            task_frames=list(frames),
            estimated_duration_hours=planned.hours,
            dependencies=[*shot.dependencies, *planned.depends_on],
            excluded_node_ids=list(shot.excluded_node_ids),
            required_attributes={
                k: list(v)
                for k, v in (
                    step.required_attributes
                    if step.required_attributes is not None
                    else shot.required_attributes
                ).items()
            },
            limits=dict(values.get("limits", shot.limits)),
            command=list(step.command or shot.command),
            shot_hours_per_node=min(per_node, 100_000.0),
            preview=planned.preview,
            first_look=planned.first_look,
            status=S.PENDING,
            submission_time=now,
        )
        # Values come from the validated shot: copy a prototype rather than validate each
        # task again (every mutable field is given anew, so no task shares a list).
        values.update(steps=[], frames_done=[])
        task: RenderTask = prototype.model_copy(update=values)
        return task

    # -- following the tasks -------------------------------------------------------------------

    def tasks_moved(self, moved: list[RenderJob], old: list[S], new: S) -> None:
        """Called by the change path after tasks changed status: keep their shots in step."""
        tx = self.path.tx
        touched: dict[str, RenderJob] = {}
        deltas: dict[tuple[str, S], int] = {}
        for job, before in zip(moved, old, strict=True):
            if not isinstance(job, RenderTask):
                continue
            shot_id = job.job_id
            if shot_id not in self.counts or shot_id not in self.path.jobs:
                continue
            deltas[shot_id, before] = deltas.get((shot_id, before), 0) - 1
            deltas[shot_id, new] = deltas.get((shot_id, new), 0) + 1
            shot = self.path.jobs[shot_id]
            if new == S.COMPLETED:
                if len(set(job.frames_done)) != len(job.task_frames):
                    self._add_frames(job, shot, job.task_frames)
                self._observe(job)
            touched[shot_id] = shot
        for (shot_id, status), delta in deltas.items():  # one recorded write per count
            if delta:
                counts = self.counts[shot_id]
                tx.set_item(counts, status, counts.get(status, 0) + delta)
        for shot in touched.values():
            self._settle(shot, moved)

    def _observe(self, task: RenderTask) -> None:
        if task.started_at is None or task.completed_at is None:
            return
        took = (task.completed_at - task.started_at).total_seconds() / 3600.0
        share = 1.0 - self.jobs.progress_at_start.get(task.id, 0.0) / 100.0
        hours, estimate = self.observed.get(task.job_id, (0.0, 0.0))
        self.path.tx.set_item(
            self.observed,
            task.job_id,
            (hours + took, estimate + task.estimated_duration_hours * share),
        )

    def running_tasks(self, shot: RenderJob) -> list[RenderTask]:
        """The shot's tasks on a node now (from the index of running work: no task scan)."""
        return [
            t
            for t in self.path.index.running_by_node.values()
            if isinstance(t, RenderTask) and t.job_id == shot.id
        ]

    def _add_frames(self, task: RenderTask, shot: RenderJob, frames: Iterable[int]) -> int:
        done = set(task.frames_done)
        new = [f for f in frames if f not in done]
        if new:
            self.path.write(task, "frames_done", [*task.frames_done, *new])
            count = self.frames_done[shot.id] + len(new)
            self.path.tx.set_item(self.frames_done, shot.id, count)
            total = self.frames_total[shot.id]
            if total:
                self.path.write(shot, "progress", min(100.0, 100.0 * count / total))
        return len(new)

    def _settle(self, shot: RenderJob, moved: list[RenderJob]) -> None:
        path = self.path
        counts = self.counts[shot.id]
        started = shot.started_at is not None or counts.get(S.COMPLETED, 0) > 0
        status = derived_status(counts, started)
        old = S(shot.status)
        if status == old:
            return
        now = path.now()
        if status == S.RUNNING and shot.started_at is None:
            path.write(shot, "started_at", now)
        reason = ""
        if status == S.FAILED:
            failed = next(
                (t for t in moved if isinstance(t, RenderTask) and t.status == S.FAILED), None
            )
            if failed is not None:
                frames = format_frames(failed.task_frames) or "no frames"
                reason = f"task {failed.id} (frames {frames}) failed: {failed.failure_reason}"
                path.write(shot, "failure_reason", reason)
        if status == S.COMPLETED:
            path.write(shot, "completed_at", now)
            path.write(shot, "progress", 100.0)
        path.write(shot, "status", status)
        path.log(
            "log_event",
            "job_status_changed",
            f"Job {shot.id} {old.value} -> {status.value} (from its tasks)"
            + (f": {reason}" if reason else ""),
            job_id=shot.id,
            client_id=shot.client_id,
            old_status=old.value,
            new_status=status.value,
            reason=reason or "tasks",
            log_level=LogLevel.WARNING if status == S.FAILED else LogLevel.INFO,
        )
        path.reindex(shot, old)
        if status == S.FAILED:
            for task in self.unfinished_tasks(shot):
                if task.status != S.PAUSED:
                    self.jobs.pause(task, "held: another task of the job failed")

    # -- frames reported by a worker -----------------------------------------------------------

    def record_preview(self, task: RenderJob, frame: int, path: str) -> None:
        """A low-resolution pass of ``frame`` of a task is on disk at ``path``."""
        if not isinstance(task, RenderTask) or frame not in task.task_frames:
            raise InvalidInputError(
                f"frame {frame} is not a frame of task {task.id!r}",
                field="frame",
                object_id=task.id,
            )
        path_ = self.path
        now = path_.now()
        shot = path_.jobs[task.job_id]
        entry = {"frame": frame, "path": path, "task_id": task.id, "at": now}
        path_.tx.set_item(self.previews, shot.id, [*self.previews.get(shot.id, []), entry])
        path_.write(task, "last_progressive_output_time", now)
        path_.write(shot, "last_progressive_output_time", now)
        path_.log(
            "log_event",
            "preview_ready",
            f"Preview of frame {frame} of job {shot.id} written to {path}",
            job_id=shot.id,
            client_id=shot.client_id,
            node_id=task.assigned_node_id,
            frame=frame,
            path=path,
        )

    def report_frames(self, task: RenderJob, frames: list[int]) -> int:
        """Frames of a task written to disk: never rendered again. Returns how many were new."""
        if not isinstance(task, RenderTask):
            raise InvalidInputError(
                f"job {task.id!r} is not a task of a shot; report its progress instead",
                field="job_id",
                object_id=task.id,
            )
        if task.status in FINISHED_STATUSES:
            raise JobFinishedError(task.id, S(task.status).value, "frames done")
        own = set(task.task_frames)
        stray = [f for f in frames if f not in own]
        if stray:
            raise InvalidInputError(
                f"frame {stray[0]} is not a frame of task {task.id!r} "
                f"(its frames: {format_frames(task.task_frames)})",
                field="frames",
                object_id=task.id,
            )
        shot = self.path.jobs[task.job_id]
        added = self._add_frames(task, shot, list(dict.fromkeys(frames)))
        if len(set(task.frames_done)) == len(task.task_frames):
            self.jobs.complete(task)  # waiting or paused too: nothing is left to render
            return added
        if added:
            self.jobs.set_progress(task, max(task.progress, task.kept_progress()))
        return added
