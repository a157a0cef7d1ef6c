"""Progressive previews: an early first preview, quality rising with progress, overhead capped.

The renderer plans *when* previews are due and *where* they go (under the job's output path);
producing pixels is the executor's business, so nothing here touches the file system.

Deciding is separate from doing: :meth:`ProgressiveRenderer.due_outputs` says which running jobs
have a preview due (and at which quality) without changing anything, and
:meth:`ProgressiveRenderer.generate_progressive_output` records one preview. Every public method
validates its arguments first and raises :class:`InvalidInputError` before changing anything.
"""

from __future__ import annotations

import functools
import itertools
import math
import sys
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from pydantic import ValidationError

from render_farm_manager.core.clock import Clock, as_clock, to_naive_local
from render_farm_manager.core.errors import InvalidInputError, ProgressiveOutputNotSupportedError
from render_farm_manager.core.interfaces import (
    AuditLoggerInterface,
    PerformanceMonitorInterface,
    ProgressiveRendererInterface,
)
from render_farm_manager.core.models import ProgressiveOutputConfig, RenderJob, RenderJobStatus

FIRST_PREVIEW_SHARE = 0.02
"""The first preview is due after 2% of the job's expected duration (at most one interval)."""
PREVIEW_COST_SHARE_AT_FULL_QUALITY = 0.01
"""A preview at quality 100 costs 1% of the job's render time; lower quality costs
proportionally."""
_THINNING_STEP = 1.25
"""When the previews at one interval cost more than the cap, the interval grows by this factor."""
_LOG_THINNING_STEP = math.log(_THINNING_STEP)
_PERCENT_PER_QUALITY_POINT = Fraction(repr(PREVIEW_COST_SHARE_AT_FULL_QUALITY))
"""Overhead (percent of the job) of one quality point of one preview, as an exact fraction."""
_SCHEDULE_HORIZON_MARGIN_HOURS = 1.0


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


# -- validation --------------------------------------------------------------------------------


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _config_problem(config: ProgressiveOutputConfig) -> str | None:
    """What is wrong with a config object (changed in place or built without validation)."""
    if not isinstance(config.enabled, bool):
        return f"enabled must be True or False, got {config.enabled!r}"
    interval = config.interval_minutes
    if not _is_real(interval) or not math.isfinite(interval) or interval <= 0:
        return f"interval_minutes must be a finite number above 0, got {interval!r}"
    cap = config.max_overhead_percentage
    if not _is_real(cap) or not math.isfinite(cap) or not 0 <= cap <= 100:
        return f"max_overhead_percentage must be a number within 0-100, got {cap!r}"
    levels = config.quality_levels
    if not isinstance(levels, list) or not levels:
        return f"quality_levels must be a non-empty list of integers, got {levels!r}"
    for level in levels:
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 100:
            return f"quality level {level!r} is not an integer within 1-100"
    if any(later < earlier for earlier, later in itertools.pairwise(levels)):
        return f"quality_levels must be in ascending order, got {levels!r}"
    return None


def check_config(config: object, field: str = "config") -> ProgressiveOutputConfig:
    """Return ``config`` if it is a valid :class:`ProgressiveOutputConfig`.

    Raises :class:`InvalidInputError` naming ``field`` for anything else, including a config
    whose fields were changed in place to invalid values (``quality_levels.append(0)``) or that
    was built without validation (``model_construct``).
    """
    if not isinstance(config, ProgressiveOutputConfig):
        raise InvalidInputError(
            f"{field} must be a ProgressiveOutputConfig, got {type(config).__name__}",
            field=field,
        )
    problem = _config_problem(config)
    if problem is None:  # every other constraint of the model (upper bounds, list length, ...)
        problem = _model_problem(*_plan_key(config), config.enabled)
    if problem is not None:
        raise InvalidInputError(
            f"{field} is not a valid ProgressiveOutputConfig: {problem}", field=field
        )
    return config


def _plan_key(config: ProgressiveOutputConfig) -> tuple[float, tuple[int, ...], float]:
    """The fields of a config a preview plan depends on, as a hashable key."""
    return (config.interval_minutes, tuple(config.quality_levels), config.max_overhead_percentage)


@functools.lru_cache(maxsize=64)
def _model_problem(
    interval_minutes: float, quality_levels: tuple[int, ...], max_overhead: float, enabled: bool
) -> str | None:
    """What the model's own validation finds wrong with these field values (None if nothing).
    Its verdict depends on the values alone, so each set of values is validated once."""
    try:
        ProgressiveOutputConfig(
            enabled=enabled,
            interval_minutes=interval_minutes,
            quality_levels=list(quality_levels),
            max_overhead_percentage=max_overhead,
        )
    except ValidationError as error:
        return "; ".join(
            f"{'.'.join(str(part) for part in detail['loc'])}: {detail['msg']}"
            for detail in error.errors()
        )
    return None


def _check_job(job: object, field: str = "job") -> RenderJob:
    if not isinstance(job, RenderJob):
        raise InvalidInputError(
            f"{field} must be a RenderJob, got {type(job).__name__}", field=field
        )
    return job


def _check_now(now: object) -> datetime:
    if not isinstance(now, datetime):
        raise InvalidInputError(f"now must be a datetime, got {type(now).__name__}", field="now")
    return to_naive_local(now)


# -- planning ----------------------------------------------------------------------------------


def _thinned_interval(minutes: float, steps: int) -> float:
    """The configured interval (in hours) after ``steps`` thinning steps."""
    interval = minutes / 60.0
    if interval >= sys.float_info.min:
        for _ in range(steps):
            interval *= _THINNING_STEP
        return interval
    # The interval in hours is subnormal (or rounds to zero): scale it in log space.
    exponent = math.log(minutes) - math.log(60.0) + steps * _LOG_THINNING_STEP
    try:
        return math.exp(exponent)
    except OverflowError:
        return math.inf


def _preview_count(first: float, step: float, duration: float) -> int:
    """How many offsets ``first + k * step`` (k = 0, 1, ...) lie before ``duration``.

    ``step`` is finite and positive, ``0 <= first < duration``. Counted on the same float
    expression the plan uses, so the count is exact; beyond 2**53 the count is only a bound.
    """
    estimate = (duration - first) / step
    if not estimate < 2.0**53:
        return 2**53
    count = max(1, math.ceil(estimate))
    while count > 1 and first + (count - 1) * step >= duration:
        count -= 1
    while first + count * step < duration:
        count += 1
    return count


def _quality_points(
    first: float, step: float, count: int, duration: float, levels: list[int], budget: Fraction
) -> int:
    """Sum of the qualities of the ``count`` previews at ``first + k * step``.

    The quality index never decreases with ``k``, so each quality band is found by bisection:
    O(bands * log count). Stops early once the sum exceeds ``budget``.
    """
    size = len(levels)

    def band(k: int) -> int:
        return min(size - 1, max(0, int((first + k * step) / duration * size)))

    points = 0
    k = 0
    while k < count:
        current = band(k)
        end = (
            count if current == size - 1 else bisect_left(range(count), current + 1, lo=k, key=band)
        )
        points += levels[current] * (end - k)
        if points > budget:
            return points
        k = end
    return points


def _least_per_band(duration: float, size: int, step: float) -> int:
    """A lower bound on the previews in each of ``size`` equal bands of progress lying wholly
    after the first preview: a band spans ``duration / size`` hours, the grid has spacing
    ``step``; the margin covers points moved across band edges by rounding."""
    per_band = duration / size / step
    return 2**53 if not per_band < 2.0**53 else math.floor(per_band) - 3


def plan_previews(
    duration_hours: float, config: ProgressiveOutputConfig
) -> tuple[list[float], list[int]]:
    """Preview offsets (hours after start) and their qualities for a job of ``duration_hours``.

    The first preview comes after ``min(interval, 2% of the duration)``, the next ones every
    interval; a preview at quality ``q`` costs ``q``% of 1% of the job. When the previews cost
    more than ``max_overhead_percentage``, the interval grows by the thinning step (x1.25) until
    they fit; when even one preview does not fit, the plan is empty.

    Costs O(previews in the plan + levels * log(previews)) for any valid config: the thinning
    steps that leave more previews than the cap allows at the lowest quality are skipped in one
    go, the next few are ruled out by an O(1) bound on their quality points where it suffices,
    and only the remaining candidates are summed band by band (bisection, never one preview at
    a time); the plan itself is built once.
    """
    config = check_config(config)
    if not (_is_real(duration_hours) and math.isfinite(duration_hours) and duration_hours > 0):
        return [], []
    duration = float(duration_hours)
    levels = config.quality_levels
    budget = Fraction(config.max_overhead_percentage) / _PERCENT_PER_QUALITY_POINT
    most = math.floor(budget / min(levels))  # previews the cap allows, all at the lowest quality
    if most == 0:
        return [], []
    # Bands of progress wholly after the first preview hold at least `_least_per_band` each.
    tail = sum(levels[min(len(levels), math.floor(FIRST_PREVIEW_SHARE * len(levels)) + 1) :])
    minutes = float(config.interval_minutes)
    first = min(minutes / 60.0, FIRST_PREVIEW_SHARE * duration)
    span = duration - first
    # The smallest thinning step whose interval leaves at most `most` previews, less a margin.
    exact = (
        math.log(span) - math.log(most) - (math.log(minutes) - math.log(60.0))
    ) / _LOG_THINNING_STEP
    steps = max(0, math.floor(exact) - 2)
    while steps > 0 and (
        _preview_count(first, min(_thinned_interval(minutes, steps - 1), duration), duration)
        <= most
    ):
        steps -= 1  # never skip a step that might fit (only float trouble could get here)
    interval = _thinned_interval(minutes, steps)
    while True:
        step = min(interval, duration)  # a step of the whole duration already leaves one preview
        count = _preview_count(first, step, duration)
        if (
            count <= most
            and tail * _least_per_band(duration, len(levels), step) <= budget
            and _quality_points(first, step, count, duration, levels, budget) <= budget
        ):
            offsets = [first + k * step for k in range(count)]
            return offsets, [quality_for_progress(levels, o / duration) for o in offsets]
        if count == 1:
            return [], []
        interval *= _THINNING_STEP


def _overhead_percent(qualities: list[int]) -> float:
    return sum(100.0 * PREVIEW_COST_SHARE_AT_FULL_QUALITY * q / 100.0 for q in qualities)


class ProgressiveRenderer(ProgressiveRendererInterface):
    def __init__(
        self,
        audit_logger: AuditLoggerInterface | None = None,
        performance_monitor: PerformanceMonitorInterface | None = None,
        default_config: ProgressiveOutputConfig | None = None,
        clock: Clock | Callable[[], datetime] | None = None,
    ) -> None:
        self.audit_logger = audit_logger
        self.performance_monitor = performance_monitor
        self._default_config = (
            check_config(default_config, "default_config")
            if default_config is not None
            else ProgressiveOutputConfig()
        )
        self.clock = as_clock(clock)
        self._lock = threading.Lock()
        self._outputs: dict[str, list[ProgressiveOutput]] = {}
        self._schedules: dict[str, tuple[tuple[object, ...], list[datetime]]] = {}
        self._expected_hours: dict[str, float] = {}

    @property
    def default_config(self) -> ProgressiveOutputConfig:
        """The config used when a method is given none; assigning validates it."""
        return self._default_config

    @default_config.setter
    def default_config(self, config: ProgressiveOutputConfig) -> None:
        self._default_config = check_config(config, "default_config")

    def use_clock(self, clock: Clock) -> None:
        self.clock = clock

    def _config(self, config: object) -> ProgressiveOutputConfig:
        if config is None:
            return check_config(self._default_config, "default_config")
        return check_config(config)

    # -- planning ------------------------------------------------------------------------------

    def _duration(self, job: RenderJob) -> float:
        return self._expected_hours.get(job.id, job.estimated_duration_hours)

    def _plan(
        self, job: RenderJob, config: ProgressiveOutputConfig
    ) -> tuple[list[float], list[int]]:
        """Preview offsets (hours after start) and their qualities, thinned to the overhead cap."""
        if not job.supports_progressive_output or not config.enabled:
            return [], []
        return plan_previews(self._duration(job), config)

    def job_started(self, job: RenderJob, expected_hours: float) -> None:
        """The job started on hardware expected to render it in ``expected_hours`` of wall time
        (from its current progress): previews are planned on that, not on the raw estimate.
        A value that is not a positive finite number keeps the job's own estimate."""
        job = _check_job(job)
        if not _is_real(expected_hours):
            raise InvalidInputError(
                f"expected_hours of job {job.id!r} must be a number, got {expected_hours!r}",
                field="expected_hours",
                object_id=job.id,
            )
        if math.isfinite(expected_hours) and expected_hours > 0:
            done = job.progress / 100.0
            self._expected_hours[job.id] = expected_hours / max(1e-6, 1.0 - done)
        self._schedules.pop(job.id, None)

    def _anchor(self, job: RenderJob) -> datetime:
        return job.started_at or job.submission_time or self.clock.now()

    @staticmethod
    def _moments(anchor: datetime, offsets: list[float]) -> list[datetime]:
        """``anchor`` plus each offset, dropping the ones past the last representable time."""
        room = (datetime.max - anchor).total_seconds() / 3600.0 - _SCHEDULE_HORIZON_MARGIN_HOURS
        return [anchor + timedelta(hours=o) for o in offsets[: bisect_left(offsets, room)]]

    def schedule_progressive_output(
        self, job: RenderJob, config: ProgressiveOutputConfig | None = None
    ) -> list[datetime]:
        """When previews of ``job`` are due, counted from its start (or submission)."""
        config = self._config(config)
        job = _check_job(job)
        offsets, _ = self._plan(job, config)
        return self._moments(self._anchor(job), offsets)

    def planned_previews(
        self, job: RenderJob, config: ProgressiveOutputConfig | None = None
    ) -> list[tuple[datetime, int]]:
        """The planned previews of ``job``: when each is due and the quality planned for it
        (from the progress expected at that time)."""
        config = self._config(config)
        job = _check_job(job)
        offsets, qualities = self._plan(job, config)
        return list(zip(self._moments(self._anchor(job), offsets), qualities, strict=False))

    def estimate_overhead(
        self, job: RenderJob, config: ProgressiveOutputConfig | None = None
    ) -> float:
        """Extra render time spent on previews, in percent of the job, never above the cap."""
        config = self._config(config)
        job = _check_job(job)
        _, qualities = self._plan(job, config)
        return min(_overhead_percent(qualities), config.max_overhead_percentage)

    def first_preview_delay_hours(
        self, job: RenderJob, config: ProgressiveOutputConfig | None = None
    ) -> float | None:
        config = self._config(config)
        job = _check_job(job)
        offsets, _ = self._plan(job, config)
        return offsets[0] if offsets else None

    # -- deciding ------------------------------------------------------------------------------

    def _schedule_for(
        self,
        job: RenderJob,
        config: ProgressiveOutputConfig,
        plan_key: tuple[float, tuple[int, ...], float] | None = None,
    ) -> list[datetime]:
        """The job's schedule, cached until its start, expected duration or the config change
        (``plan_key`` is the config's :func:`_plan_key`, when the caller has it already)."""
        anchor = self._anchor(job)
        key: tuple[object, ...] = (
            anchor,
            self._duration(job),
            _plan_key(config) if plan_key is None else plan_key,
        )
        cached = self._schedules.get(job.id)
        if cached is None or cached[0] != key:
            offsets, _ = self._plan(job, config)
            cached = (key, self._moments(anchor, offsets))
            self._schedules[job.id] = cached
        return cached[1]

    def _due(
        self,
        job: RenderJob,
        now: datetime,
        config: ProgressiveOutputConfig,
        plan_key: tuple[float, tuple[int, ...], float] | None = None,
    ) -> datetime | None:
        if not job.supports_progressive_output or not config.enabled:
            return None
        schedule = self._schedule_for(job, config, plan_key)
        passed = bisect_right(schedule, now)
        if passed == 0:
            return None
        latest = schedule[passed - 1]
        last = job.last_progressive_output_time
        return latest if last is None or latest > last else None

    def due_preview(
        self, job: RenderJob, now: datetime, config: ProgressiveOutputConfig | None = None
    ) -> datetime | None:
        """The latest scheduled preview time that has passed and was not yet produced
        (O(log previews) once the schedule is cached)."""
        config = self._config(config)
        return self._due(_check_job(job), _check_now(now), config)

    def due_outputs(
        self,
        jobs: Iterable[RenderJob],
        config: ProgressiveOutputConfig | None = None,
        now: datetime | None = None,
    ) -> list[tuple[RenderJob, int]]:
        """The running jobs among ``jobs`` that have a preview due at ``now`` (default: the
        clock's time), each with the quality for its current progress, in the order given
        (a job listed twice counts once). Changes nothing; only schedules are cached."""
        config = self._config(config)
        moment = self.clock.now() if now is None else _check_now(now)
        if isinstance(jobs, str | bytes) or not isinstance(jobs, Iterable):
            raise InvalidInputError(
                f"jobs must be an iterable of RenderJob, got {type(jobs).__name__}", field="jobs"
            )
        candidates = list(jobs)
        for job in candidates:
            if not isinstance(job, RenderJob):
                _check_job(job, "jobs")  # raises, naming what was given
        due: list[tuple[RenderJob, int]] = []
        if not config.enabled:
            return due
        plan_key = _plan_key(config)
        running = RenderJobStatus.RUNNING
        seen: set[str] = set()
        for job in candidates:
            job_id = job.id
            if job_id in seen:
                continue
            seen.add(job_id)
            if job.status != running or self._due(job, moment, config, plan_key) is None:
                continue
            due.append((job, quality_for_progress(config.quality_levels, job.progress / 100.0)))
        return due

    # -- producing -----------------------------------------------------------------------------

    def preview_path(self, job: RenderJob, quality: int, sequence: int) -> str:
        base = (
            job.output_path.rstrip("/") if job.output_path else f"renders/{job.client_id}/{job.id}"
        )
        return f"{base}/progressive/{job.id}_q{quality:03d}_{sequence:03d}.exr"

    def generate_progressive_output(self, job: RenderJob, quality: int) -> str:
        """Record a preview of ``job`` at ``quality`` (an int within 1-100) and return where it
        goes. Raises without changing anything when the job does not support previews or the
        quality is not acceptable."""
        job = _check_job(job)
        if not job.supports_progressive_output:
            raise ProgressiveOutputNotSupportedError(job.id)
        if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
            raise InvalidInputError(
                f"quality of a preview of job {job.id!r} must be an integer within 1-100, "
                f"got {quality!r}",
                field="quality",
                object_id=job.id,
            )
        now = self.clock.now()
        with self._lock:
            outputs = self._outputs.get(job.id)
            path = self.preview_path(job, quality, len(outputs or ()) + 1)
            job.last_progressive_output_time = now  # validated: may raise, before any change
            self._outputs.setdefault(job.id, []).append(
                ProgressiveOutput(job.id, quality, path, now)
            )
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

    def process_pending_outputs(
        self, jobs: Iterable[RenderJob], config: ProgressiveOutputConfig | None = None
    ) -> dict[str, str]:
        """Produce every preview that is due for running jobs (:meth:`due_outputs`, then
        :meth:`generate_progressive_output` for each); returns job id → preview path."""
        return {
            job.id: self.generate_progressive_output(job, quality)
            for job, quality in self.due_outputs(jobs, config)
        }

    def get_latest_progressive_output(self, job_id: str) -> str | None:
        outputs = self._outputs.get(job_id)
        return outputs[-1].path if outputs else None

    def get_outputs(self, job_id: str) -> list[ProgressiveOutput]:
        return list(self._outputs.get(job_id, ()))

    def forget(self, job_id: str) -> None:
        """Drop the cached schedule of a finished job (its outputs stay listed)."""
        self._schedules.pop(job_id, None)
        self._expected_hours.pop(job_id, None)
