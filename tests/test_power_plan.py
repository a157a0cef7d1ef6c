"""The manager's power plan: which idle nodes sleep, which sleeping nodes wake, and when."""

from __future__ import annotations

from datetime import timedelta

import pytest
from builders import DAY, T0, make_farm, make_job, make_node

from render_farm_manager.core.errors import InvalidInputError


def _farm(now=T0, nodes=None):
    manager, clock = make_farm(nodes=0, start=now)
    for node in nodes or [
        make_node("eff", efficiency=90),
        make_node("mid", efficiency=70),
        make_node("old", efficiency=40),
    ]:
        manager.add_node(node)
    return manager, clock


def test_idle_nodes_sleep_except_the_most_efficient_ones_kept_awake():
    manager, _ = _farm()
    plan = manager.plan_power(keep_awake=1)
    assert sorted(a.node_id for a in plan.sleep) == ["mid", "old"]
    assert all(a.wake_by is None for a in plan.sleep)
    assert plan.wake == []
    assert [a.node_id for a in manager.plan_power(keep_awake=2).sleep] == ["old"]


def test_a_sleeping_node_wakes_at_once_for_waiting_work_that_fits_it():
    manager, clock = _farm(nodes=[make_node("cpu"), make_node("gpu", gpus=1)])
    manager.set_node_online("gpu", online=False)
    manager.submit_job(make_job("render", requires_gpu=True))
    manager.run_scheduling_cycle()
    plan = manager.plan_power(["gpu"], keep_awake=0, wake_minutes=7)
    assert [(w.node_id, w.wake_at) for w in plan.wake] == [("gpu", clock.now())]
    assert "render" in plan.wake[0].reason
    # work that may start waits and the CPU node is awake and idle: nothing goes to sleep
    assert plan.sleep == []


def test_a_sleeping_node_no_waiting_work_fits_stays_asleep():
    manager, _ = _farm(nodes=[make_node("cpu"), make_node("gpu", gpus=1)])
    manager.set_node_online("cpu", online=False)
    manager.submit_job(make_job("render", requires_gpu=True))
    manager.run_scheduling_cycle()
    assert manager.jobs["render"].assigned_node_id == "gpu"
    manager.submit_job(make_job("second", requires_gpu=True))
    plan = manager.plan_power(["cpu"], keep_awake=0)
    assert plan.wake == []


def test_deferred_work_wakes_its_node_its_wake_up_time_before_it_starts():
    manager, clock = _farm(now=DAY, nodes=[make_node("a"), make_node("b")])
    manager.set_energy_mode("night_savings")
    manager.set_node_online("b", online=False)
    manager.submit_job(make_job("heavy", now=DAY, hours=2, deadline_in=72, energy_intensive=True))
    manager.run_scheduling_cycle()
    deferred = manager.last_cycle_plan.deferred
    assert "heavy" in deferred
    start = deferred["heavy"]
    far = manager.plan_power(["b"], keep_awake=0, wake_minutes=30, lookahead_minutes=15)
    assert far.wake == []  # not due within the look-ahead
    assert [a.node_id for a in far.sleep] == ["a"]
    assert far.sleep[0].wake_by is not None
    clock.set(start - timedelta(minutes=40))
    near = manager.plan_power(["b"], keep_awake=0, wake_minutes=30, lookahead_minutes=15)
    assert [(w.node_id, w.wake_at) for w in near.wake] == [("b", start - timedelta(minutes=30))]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"asleep": ["nope"]}, "asleep"),
        ({"asleep": ["eff"]}, "asleep"),  # online: not asleep
        ({"asleep": "eff"}, "asleep"),
        ({"keep_awake": -1}, "keep_awake"),
        ({"wake_minutes": -5}, "wake_minutes"),
        ({"wake_minutes": float("nan")}, "wake_minutes"),
        ({"wake_minutes": True}, "wake_minutes"),
        ({"lookahead_minutes": "soon"}, "lookahead_minutes"),
    ],
)
def test_a_bad_power_plan_request_names_the_argument_and_changes_nothing(kwargs, field):
    manager, _ = _farm()
    version = manager.state_version
    with pytest.raises(InvalidInputError) as raised:
        manager.plan_power(**kwargs)
    assert raised.value.field == field
    assert manager.state_version == version


def test_planning_changes_nothing_until_the_caller_carries_it_out():
    manager, _ = _farm()
    version = manager.state_version
    plan = manager.plan_power(keep_awake=0)
    assert len(plan.sleep) == 3
    assert manager.state_version == version
    assert all(node.status == "online" for node in manager.nodes.values())


def test_carrying_the_plan_out_records_why_each_node_slept():
    manager, _ = _farm()
    for advice in manager.plan_power(keep_awake=2).sleep:
        manager.set_node_online(advice.node_id, False, f"asleep: {advice.reason}")
    entry = manager.audit_entries(node_id="old", event_type="node_updated")[-1]
    assert entry.details["reason"] == "asleep: no waiting work fits it"
    version = manager.state_version
    with pytest.raises(InvalidInputError) as raised:
        manager.set_node_online("old", True, reason=42)
    assert raised.value.field == "reason"
    assert manager.state_version == version
    assert manager.nodes["old"].status == "offline"


def test_waiting_job_ids_are_the_waiting_jobs_in_no_particular_order():
    manager, _ = _farm(nodes=[make_node("only")])
    for name in ("a", "b", "c"):
        manager.submit_job(make_job(name))
    manager.run_scheduling_cycle()
    waiting = manager.waiting_job_ids()
    assert len(waiting) == 2
    assert sorted(waiting) == sorted(job.id for job in manager.waiting_jobs())
    assert manager.nodes["only"].current_job_id not in waiting
