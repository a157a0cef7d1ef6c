"""When a job fails on a node: count it, blocklist the node after repeated failures, retry the job
or fail it for good at the error threshold; a corrupt scene fails it at once."""

from __future__ import annotations

from render_farm_manager.core.errors import IllegalTransitionError
from render_farm_manager.core.job_changes import JobChanges
from render_farm_manager.core.models import RenderFailure, RenderJob, RenderJobStatus
from render_farm_manager.core.placement_checks import PlacementChecks, plural


class JobFailures:
    def __init__(self, jobs: JobChanges, placement: PlacementChecks, max_job_errors: int) -> None:
        self.jobs = jobs
        self.placement = placement
        self.path = jobs.path
        self.max_job_errors = max_job_errors

    def count(self, job: RenderJob, node_id: str | None, error: str) -> str:
        """One more failure of ``job``: blocklist a node that failed it repeatedly; fail the job
        at the threshold, else requeue it. Returns ``failed`` or ``requeued``."""
        self.path.write(job, "error_count", job.error_count + 1)
        if node_id is not None:
            self.placement.record_failure(job, node_id)
        if job.error_count >= self.max_job_errors:
            self.jobs.fail(
                job,
                f"failed {plural(job.error_count, 'time')}, reaching the limit of "
                f"{plural(self.max_job_errors, 'error')}; last error: {error}",
            )
            return "failed"
        self.jobs.requeue(job, f"error: {error}", keep_progress=True)
        self.placement.update_exclusions(job, newly_failed=node_id)
        return "requeued"

    def render_error(
        self,
        job: RenderJob,
        error: str,
        corrupt_scene: bool,
        failure: RenderFailure = RenderFailure.NODE,
    ) -> str:
        """A renderer reported an error on a running job. ``failure`` says what kind: ``scene``
        (fail at once), ``licence`` (requeue; not the node's fault, not counted),
        ``out_of_memory`` (the job needs more memory than that node has: requeue with the
        requirement raised; counted, not against the node) or ``node`` (counted against it)."""
        if corrupt_scene:
            failure = RenderFailure.SCENE
        if job.status != RenderJobStatus.RUNNING:
            raise IllegalTransitionError(job.id, RenderJobStatus(job.status).value, "queued")
        self.path.log(
            "log_error",
            f"Render error on job {job.id}: {error}",
            job_id=job.id,
            node_id=job.assigned_node_id,
            client_id=job.client_id,
            corrupt_scene=corrupt_scene,
            failure=failure.value,
        )
        if failure == RenderFailure.LICENCE:
            self.jobs.requeue(job, f"no licence: {error}", keep_progress=True)
            return "requeued"
        if failure == RenderFailure.OUT_OF_MEMORY:
            return self._out_of_memory(job, error)
        if failure == RenderFailure.SCENE:
            self.path.write(job, "error_count", job.error_count + 1)
            self.jobs.fail(job, f"corrupt scene: {error}")
            return "failed"
        return self.count(job, job.assigned_node_id, error)

    def _out_of_memory(self, job: RenderJob, error: str) -> str:
        node = self.path.nodes.get(job.assigned_node_id or "")
        if node is not None and node.capabilities.memory_gb >= job.memory_requirements_gb:
            needed = float(node.capabilities.memory_gb) + 1.0  # more than that node has
            self.path.write(job, "memory_requirements_gb", needed)
            self.path.reindex(job)
            self.path.log(
                "log_event",
                "memory_requirement_raised",
                f"Job {job.id} ran out of memory on {node.id} "
                f"({node.capabilities.memory_gb} GB): it now needs more than that",
                job_id=job.id,
                node_id=node.id,
                client_id=job.client_id,
                new_memory_gb=needed,
            )
        result = self.count(job, None, f"out of memory: {error}")
        if result == "requeued" and self.placement.best_speed(job) is None:
            self.placement.check_feasibility(job, self.path.now())  # says no node fits now
        return result
