"""When a job fails on a node: count it, blocklist the node after repeated failures, retry the job
or fail it for good at the error threshold; a corrupt scene fails it at once."""

from __future__ import annotations

from render_farm_manager.core.errors import IllegalTransitionError
from render_farm_manager.core.job_changes import JobChanges
from render_farm_manager.core.models import RenderJob, RenderJobStatus
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

    def render_error(self, job: RenderJob, error: str, corrupt_scene: bool) -> str:
        """A renderer reported an error on a running job."""
        if job.status != RenderJobStatus.RUNNING:
            raise IllegalTransitionError(job.id, RenderJobStatus(job.status).value, "queued")
        self.path.log(
            "log_error",
            f"Render error on job {job.id}: {error}",
            job_id=job.id,
            node_id=job.assigned_node_id,
            client_id=job.client_id,
            corrupt_scene=corrupt_scene,
        )
        if corrupt_scene:
            self.path.write(job, "error_count", job.error_count + 1)
            self.jobs.fail(job, f"corrupt scene: {error}")
            return "failed"
        return self.count(job, job.assigned_node_id, error)
