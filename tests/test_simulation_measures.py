"""What the simulator measures, and that it measures every policy the same way: idle time by
reason, energy over one horizon, deadlines feasible after dependencies, the power plan carried
out as the manager decided it."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time

import pytest
from builders import make_job, make_node

from render_farm_manager.simulation.engine import Simulation
from render_farm_manager.simulation.idle_time import IDLE_REASONS, IdleClassifier
from render_farm_manager.simulation.policies import POLICIES
from render_farm_manager.simulation.scenarios import generate_workload
from render_farm_manager.simulation.workload import (
    ClientSpec,
    JobSpec,
    NodeClassSpec,
    TariffPeriodSpec,
    Workload,
)

pytestmark = pytest.mark.untraced

START = datetime(2026, 11, 23, 0, 0)


def _classify(idle, waiting, **kwargs):
    values = {
        "deferred": (),
        "holding": (),
        "running_by_client": {},
        "ceilings_pct": {},
        "online": len(idle),
    }
    values.update(kwargs)
    return dict(Counter(IdleClassifier().classify(idle, waiting, **values).values()))


def test_an_idle_node_is_owed_when_work_it_fits_may_start():
    cpu, gpu = make_node("cpu"), make_node("gpu", gpus=1)
    counts = _classify([cpu, gpu], [make_job("render", requires_gpu=True)])
    assert counts == {"runnable": 1, "no_work": 1}  # the CPU node cannot run a GPU render


def test_idle_by_choice_is_told_apart_from_idle_owed():
    node = make_node("n")
    job = make_job("j")
    assert _classify([node], [job], deferred={"j"}) == {"deferred": 1}
    assert _classify([node], [job], holding={"j"}) == {"faster": 1}
    at_ceiling = _classify(
        [node], [job], running_by_client={"c1": 1}, ceilings_pct={"c1": 50}, online=2
    )
    assert at_ceiling == {"quota": 1}
    # one job may start, another is deferred: the node is owed work
    other = make_job("k")
    assert _classify([node], [job, other], deferred={"j"}) == {"runnable": 1}


def test_a_node_the_only_waiting_work_is_blocklisted_from_has_no_work():
    node, spare = make_node("n"), make_node("spare")
    job = make_job("j", excluded_node_ids=["n"])
    assert _classify([node, spare], [job]) == {"no_work": 1, "runnable": 1}
    # another job that may run anywhere makes both owed, whatever order the queue has
    anywhere = make_job("k")
    assert _classify([node, spare], [job, anywhere]) == {"runnable": 2}
    assert _classify([node, spare], [anywhere, job]) == {"runnable": 2}
    # work deferred for both, then runnable work blocklisted from one
    later = make_job("later")
    counts = _classify([node, spare], [later, job], deferred={"later"})
    assert counts == {"runnable": 1, "deferred": 1}


def _node_class(name="cpu", count=2, **fields) -> NodeClassSpec:
    values = {
        "cpu_cores": 32,
        "memory_gb": 128,
        "idle_watts": 100,
        "busy_watts": 400,
        "sleep_watts": 5,
        "mtbf_hours": 1e9,
        **fields,
    }
    return NodeClassSpec(name=name, count=count, **values)


def _workload(jobs, classes=None) -> Workload:
    return Workload(
        scenario="measures",
        seed=5,
        start=START,
        days=1,
        clients=[ClientSpec(id="a", name="A")],
        node_classes=classes or [_node_class()],
        jobs=jobs,
        tariff=[
            TariffPeriodSpec(start=time(0), end=time(12), price_per_kwh=0.2),
            TariffPeriodSpec(start=time(12), end=time(0), price_per_kwh=0.2),
        ],
    )


def _job(job_id, at=0.0, **fields) -> JobSpec:
    values = {
        "client_id": "a",
        "job_type": "animation",
        "estimated_duration_hours": 2.0,
        "deadline_after_hours": 20.0,
        **fields,
    }
    return JobSpec(id=job_id, submit_at_hours=at, **values)


def test_a_deadline_is_feasible_only_after_the_jobs_it_depends_on():
    jobs = [
        _job("long", estimated_duration_hours=10.0, deadline_after_hours=40.0),
        # 2 hours of its own fit its 6-hour deadline, but not after a 10-hour parent
        _job("child", dependencies=["long"], deadline_after_hours=6.0),
        _job("free", deadline_after_hours=6.0),
    ]
    result = Simulation(_workload(jobs), POLICIES["fifo"]).run()
    assert result.feasible_total == 2
    assert result.completed_late == 1  # the child, and it was never feasible
    assert result.feasible_on_time_rate == 1.0


def test_every_policy_is_measured_over_the_same_horizon_and_idle_time_adds_up():
    jobs = [_job("a", estimated_duration_hours=6.0), _job("b", at=1.0)]
    workload = _workload(jobs, [_node_class(count=3)])
    results = {}
    for name in ("fifo", "ours", "deadline10"):
        sim = Simulation(workload, POLICIES[name], drain_hours=24)
        results[name] = result = sim.run()
        assert result.simulated_hours == sim.horizon == workload.hours + 24
        assert 0 < result.last_completion_hours < workload.hours
        assert set(result.idle_hours) == set(IDLE_REASONS)
        idle = sum(result.idle_hours.values())
        assert idle + result.busy_node_hours == pytest.approx(result.awake_node_hours)
        assert result.utilization == pytest.approx(
            result.busy_node_hours / (result.busy_node_hours + result.idle_hours["runnable"])
        )
    # fifo keeps three nodes awake all 48 hours; policies that sleep idle nodes draw less
    fifo = results["fifo"]
    assert fifo.longest_owed_idle_hours == 0.0  # first fit leaves no node idle with work
    assert fifo.longest_wait_hours_by_priority == {"medium": 0.0}
    assert fifo.awake_node_hours == pytest.approx(3 * 48)
    assert fifo.energy_kwh == pytest.approx(
        (fifo.busy_node_hours * 400 + (3 * 48 - fifo.busy_node_hours) * 100) / 1000
    )
    for name in ("ours", "deadline10"):
        assert results[name].awake_node_hours < fifo.awake_node_hours
        assert results[name].energy_kwh < fifo.energy_kwh


def test_a_sleeping_node_is_woken_for_work_that_needs_it():
    gpu = _node_class("gpu", count=1, gpu_count=1, gpu_memory_gb=24)
    jobs = [_job("late-gpu", at=10.0, requires_gpu=True, deadline_after_hours=8.0)]
    sim = Simulation(_workload(jobs, [_node_class(count=2), gpu]), POLICIES["ours"])
    result = sim.run()
    assert result.completed_on_time == 1
    changes = [
        (e.timestamp, e.details.get("new_status"), e.details.get("reason"))
        for e in sim.manager.audit_entries(node_id="gpu-000", event_type="node_updated")
    ]
    # asleep from the start (nothing fits it), woken for the GPU job at 10:00 (ready 5
    # minutes later), asleep again once it is done
    assert changes[0][:2] == (START, "offline") and changes[0][2].startswith("asleep")
    assert changes[1] == (START.replace(hour=10, minute=5), "online", "woken by the power plan")
    assert changes[2][1] == "offline"
    started = sim.manager.audit_entries(job_id="late-gpu", event_type="job_scheduled")
    assert [(e.node_id, e.timestamp) for e in started] == [("gpu-000", changes[1][0])]


def test_a_generated_world_measures_idle_reasons_for_ours():
    workload = generate_workload("normal", nodes=10, days=1, seed=4)
    result = Simulation(workload, POLICIES["ours"]).run()
    assert result.idle_hours["no_work"] > 0
    assert 0 < result.utilization <= 1
    assert result.overnight_kwh < result.energy_kwh


def test_the_longest_wait_is_reported_by_priority():
    jobs = [_job(f"high{i}", priority="high") for i in range(3)]
    jobs.append(_job("low", priority="low", deadline_after_hours=40.0))
    result = Simulation(_workload(jobs, [_node_class(count=1)]), POLICIES["deadline10"]).run()
    waits = result.longest_wait_hours_by_priority
    assert waits["high"] == pytest.approx(4.0)  # the third high job waits for two others
    assert waits["low"] == pytest.approx(6.0)
