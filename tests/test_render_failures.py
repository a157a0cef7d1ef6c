"""What kind of failure a render reports decides what happens to the job."""

from __future__ import annotations

import pytest
from builders import make_farm, make_job, make_node, running_on

from render_farm_manager.core.errors import IllegalTransitionError, InvalidInputError
from render_farm_manager.core.models import RenderJobStatus

S = RenderJobStatus


def running_job(memory: float = 16, nodes=(("small", 32), ("big", 256))):
    manager, _ = make_farm(nodes=0)
    for node_id, gb in nodes:
        manager.add_node(make_node(node_id, memory=gb))
    manager.submit_job(make_job("j", memory_requirements_gb=memory))
    manager.start_job("j", nodes[0][0])
    return manager, manager.jobs["j"]


def test_a_missing_licence_requeues_without_counting_against_job_or_node() -> None:
    manager, job = running_job()
    assert manager.report_render_error("j", "no licence available", failure="licence") == (
        "requeued"
    )
    assert job.status == S.QUEUED and job.error_count == 0 and job.excluded_node_ids == []


def test_out_of_memory_raises_the_requirement_above_that_node_and_moves_the_job() -> None:
    manager, job = running_job()
    manager.report_render_error("j", "Out of memory", failure="out_of_memory")
    assert job.status == S.QUEUED and job.memory_requirements_gb > 32
    manager.run_scheduling_cycle()
    assert running_on(manager) == {"big": "j"}
    audit = [e.event_type for e in manager.audit_logger.entries]
    assert "memory_requirement_raised" in audit


def test_out_of_memory_on_the_largest_node_says_no_node_can_run_it() -> None:
    manager, job = running_job(nodes=(("only", 64),))
    manager.report_render_error("j", "Out of memory", failure="out_of_memory")
    assert job.memory_requirements_gb > 64
    assert job.placement_warning and "no node" in job.placement_warning


def test_a_broken_scene_fails_the_job_at_once() -> None:
    manager, job = running_job()
    assert manager.report_render_error("j", "Parse Error: missing }", failure="scene") == "failed"
    assert job.status == S.FAILED and "Parse Error" in (job.failure_reason or "")


def test_a_node_failure_counts_as_before() -> None:
    manager, job = running_job()
    assert manager.report_render_error("j", "segfault") == "requeued"
    assert job.error_count == 1


def test_an_unknown_failure_kind_is_refused_and_changes_nothing() -> None:
    manager, job = running_job()
    with pytest.raises(InvalidInputError, match="failure"):
        manager.report_render_error("j", "?", failure="cosmic rays")
    assert job.status == S.RUNNING and job.error_count == 0


@pytest.mark.parametrize("failure", ["licence", "out_of_memory", "scene", "node"])
def test_a_failure_of_a_job_not_running_is_refused_and_changes_nothing(failure: str) -> None:
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("w"))
    with pytest.raises(IllegalTransitionError):
        manager.report_render_error("w", "x", failure=failure)
    assert manager.jobs["w"].status == S.PENDING and manager.jobs["w"].error_count == 0
