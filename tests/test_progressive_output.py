"""Progressive previews: an early first preview, quality rising with progress, capped overhead."""

import itertools
from datetime import timedelta

import pytest
from builders import T0, make_farm, make_job

from render_farm_manager.core.errors import ProgressiveOutputNotSupportedError
from render_farm_manager.core.models import ProgressiveOutputConfig
from render_farm_manager.progressive_result.progressive_renderer import ProgressiveRenderer


def _job(**fields):
    fields.setdefault("supports_progressive_output", True)
    fields.setdefault("hours", 12)
    return make_job("p", **fields)


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
