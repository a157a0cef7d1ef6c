"""What an operator does to a shot (cancel, pause, resume, retry, reprioritise, edit): each
applies to the shot's unfinished tasks, in the same change. Mixed into
:class:`~render_farm_manager.core.shots.ShotChanges`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
    RenderJob,
    RenderJobStatus,
    RenderTask,
)

if TYPE_CHECKING:
    from render_farm_manager.core.change_path import ChangePath
    from render_farm_manager.core.job_changes import JobChanges

S = RenderJobStatus
TASK_FIELDS = frozenset(
    {"deadline", "can_be_preempted", "supports_checkpoint", "energy_intensive"}
    | {"supports_progressive_output", "output_path", "client_id", "machine_limit"}
    | {"preview_scale"}
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


class ShotOperations:
    path: ChangePath
    jobs: JobChanges
    tasks: dict[str, list[str]]

    def tasks_of(self, shot: RenderJob) -> list[RenderTask]:
        raise NotImplementedError

    def unfinished_tasks(self, shot: RenderJob) -> list[RenderTask]:
        raise NotImplementedError

    def feasible(self, shot: RenderJob, tasks: list[RenderTask] | None = None) -> bool:
        raise NotImplementedError

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
