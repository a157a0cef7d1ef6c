"""Counted resources and machine limits hold whatever the scheduler decides, and the calls that
set them change nothing when they raise."""

from __future__ import annotations

import pytest
from builders import make_farm, make_job, make_node, running_on

from render_farm_manager.core.errors import InvalidInputError, NodeUnavailableError
from render_farm_manager.scheduling.deadline_scheduler import DeadlineScheduler


class IgnoresLimits(DeadlineScheduler):
    """A scheduler of a user's own that places every waiting job it can, limits or not."""

    def plan_cycle(self, **kwargs):
        kwargs["limits"] = None
        return super().plan_cycle(**kwargs)


def licensed(job_id: str, **fields):
    return make_job(job_id, limits={"arnold": 1}, **fields)


@pytest.mark.parametrize("scheduler", [None, IgnoresLimits()], ids=["ours", "user's own"])
def test_running_work_never_holds_more_licences_than_there_are(scheduler) -> None:
    manager, _ = make_farm(nodes=6, scheduler=scheduler)
    manager.set_limit("arnold", 2)
    for i in range(5):
        manager.submit_job(licensed(f"j{i}"))
    manager.run_scheduling_cycle()
    assert len(running_on(manager)) == 2
    first = next(iter(running_on(manager).values()))
    manager.complete_job(first)
    manager.run_scheduling_cycle()
    assert len(running_on(manager)) == 2  # the freed licence went to the next job


def test_a_limit_nobody_set_holds_nothing_back() -> None:
    manager, _ = make_farm(nodes=3)
    for i in range(3):
        manager.submit_job(licensed(f"j{i}"))
    manager.run_scheduling_cycle()
    assert len(running_on(manager)) == 3


def test_an_operator_start_beyond_a_limit_is_refused_and_changes_nothing() -> None:
    manager, _ = make_farm(nodes=3)
    manager.set_limit("arnold", 1)
    manager.submit_job(licensed("a"))
    manager.submit_job(licensed("b"))
    manager.run_scheduling_cycle()
    waiting = next(j for j in ("a", "b") if j not in running_on(manager).values())
    with pytest.raises(NodeUnavailableError, match="arnold"):
        manager.start_job(waiting)
    assert manager.jobs[waiting].status.value == "queued"
    assert len(running_on(manager)) == 1


def test_raising_the_limit_lets_more_work_start() -> None:
    manager, _ = make_farm(nodes=4)
    manager.set_limit("arnold", 1)
    for i in range(3):
        manager.submit_job(licensed(f"j{i}"))
    manager.run_scheduling_cycle()
    manager.set_limit("arnold", 3)
    manager.run_scheduling_cycle()
    assert len(running_on(manager)) == 3
    manager.set_limit("arnold", None)
    assert manager.limits == {}


@pytest.mark.parametrize("count", [-1, 1.5, "two", True])
def test_a_bad_count_is_refused_and_changes_nothing(count) -> None:
    manager, _ = make_farm(nodes=1)
    manager.set_limit("arnold", 4)
    with pytest.raises(InvalidInputError, match="count"):
        manager.set_limit("arnold", count)
    assert manager.limits == {"arnold": 4}


def test_a_bad_limit_name_is_refused() -> None:
    manager, _ = make_farm(nodes=1)
    with pytest.raises(InvalidInputError):
        manager.set_limit("", 3)
    assert manager.limits == {}


def test_every_limit_change_is_audited() -> None:
    manager, _ = make_farm(nodes=1)
    manager.set_limit("arnold", 4)
    entries = [e for e in manager.audit_logger.entries if e.event_type == "limit_changed"]
    assert entries and entries[-1].details["new_count"] == 4


def test_machine_limit_of_a_plain_job_is_its_one_node() -> None:
    manager, _ = make_farm(nodes=2)
    manager.add_node(make_node("spare"))
    manager.submit_job(make_job("solo", machine_limit=1))
    manager.run_scheduling_cycle()
    assert list(running_on(manager).values()) == ["solo"]
