"""Progressive previews: an early first preview, quality rising with progress, overhead capped.

The renderer plans *when* previews are due and *where* they go (under the job's output path);
producing pixels is the executor's business, so nothing here touches the file system.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from render_farm_manager.core.clock import Clock, as_clock
from render_farm_manager.core.errors import ProgressiveOutputNotSupportedError
from render_farm_manager.core.models import ProgressiveOutputConfig, RenderJob, RenderJobStatus
from render_farm_manager.utils.logging import AuditLogger, PerformanceMonitor

FIRST_PREVIEW_SHARE = 0.02
"""The first preview is due after 2% of the job's expected duration (at most one interval)."""
PREVIEW_COST_SHARE_AT_FULL_QUALITY = 0.01
"""A preview at quality 100 costs 1% of the job's render time; lower quality costs
proportionally."""
_THINNING_STEP = 1.25


@dataclass(frozen=True)
class ProgressiveOutput:
    job_id: str
    quality: int
    path: str
    produced_at: datetime


def quality_for_progress(levels: list[int], fraction_done: float) -> int:
    """The quality level for a preview taken when ``fraction_done`` of the job is rendered."""
    index = min(len(levels) - 1, max(0, int(fraction_done * len(levels))))
    return levels[index]


class ProgressiveRenderer:
    def __init__(
        self,
        audit_logger: AuditLogger | None = None,
        performance_monitor: PerformanceMonitor | None = None,
        default_config: ProgressiveOutputConfig | None = None,
        clock: Clock | Callable[[], datetime] | None = None,
    ) -> None:
        self.audit_logger = audit_logger
        self.performance_monitor = performance_monitor
        self.default_config = (
            default_config if default_config is not None else ProgressiveOutputConfig()
        )
        self.clock = as_clock(clock)
        self._lock = threading.Lock()
        self._outputs: dict[str, list[ProgressiveOutput]] = {}
        self._schedules: dict[str, tuple[datetime, int, list[datetime]]] = {}
        self._expected_hours: dict[str, float] = {}

    def use_clock(self, clock: Clock) -> None:
        self.clock = clock

    # -- planning ------------------------------------------------------------------------------

    def _plan(
        self, job: RenderJob, config: ProgressiveOutputConfig
    ) -> tuple[list[float], list[int]]:
        """Preview offsets (hours after start) and their qualities, thinned to the overhead cap."""
        duration = self._expected_hours.get(job.id, job.estimated_duration_hours)
        interval = config.interval_minutes / 60.0
        first = min(interval, FIRST_PREVIEW_SHARE * duration)
        while True:
            offsets: list[float] = []
            at = first
            while at < duration:
                offsets.append(at)
                at += interval
            qualities = [quality_for_progress(config.quality_levels, o / duration) for o in offsets]
            if self._overhead(qualities) <= config.max_overhead_percentage or not offsets:
                return offsets, qualities
            if len(offsets) == 1:
                return [], []
            interval *= _THINNING_STEP

    @staticmethod
    def _overhead(qualities: list[int]) -> float:
        return sum(100.0 * PREVIEW_COST_SHARE_AT_FULL_QUALITY * q / 100.0 for q in qualities)

    def job_started(self, job: RenderJob, expected_hours: float) -> None:
        """The job started on hardware expected to render it in ``expected_hours`` of wall time
        (from its current progress): previews are planned on that, not on the raw estimate."""
        if expected_hours > 0:
            done = job.progress / 100.0
            self._expected_hours[job.id] = expected_hours / max(1e-6, 1.0 - done)
        self._schedules.pop(job.id, None)

    def _anchor(self, job: RenderJob) -> datetime:
        return job.started_at or job.submission_time or self.clock.now()

    def schedule_progressive_output(
        self, job: RenderJob, config: ProgressiveOutputConfig | None = None
    ) -> list[datetime]:
        """When previews of ``job`` are due, counted from its start (or submission)."""
        config = config or self.default_config
        if not job.supports_progressive_output or not config.enabled:
            return []
        offsets, _ = self._plan(job, config)
        anchor = self._anchor(job)
        return [anchor + timedelta(hours=o) for o in offsets]

    def estimate_overhead(
        self, job: RenderJob, config: ProgressiveOutputConfig | None = None
    ) -> float:
        """Extra render time spent on previews, in percent of the job, never above the cap."""
        config = config or self.default_config
        if not job.supports_progressive_output or not config.enabled:
            return 0.0
        _, qualities = self._plan(job, config)
        return min(self._overhead(qualities), config.max_overhead_percentage)

    def first_preview_delay_hours(
        self, job: RenderJob, config: ProgressiveOutputConfig | None = None
    ) -> float | None:
        config = config or self.default_config
        if not job.supports_progressive_output or not config.enabled:
            return None
        offsets, _ = self._plan(job, config)
        return offsets[0] if offsets else None

    # -- producing -----------------------------------------------------------------------------

    def preview_path(self, job: RenderJob, quality: int, sequence: int) -> str:
        base = (
            job.output_path.rstrip("/") if job.output_path else f"renders/{job.client_id}/{job.id}"
        )
        return f"{base}/progressive/{job.id}_q{quality:03d}_{sequence:03d}.exr"

    def generate_progressive_output(self, job: RenderJob, quality: int) -> str:
        """Record a preview of ``job`` at ``quality`` (1-100) and return where it goes."""
        if not job.supports_progressive_output:
            raise ProgressiveOutputNotSupportedError(job.id)
        if not 1 <= quality <= 100:
            raise ValueError(f"quality must be within 1-100, got {quality}")
        now = self.clock.now()
        with self._lock:
            outputs = self._outputs.setdefault(job.id, [])
            path = self.preview_path(job, quality, len(outputs) + 1)
            outputs.append(ProgressiveOutput(job.id, quality, path, now))
        job.last_progressive_output_time = now
        if self.audit_logger is not None:
            self.audit_logger.log_event(
                "progressive_output_generated",
                f"Preview of job {job.id} at quality {quality}% written to {path}",
                job_id=job.id,
                client_id=job.client_id,
                quality=quality,
                path=path,
                progress=job.progress,
            )
        return path

    def _schedule_for(self, job: RenderJob, config: ProgressiveOutputConfig) -> list[datetime]:
        anchor = self._anchor(job)
        key = (anchor, id(config))
        cached = self._schedules.get(job.id)
        if cached is None or (cached[0], cached[1]) != key:
            cached = (anchor, id(config), self.schedule_progressive_output(job, config))
            self._schedules[job.id] = cached
        return cached[2]

    def due_preview(
        self, job: RenderJob, now: datetime, config: ProgressiveOutputConfig | None = None
    ) -> datetime | None:
        """The latest scheduled preview time that has passed and was not yet produced."""
        config = config or self.default_config
        if not job.supports_progressive_output or not config.enabled:
            return None
        last = job.last_progressive_output_time
        due = None
        for moment in self._schedule_for(job, config):
            if moment > now:
                break
            if last is None or moment > last:
                due = moment
        return due

    def process_pending_outputs(
        self, jobs: Iterable[RenderJob], config: ProgressiveOutputConfig | None = None
    ) -> dict[str, str]:
        """Produce every preview that is due for running jobs; returns job id → preview path."""
        config = config or self.default_config
        now = self.clock.now()
        produced: dict[str, str] = {}
        for job in jobs:
            if job.status != RenderJobStatus.RUNNING:
                continue
            if self.due_preview(job, now, config) is None:
                continue
            quality = quality_for_progress(config.quality_levels, job.progress / 100.0)
            produced[job.id] = self.generate_progressive_output(job, quality)
        return produced

    def get_latest_progressive_output(self, job_id: str) -> str | None:
        outputs = self._outputs.get(job_id)
        return outputs[-1].path if outputs else None

    def get_outputs(self, job_id: str) -> list[ProgressiveOutput]:
        return list(self._outputs.get(job_id, ()))

    def forget(self, job_id: str) -> None:
        """Drop the cached schedule of a finished job (its outputs stay listed)."""
        self._schedules.pop(job_id, None)
        self._expected_hours.pop(job_id, None)
