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
    IllegalTransitionError,
    InvalidInputError,
    JobFinishedError,
)
from render_farm_manager.core.lifecycle import check_transition
from render_farm_manager.core.models import (
    FINISHED_STATUSES,
    WAITING_STATUSES,
    JobPriority,
    JobStep,
    LogLevel,
    RenderJob,
    RenderJobStatus,
    RenderTask,
)
from render_farm_manager.core.work import remaining_hours
from render_farm_manager.jobs.expansion import PlannedTask, plan_tasks
from render_farm_manager.jobs.frame_range import format_frames, frames_label

if TYPE_CHECKING:
    from render_farm_manager.core.job_changes import JobChanges

S = RenderJobStatus
UNFINISHED = (S.PENDING, S.QUEUED, S.RUNNING, S.PAUSED)
TASK_FIELDS = frozenset(
    {"deadline", "can_be_preempted", "supports_checkpoint", "energy_intensive"}
    | {"supports_progressive_output", "output_path", "client_id", "machine_limit"}
)
"""Shot fields every unfinished task carries: an edit of the shot reaches its tasks."""
STEP_FIELDS = frozenset(
    {"job_type", "requires_gpu", "cpu_requirements", "memory_requirements_gb", "gpu_count"}
    | {"gpu_memory_gb", "limits", "os", "required_attributes"}
)
"""Shot fields a step may override: an edit reaches the tasks of steps that do not."""
SHAPE_FIELDS = frozenset(
    {"frames", "steps", "chunk_size", "target_task_seconds", "preview_first", "preview_every"}
    | {"command"}
)
"""Fields that decided how the shot was split: they cannot change once it is."""


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


class ShotChanges:
    def __init__(self, path: ChangePath, jobs: JobChanges) -> None:
        self.path = path
        self.jobs = jobs
        self.tasks: dict[str, list[str]] = {}
        """Shot id → its task ids, in the order they were queued (preview frames first)."""
        self.counts: dict[str, dict[S, int]] = {}
        self.frames_done: dict[str, int] = {}
        self.frames_total: dict[str, int] = {}
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
        nodes = max(1, sum(1 for _ in path.nodes.values()))
        parallel = min(len(planned), shot.machine_limit or len(planned), nodes)
        per_node = total_hours / max(1, parallel)
        prototype = RenderTask.model_construct(
            id=shot.id, name=shot.name, job_id=shot.id, **_NO_DEFAULTS_NEEDED
        )
        tasks = [self._task(prototype, shot, p, now, per_node) for p in planned]
        tx = path.tx
        tx.set_item(self.tasks, shot.id, [t.id for t in tasks])
        tx.set_item(self.counts, shot.id, {S.PENDING: len(tasks)})
        tx.set_item(self.frames_done, shot.id, 0)
        tx.set_item(self.frames_total, shot.id, sum(len(t.task_frames) for t in tasks))
        checked: dict[str, RenderTask] = {}
        for task in tasks:
            path.hold(task)
            tx.set_item(path.jobs, task.id, task)
            if task.dependencies:
                path.index.inheritance.link(task)
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
        from render_farm_manager.node_specialization.fit import hardware_misfit

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
        for job, before in zip(moved, old, strict=True):
            if not isinstance(job, RenderTask):
                continue
            counts = self.counts.get(job.job_id)
            shot = self.path.jobs.get(job.job_id)
            if counts is None or shot is None:
                continue
            tx.set_item(counts, before, counts.get(before, 0) - 1)
            tx.set_item(counts, new, counts.get(new, 0) + 1)
            if new == S.COMPLETED:
                if len(set(job.frames_done)) != len(job.task_frames):
                    self._add_frames(job, shot, job.task_frames)
                self._observe(job)
            touched[shot.id] = shot
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

    # -- operations on a shot ------------------------------------------------------------------

    def _unfinished_or_raise(self, shot: RenderJob, change: str) -> list[RenderTask]:
        if shot.status in (S.COMPLETED, S.CANCELLED):
            raise JobFinishedError(shot.id, S(shot.status).value, change)
        return self.unfinished_tasks(shot)

    def cancel(self, shot: RenderJob) -> None:
        check_transition(shot.id, shot.status, S.CANCELLED)
        for task in self.unfinished_tasks(shot):
            self.jobs.cancel(task)

    def pause(self, shot: RenderJob) -> None:
        check_transition(shot.id, shot.status, S.PAUSED)
        for task in self.unfinished_tasks(shot):
            if task.status != S.PAUSED:
                self.jobs.pause(task)

    def resume(self, shot: RenderJob) -> None:
        if shot.status != S.PAUSED:
            raise IllegalTransitionError(shot.id, S(shot.status).value, "queued")
        for task in self.unfinished_tasks(shot):
            if task.status == S.PAUSED:
                self.jobs.resume(task)

    def retry(self, shot: RenderJob) -> None:
        """Requeue the shot's failed tasks (and release the ones held because of them); frames
        already done are not rendered again."""
        failed = [t for t in self.tasks_of(shot) if t.status == S.FAILED]
        if not failed:
            raise IllegalTransitionError(shot.id, S(shot.status).value, "queued")
        for task in failed:
            self.jobs.retry(task)
        for task in self.unfinished_tasks(shot):
            if task.status == S.PAUSED:
                self.jobs.resume(task)

    def fail(self, shot: RenderJob, reason: str) -> None:
        check_transition(shot.id, shot.status, S.FAILED)
        for task in self.unfinished_tasks(shot):
            self.jobs.fail(task, reason)

    def requeue(self, shot: RenderJob, reason: str) -> None:
        for task in self.unfinished_tasks(shot):
            if task.status == S.RUNNING:
                self.jobs.requeue(task, reason, keep_progress=True)

    def set_priority(self, shot: RenderJob, priority: JobPriority, reason: str) -> None:
        tasks = self._unfinished_or_raise(shot, "priority")
        old = JobPriority(shot.priority)
        if old == priority:
            return
        path = self.path
        path.write(shot, "priority", priority)
        for task in tasks:
            path.write(task, "priority", priority)
            path.reindex(task)
        path.log(
            "log_job_updated",
            shot.id,
            shot.client_id,
            shot.name,
            old.value,
            priority.value,
            **({"reason": reason} if reason else {}),
            tasks=len(tasks),
        )

    def set_dependencies(self, shot: RenderJob, dependencies: list[str]) -> None:
        path = self.path
        old = list(shot.dependencies)
        path.write(shot, "dependencies", dependencies)
        path.index.inheritance.link(shot)
        for task in self.tasks_of(shot):
            if task.status not in (*WAITING_STATUSES, S.PAUSED):
                continue
            own = [d for d in task.dependencies if d not in old]
            path.write(task, "dependencies", [*dependencies, *own])
            path.index.inheritance.link(task)
            path.reindex(task)
        path.log(
            "log_event",
            "job_dependencies_changed",
            f"Job {shot.id} now depends on {dependencies or 'nothing'}",
            job_id=shot.id,
            client_id=shot.client_id,
            old_dependencies=old,
            new_dependencies=list(dependencies),
        )

    def copy_field(self, shot: RenderJob, name: str, value: Any) -> None:
        """An edit of a field every task carries reaches the unfinished tasks (of the steps
        that do not set it themselves); the fields that decided the split are refused."""
        if name in SHAPE_FIELDS:
            raise InvalidInputError(
                f"job {shot.id!r} is already split into tasks: its {name} cannot change; "
                "cancel it and submit it again",
                field=name,
                object_id=shot.id,
            )
        if name == "estimated_duration_hours":
            self._rescale(shot, value)
            return
        if name not in TASK_FIELDS and name not in STEP_FIELDS:
            return
        own = {s.name for s in shot.steps if name in STEP_FIELDS and getattr(s, name) is not None}
        for task in self.unfinished_tasks(shot):
            if task.step in own:
                continue
            copied = value.copy() if isinstance(value, list | dict) else value
            self.path.write(task, name, copied)
            if name == "gpu_count" and value:
                self.path.write(task, "requires_gpu", True)
            self.path.reindex(task)

    def _rescale(self, shot: RenderJob, hours: float) -> None:
        """A new estimate for the shot: its unfinished tasks' estimates scale with it."""
        tasks = self.tasks_of(shot)
        total = sum(t.estimated_duration_hours for t in tasks)
        if total <= 0:
            return
        factor = hours / total
        for task in tasks:
            if task.status not in FINISHED_STATUSES:
                self.path.write(
                    task, "estimated_duration_hours", task.estimated_duration_hours * factor
                )
                self.path.reindex(task)

    def refuse(self, shot: RenderJob, change: str) -> None:
        raise InvalidInputError(
            f"job {shot.id!r} is split into tasks: {change} applies to its tasks "
            f"({', '.join(self.tasks.get(shot.id, [])[:3])}, ...), not to the job",
            field=change,
            object_id=shot.id,
        )
