"""The progressive renderer's interface: planning and recording previews."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import datetime

from render_farm_manager.core.clock import Clock
from render_farm_manager.core.models import (
    ProgressiveOutputConfig,
    RenderJob,
    RenderJobStatus,
)


class ProgressiveRendererInterface(ABC):
    """Plans and records progressive previews of running jobs."""

    default_config: ProgressiveOutputConfig = ProgressiveOutputConfig()

    @abstractmethod
    def schedule_progressive_output(
        self, job: RenderJob, config: ProgressiveOutputConfig | None = None
    ) -> list[datetime]:
        """When previews of ``job`` are due."""

    @abstractmethod
    def generate_progressive_output(self, job: RenderJob, quality: int) -> str:
        """Produce a preview of ``job`` at ``quality`` and return where it goes."""

    @abstractmethod
    def estimate_overhead(
        self, job: RenderJob, config: ProgressiveOutputConfig | None = None
    ) -> float:
        """Extra render time spent on previews, in percent."""

    @abstractmethod
    def process_pending_outputs(
        self, jobs: Iterable[RenderJob], config: ProgressiveOutputConfig | None = None
    ) -> dict[str, str]:
        """Produce the previews due now; returns job id → path."""

    @abstractmethod
    def get_latest_progressive_output(self, job_id: str) -> str | None:
        """The latest preview of the job, if any."""

    def use_clock(self, clock: Clock) -> None:  # noqa: B027 - optional hook
        """Take the time from ``clock`` from now on."""

    def job_started(self, job: RenderJob, expected_hours: float) -> None:  # noqa: B027
        """``job`` started on a node expected to render it in ``expected_hours``."""

    def forget(self, job_id: str) -> None:  # noqa: B027 - optional hook
        """``job`` finished: drop what was planned for it."""

    def due_outputs(
        self,
        jobs: Iterable[RenderJob],
        config: ProgressiveOutputConfig | None = None,
        now: datetime | None = None,
    ) -> list[tuple[RenderJob, int]]:
        """Running jobs with a preview due at ``now``, and its quality. Changes nothing."""
        from render_farm_manager.progressive_result.progressive_renderer import (
            quality_for_progress,
        )

        config = config or self.default_config
        moment = now if now is not None else datetime.now()
        due: list[tuple[RenderJob, int]] = []
        for job in jobs:
            if job.status != RenderJobStatus.RUNNING or not job.supports_progressive_output:
                continue
            last = job.last_progressive_output_time
            times = self.schedule_progressive_output(job, config)
            if any(t <= moment and (last is None or t > last) for t in times):
                due.append((job, quality_for_progress(config.quality_levels, job.progress / 100)))
        return due
