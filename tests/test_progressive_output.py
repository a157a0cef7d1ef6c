"""Progressive previews: an early first preview, quality rising with progress, capped overhead."""

import itertools
import math
import tracemalloc
from datetime import timedelta
from fractions import Fraction

import pytest
from builders import T0, make_farm, make_job
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from render_farm_manager.core.clock import ManualClock
from render_farm_manager.core.errors import (
    InvalidInputError,
    ProgressiveOutputNotSupportedError,
    RenderFarmError,
)
from render_farm_manager.core.models import ProgressiveOutputConfig, RenderJobStatus
from render_farm_manager.progressive_result.progressive_renderer import (
    ProgressiveRenderer,
    check_config,
    plan_previews,
    quality_for_progress,
)

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _job(**fields):
    fields.setdefault("supports_progressive_output", True)
    fields.setdefault("hours", 12)
    return make_job("p", **fields)


def _running(job_id, *, hours=10.0, progress=0.0, **fields):
    fields.setdefault("supports_progressive_output", True)
    job = make_job(job_id, hours=hours, **fields)
    job.status = RenderJobStatus.RUNNING
    job.started_at = T0
    job.progress = progress
    return job


def _budget(config):
    """The cap in quality points: a preview at quality q costs q/100 percent of the job."""
    return Fraction(config.max_overhead_percentage) * 100


def _first_offset(duration, config):
    return min(config.interval_minutes / 60.0, 0.02 * duration)


@pytest.mark.parametrize("hours", [0.25, 1, 12, 100])
def test_first_preview_comes_within_three_percent_of_the_expected_duration(hours):
    renderer = ProgressiveRenderer(clock=lambda: T0)
    job = _job(hours=hours)
    job.started_at = T0
    schedule = renderer.schedule_progressive_output(job)
    assert schedule, "a progressive job gets previews"
    assert schedule[0] - T0 <= timedelta(hours=0.03 * hours)
    assert all(later > earlier for earlier, later in itertools.pairwise(schedule))
    assert schedule[-1] < T0 + timedelta(hours=hours)


def test_overhead_is_capped_by_the_config():
    renderer = ProgressiveRenderer()
    job = _job(hours=100)
    generous = ProgressiveOutputConfig(interval_minutes=5, max_overhead_percentage=50)
    strict = ProgressiveOutputConfig(interval_minutes=5, max_overhead_percentage=2)
    assert renderer.estimate_overhead(job, strict) <= 2
    assert len(renderer.schedule_progressive_output(job, strict)) < len(
        renderer.schedule_progressive_output(job, generous)
    )
    assert renderer.estimate_overhead(job, ProgressiveOutputConfig(max_overhead_percentage=0)) == 0
    assert (
        renderer.schedule_progressive_output(
            job, ProgressiveOutputConfig(max_overhead_percentage=0)
        )
        == []
    )


def test_no_previews_without_support_or_when_disabled():
    renderer = ProgressiveRenderer()
    assert renderer.schedule_progressive_output(_job(supports_progressive_output=False)) == []
    assert (
        renderer.schedule_progressive_output(_job(), ProgressiveOutputConfig(enabled=False)) == []
    )
    assert renderer.estimate_overhead(_job(supports_progressive_output=False)) == 0
    with pytest.raises(ProgressiveOutputNotSupportedError, match="does not support"):
        renderer.generate_progressive_output(_job(supports_progressive_output=False), 50)
    with pytest.raises(ValueError):
        renderer.generate_progressive_output(_job(supports_progressive_output=False), 50)


def test_previews_go_under_the_output_path_and_the_latest_is_tracked():
    renderer = ProgressiveRenderer(clock=lambda: T0)
    job = _job(output_path="/renders/c1/shot_010/")
    first = renderer.generate_progressive_output(job, 25)
    second = renderer.generate_progressive_output(job, 50)
    assert first.startswith("/renders/c1/shot_010/progressive/")
    assert first != second and "q050" in second
    assert renderer.get_latest_progressive_output("p") == second
    assert renderer.get_latest_progressive_output("other") is None
    assert job.last_progressive_output_time == T0
    with pytest.raises(ValueError, match="quality"):
        renderer.generate_progressive_output(job, 0)


def test_manager_produces_due_previews_with_quality_rising_with_progress():
    manager, clock = make_farm(nodes=1)
    manager.set_progressive_output_config(ProgressiveOutputConfig(interval_minutes=60))
    manager.submit_job(_job(hours=10, deadline_in=20))
    manager.run_scheduling_cycle()
    clock.advance(timedelta(minutes=11))
    assert manager.run_scheduling_cycle()["progressive_outputs"] == 0
    clock.advance(timedelta(minutes=1))  # 2% of 10h = 12 minutes
    manager.update_job_progress("p", 3)
    assert manager.run_scheduling_cycle()["progressive_outputs"] == 1
    assert manager.run_scheduling_cycle()["progressive_outputs"] == 0  # not twice
    first = manager.get_job_status("p")["progressive_output_path"]
    assert "q025" in first
    clock.advance(timedelta(hours=6))
    manager.update_job_progress("p", 70)
    assert manager.run_scheduling_cycle()["progressive_outputs"] == 1
    assert "q075" in manager.get_job_status("p")["progressive_output_path"]
    assert manager.get_job_status("p")["last_progressive_output_time"] == clock.now()


def test_previews_follow_the_expected_speed_of_the_assigned_node():
    renderer = ProgressiveRenderer(clock=lambda: T0)
    job = _job(hours=12)
    job.started_at = T0
    renderer.job_started(job, expected_hours=3)  # a node four times faster than the estimate
    first = renderer.schedule_progressive_output(job)[0]
    assert first - T0 <= timedelta(hours=0.03 * 3)
    renderer.forget(job.id)
    assert renderer.schedule_progressive_output(job)[0] - T0 > timedelta(hours=0.03 * 3)


# -- planning cost and the overhead cap -----------------------------------------------------------


@pytest.mark.parametrize("interval_minutes", [0.005, 1e-6, 5e-324])
def test_a_tiny_interval_on_a_long_job_plans_a_short_plan_within_the_cap(interval_minutes):
    """Planning works in memory proportional to the plan, not to duration / interval (1.2
    million candidate previews at 0.005 minutes, 6 billion at 1e-6)."""
    renderer = ProgressiveRenderer(clock=lambda: T0)
    job = _job(hours=100)
    job.started_at = T0
    config = ProgressiveOutputConfig(interval_minutes=interval_minutes)  # levels 25-75, cap 5%
    tracemalloc.start()
    try:
        planned = renderer.planned_previews(job, config)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024, f"planning allocated {peak} bytes"
    assert 1 <= len(planned) <= 20  # 5% at >= 25 points each
    assert sum(quality for _, quality in planned) <= 500
    assert renderer.estimate_overhead(job, config) <= 5
    assert planned[0][0] - T0 <= timedelta(hours=0.03 * 100)
    assert all(b[0] > a[0] for a, b in itertools.pairwise(planned))
    assert [q for _, q in planned] == sorted(q for _, q in planned)
    assert planned[-1][1] == 75, "quality rises to the top level as the job progresses"
    assert renderer.schedule_progressive_output(job, config) == [t for t, _ in planned]


def _reference_plan(duration, config):
    """The documented rule, one thinning step at a time (slow: only for small configs)."""
    levels = config.quality_levels
    interval = config.interval_minutes / 60.0
    first = min(interval, 0.02 * duration)
    while True:
        offsets = []
        while first + len(offsets) * interval < duration:
            offsets.append(first + len(offsets) * interval)
        qualities = [quality_for_progress(levels, o / duration) for o in offsets]
        if sum(qualities) <= _budget(config):
            return offsets, qualities
        if len(offsets) == 1:
            return [], []
        interval *= 1.25


durations = st.floats(min_value=1e-6, max_value=100_000, allow_nan=False, allow_infinity=False)
intervals = st.one_of(
    st.floats(min_value=5e-324, max_value=6_000_000, allow_nan=False, allow_infinity=False),
    st.sampled_from([1e-6, 0.005, 1.0, 5.0, 30.0, 60.0]),
)
level_lists = st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=20)
caps = st.one_of(
    st.floats(min_value=0, max_value=100, allow_nan=False), st.sampled_from([0, 0.25, 1, 5, 100])
)


@PROPERTY_SETTINGS
@given(duration=durations, interval=intervals, levels=level_lists, cap=caps)
def test_plans_respect_the_cap_and_are_empty_only_when_one_preview_does_not_fit(
    duration, interval, levels, cap
):
    config = ProgressiveOutputConfig(
        interval_minutes=interval, quality_levels=levels, max_overhead_percentage=cap
    )
    offsets, qualities = plan_previews(duration, config)
    levels = config.quality_levels  # sorted by the model
    assert len(offsets) == len(qualities)
    assert sum(qualities) <= _budget(config), "the overhead cap is honoured"
    assert len(offsets) <= _budget(config) / min(levels)
    assert all(0 <= o < duration for o in offsets)
    assert all(b > a for a, b in itertools.pairwise(offsets))
    assert qualities == [quality_for_progress(levels, o / duration) for o in offsets]
    first = _first_offset(duration, config)
    lowest_planned = quality_for_progress(levels, first / duration)
    if lowest_planned <= _budget(config):
        assert offsets, "one preview at the lowest planned quality fits, so the plan has one"
        assert offsets[0] == first
    else:
        assert offsets == []


@PROPERTY_SETTINGS
@given(duration=durations, interval=intervals, levels=level_lists, cap=caps)
def test_plans_follow_the_documented_thinning_rule(duration, interval, levels, cap):
    """The analytic planner picks the same thinning step as trying every step in turn."""
    assume(interval / 60.0 >= 1e-300 and duration / (interval / 60.0) <= 1000)
    config = ProgressiveOutputConfig(
        interval_minutes=interval, quality_levels=levels, max_overhead_percentage=cap
    )
    assert plan_previews(duration, config) == _reference_plan(duration, config)


@PROPERTY_SETTINGS
@given(hours=st.floats(min_value=0.01, max_value=1000), interval=intervals, cap=caps)
def test_the_renderer_reports_the_planned_overhead_within_the_cap(hours, interval, cap):
    renderer = ProgressiveRenderer(clock=lambda: T0)
    job = _job(hours=hours)
    job.started_at = T0
    config = ProgressiveOutputConfig(interval_minutes=interval, max_overhead_percentage=cap)
    planned = renderer.planned_previews(job, config)
    assert sum(q for _, q in planned) <= _budget(config)
    assert renderer.estimate_overhead(job, config) == pytest.approx(
        sum(q for _, q in planned) / 100
    )
    delay = renderer.first_preview_delay_hours(job, config)
    assert (delay is None) == (planned == [])


# -- deciding without doing -----------------------------------------------------------------------


def _snapshot(renderer, jobs):
    return (
        [job.model_dump() for job in jobs],
        {job.id: renderer.get_outputs(job.id) for job in jobs},
        {job.id: renderer.get_latest_progressive_output(job.id) for job in jobs},
        renderer.clock.now(),
    )


def _farm_of_jobs():
    clock = ManualClock(T0)
    renderer = ProgressiveRenderer(
        clock=clock, default_config=ProgressiveOutputConfig(interval_minutes=60)
    )
    due = _running("due", hours=10, progress=3)  # first preview after 12 minutes
    later = _running("later", hours=100, progress=1)  # first preview after one hour
    queued = _running("queued", hours=10)
    queued.status = RenderJobStatus.QUEUED
    unsupported = _running("plain", hours=10, supports_progressive_output=False)
    done = _running("done", hours=10, progress=3)
    done.last_progressive_output_time = T0 + timedelta(minutes=12)
    return clock, renderer, [due, later, queued, unsupported, done]


def test_due_outputs_decides_without_changing_anything():
    clock, renderer, jobs = _farm_of_jobs()
    clock.advance(timedelta(minutes=12))
    before = _snapshot(renderer, jobs)
    decided = renderer.due_outputs(jobs)
    assert [(job.id, quality) for job, quality in decided] == [("due", 25)]
    assert renderer.due_outputs(jobs) == decided, "asking twice gives the same answer"
    assert _snapshot(renderer, jobs) == before
    later = renderer.due_outputs(jobs, now=T0 + timedelta(hours=2))
    assert [(job.id, quality) for job, quality in later] == [
        ("due", 25),
        ("later", 25),
        ("done", 25),  # its last preview was at 12 minutes, the next came at 72
    ]
    assert _snapshot(renderer, jobs) == before, "asking about another time changes nothing"
    produced = renderer.process_pending_outputs(jobs)
    assert list(produced) == ["due"] and "q025" in produced["due"]
    assert jobs[0].last_progressive_output_time == clock.now()
    assert renderer.due_outputs(jobs) == []
    assert renderer.process_pending_outputs(jobs) == {}


def test_due_outputs_counts_a_job_listed_twice_once():
    clock, renderer, jobs = _farm_of_jobs()
    clock.advance(timedelta(minutes=12))
    assert [job.id for job, _ in renderer.due_outputs([jobs[0], jobs[0]])] == ["due"]
    assert list(renderer.process_pending_outputs([jobs[0], jobs[0]])) == ["due"]
    assert len(renderer.get_outputs("due")) == 1


job_states = st.tuples(
    st.floats(min_value=0.1, max_value=200),  # hours
    st.floats(min_value=0, max_value=100),  # progress
    st.sampled_from([RenderJobStatus.RUNNING, RenderJobStatus.RUNNING, RenderJobStatus.PAUSED]),
    st.booleans(),  # supports previews
    st.one_of(st.none(), st.floats(min_value=0, max_value=200)),  # hours of the last preview
)


@PROPERTY_SETTINGS
@given(
    states=st.lists(job_states, min_size=1, max_size=6),
    elapsed=st.floats(min_value=0, max_value=250),
    interval=st.sampled_from([1.0, 5.0, 30.0, 60.0]),
)
def test_due_outputs_agrees_with_process_pending_outputs(states, elapsed, interval):
    clock = ManualClock(T0)
    config = ProgressiveOutputConfig(interval_minutes=interval, max_overhead_percentage=20)
    renderer = ProgressiveRenderer(clock=clock)
    jobs = []
    for index, (hours, progress, status, supported, last) in enumerate(states):
        job = _running(f"j{index}", hours=hours, progress=progress)
        job.status = status
        job.supports_progressive_output = supported
        if last is not None:
            job.last_progressive_output_time = T0 + timedelta(hours=last)
        jobs.append(job)
    clock.advance(timedelta(hours=elapsed))
    before = _snapshot(renderer, jobs)
    decided = renderer.due_outputs(jobs, config)
    assert _snapshot(renderer, jobs) == before
    for job in jobs:
        expected = (
            job.status == RenderJobStatus.RUNNING
            and renderer.due_preview(job, clock.now(), config) is not None
        )
        assert (job in [j for j, _ in decided]) == expected
    produced = renderer.process_pending_outputs(jobs, config)
    assert list(produced) == [job.id for job, _ in decided]
    for job, quality in decided:
        assert f"_q{quality:03d}_" in produced[job.id]
        assert renderer.get_outputs(job.id)[-1].quality == quality
        assert job.last_progressive_output_time == clock.now()
    for job in jobs:
        if job.id not in produced:
            assert renderer.get_outputs(job.id) == []
    assert renderer.due_outputs(jobs, config) == []


@PROPERTY_SETTINGS
@given(
    hours=st.floats(min_value=0.1, max_value=500),
    now_hours=st.floats(min_value=-1, max_value=600),
    last_hours=st.one_of(st.none(), st.floats(min_value=-1, max_value=600)),
)
def test_due_preview_is_the_latest_passed_moment_not_yet_produced(hours, now_hours, last_hours):
    renderer = ProgressiveRenderer(clock=lambda: T0)
    config = ProgressiveOutputConfig(interval_minutes=10, max_overhead_percentage=50)
    job = _running("j", hours=hours)
    if last_hours is not None:
        job.last_progressive_output_time = T0 + timedelta(hours=last_hours)
    now = T0 + timedelta(hours=now_hours)
    last = job.last_progressive_output_time
    passed = [
        m
        for m in renderer.schedule_progressive_output(job, config)
        if m <= now and (last is None or m > last)
    ]
    assert renderer.due_preview(job, now, config) == (max(passed) if passed else None)


def test_the_cached_schedule_follows_a_changed_config():
    renderer = ProgressiveRenderer(clock=lambda: T0)
    job = _running("j", hours=10)  # first preview after 12 minutes, then every interval
    config = ProgressiveOutputConfig(interval_minutes=60, max_overhead_percentage=100)
    at = T0 + timedelta(minutes=45)
    assert renderer.due_preview(job, at, config) == T0 + timedelta(minutes=12)
    config.interval_minutes = 30  # validated assignment on the same object
    assert renderer.due_preview(job, at, config) == T0 + timedelta(minutes=42)


# -- bad input ------------------------------------------------------------------------------------


def _bad_configs():
    mutated_level = ProgressiveOutputConfig()
    mutated_level.quality_levels.append(0)
    unsorted = ProgressiveOutputConfig()
    unsorted.quality_levels.reverse()
    return [
        pytest.param("fast", id="text"),
        pytest.param({"interval_minutes": 5}, id="dict"),
        pytest.param(5, id="number"),
        pytest.param(ProgressiveOutputConfig.model_construct(interval_minutes=-1.0), id="neg"),
        pytest.param(ProgressiveOutputConfig.model_construct(interval_minutes=math.nan), id="nan"),
        pytest.param(
            ProgressiveOutputConfig.model_construct(max_overhead_percentage=500), id="cap"
        ),
        pytest.param(ProgressiveOutputConfig.model_construct(quality_levels=[]), id="no-levels"),
        pytest.param(ProgressiveOutputConfig.model_construct(quality_levels=[True]), id="bool"),
        pytest.param(mutated_level, id="level-0"),
        pytest.param(unsorted, id="unsorted"),
    ]


CONFIG_CALLS = {
    "schedule_progressive_output": lambda r, job, c: r.schedule_progressive_output(job, c),
    "planned_previews": lambda r, job, c: r.planned_previews(job, c),
    "estimate_overhead": lambda r, job, c: r.estimate_overhead(job, c),
    "first_preview_delay_hours": lambda r, job, c: r.first_preview_delay_hours(job, c),
    "due_preview": lambda r, job, c: r.due_preview(job, T0 + timedelta(hours=5), c),
    "due_outputs": lambda r, job, c: r.due_outputs([job], c),
    "process_pending_outputs": lambda r, job, c: r.process_pending_outputs([job], c),
    "plan_previews": lambda r, job, c: plan_previews(10.0, c),
    "check_config": lambda r, job, c: check_config(c),
}


@pytest.mark.parametrize("call", CONFIG_CALLS.values(), ids=CONFIG_CALLS.keys())
@pytest.mark.parametrize("config", _bad_configs())
def test_bad_configs_are_rejected_and_change_nothing(call, config):
    renderer = ProgressiveRenderer(clock=lambda: T0 + timedelta(hours=5))
    job = _running("j", hours=10, progress=50)
    before = _snapshot(renderer, [job])
    with pytest.raises(InvalidInputError, match="config") as caught:
        call(renderer, job, config)
    assert caught.value.field == "config"
    assert isinstance(caught.value, RenderFarmError) and isinstance(caught.value, ValueError)
    assert _snapshot(renderer, [job]) == before
    assert list(renderer.process_pending_outputs([job])) == ["j"], "the renderer still works"


@pytest.mark.parametrize("config", _bad_configs())
def test_a_bad_default_config_is_rejected(config):
    with pytest.raises(InvalidInputError, match="default_config") as caught:
        ProgressiveRenderer(default_config=config)
    assert caught.value.field == "default_config"
    renderer = ProgressiveRenderer()
    kept = renderer.default_config
    with pytest.raises(InvalidInputError, match="default_config"):
        renderer.default_config = config
    assert renderer.default_config is kept


def test_a_default_config_broken_in_place_is_caught_at_use():
    renderer = ProgressiveRenderer(clock=lambda: T0 + timedelta(hours=5))
    job = _running("j", hours=10)
    renderer.default_config.quality_levels.append(101)
    with pytest.raises(InvalidInputError, match="default_config"):
        renderer.process_pending_outputs([job])
    assert renderer.get_outputs("j") == [] and job.last_progressive_output_time is None


@pytest.mark.parametrize(
    "quality", [0, 101, -5, True, False, 50.0, math.nan, math.inf, "50", None, [50]]
)
def test_bad_qualities_are_rejected_naming_the_job_and_change_nothing(quality):
    renderer = ProgressiveRenderer(clock=lambda: T0)
    job = _running("shot_7", hours=10)
    renderer.generate_progressive_output(job, 25)
    job.last_progressive_output_time = T0 - timedelta(hours=1)
    before = _snapshot(renderer, [job])
    with pytest.raises(InvalidInputError, match="shot_7") as caught:
        renderer.generate_progressive_output(job, quality)
    assert caught.value.object_id == "shot_7" and caught.value.field == "quality"
    assert _snapshot(renderer, [job]) == before
    unsupported = _running("plain", supports_progressive_output=False)
    with pytest.raises(ProgressiveOutputNotSupportedError):
        renderer.generate_progressive_output(unsupported, quality)
    assert renderer.get_outputs("plain") == []


@pytest.mark.parametrize("quality", [1, 100])
def test_quality_bounds_are_accepted(quality):
    renderer = ProgressiveRenderer(clock=lambda: T0)
    job = _running("j")
    assert f"_q{quality:03d}_" in renderer.generate_progressive_output(job, quality)


def test_bad_jobs_and_times_are_rejected():
    renderer = ProgressiveRenderer(clock=lambda: T0)
    job = _running("j")
    with pytest.raises(InvalidInputError, match="jobs") as caught:
        renderer.due_outputs([job, "j2"])
    assert caught.value.field == "jobs"
    with pytest.raises(InvalidInputError, match="jobs"):
        renderer.due_outputs(None)
    with pytest.raises(InvalidInputError, match="now"):
        renderer.due_outputs([job], now="tomorrow")
    with pytest.raises(InvalidInputError, match="now"):
        renderer.due_preview(job, None)
    with pytest.raises(InvalidInputError, match="job"):
        renderer.generate_progressive_output("j", 50)
    with pytest.raises(InvalidInputError, match="expected_hours"):
        renderer.job_started(job, "fast")
    assert renderer.get_outputs("j") == []
