"""Baselines as a studio's admin configures them: a node order that favours the newest hardware,
Deadline's pools, OpenCue's subscriptions, and idle shutdown where the real systems have it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from builders import T0, make_farm, make_job, make_node, running_on
from hypothesis import given, settings
from hypothesis import strategies as st

from render_farm_manager.core.clock import ManualClock
from render_farm_manager.simulation.baselines import (
    Deadline10Scheduler,
    FifoScheduler,
    JobPools,
    OpenCueScheduler,
    Subscription,
)
from render_farm_manager.simulation.policies import POLICIES
from render_farm_manager.simulation.scenarios import generate_workload

pytestmark = pytest.mark.untraced


def _farm(scheduler, *nodes, clients=("a", "b")):
    manager, clock = make_farm(nodes=0, clients=clients, scheduler=scheduler)
    for node in nodes:
        manager.add_node(node)
    return manager, clock


def _submit(manager, clock, job_id, **fields):
    fields.setdefault("client", "a")
    clock.advance(timedelta(minutes=1))
    manager.submit_job(make_job(job_id, now=clock.now(), **fields))


def _placed(manager) -> dict[str, str]:
    """job id → node id of every running job."""
    return {job: node for node, job in running_on(manager).items()}


# -- node preference ------------------------------------------------------------------------


def test_first_fit_takes_the_newest_fitting_node_not_the_first_registered():
    manager, clock = _farm(
        FifoScheduler(),
        make_node("old", efficiency=50, cores=32),
        make_node("gpu-old", efficiency=40, cores=32, gpus=1),
        make_node("new", efficiency=85, cores=32),
        make_node("new-wide", efficiency=85, cores=64),
    )
    _submit(manager, clock, "j1")
    _submit(manager, clock, "j2", requires_gpu=True)
    _submit(manager, clock, "j3")
    _submit(manager, clock, "j4")
    manager.run_scheduling_cycle()
    assert _placed(manager) == {"j1": "new-wide", "j2": "gpu-old", "j3": "new", "j4": "old"}


def test_equal_hardware_is_taken_in_node_id_order():
    manager, clock = _farm(FifoScheduler(), make_node("b"), make_node("a"))
    _submit(manager, clock, "j1")
    manager.run_scheduling_cycle()
    assert _placed(manager) == {"j1": "a"}


def test_a_baseline_leaves_no_node_idle_for_work_a_limit_holds_back():
    manager, clock = _farm(FifoScheduler(), make_node("n0"), make_node("n1"))
    manager.set_limit("arnold", 1)
    _submit(manager, clock, "licensed-1", limits={"arnold": 1})
    _submit(manager, clock, "licensed-2", limits={"arnold": 1})
    _submit(manager, clock, "free")
    manager.run_scheduling_cycle()
    assert set(_placed(manager)) == {"licensed-1", "free"}


# -- Deadline 10: groups and pools ----------------------------------------------------------


def _deadline_farm(**pools):
    return _farm(
        Deadline10Scheduler(pools=pools or None),
        make_node("gpu", efficiency=95, gpus=1),  # first in the admin's order
        make_node("cpu", efficiency=60, memory=128),
        make_node("bigmem", efficiency=50, memory=512),
    )


def test_deadline_fills_the_primary_pool_then_the_secondary_then_any_fitting_node():
    manager, clock = _deadline_farm()
    for i in range(3):
        _submit(manager, clock, f"sim{i}", job_type="simulation")
    manager.run_scheduling_cycle()
    assert _placed(manager) == {"sim0": "bigmem", "sim1": "cpu", "sim2": "gpu"}


def test_deadline_keeps_a_job_to_its_pools_when_it_may_not_spill_over():
    manager, clock = _deadline_farm(simulation=JobPools("large-memory", "cpu", spill=False))
    for i in range(3):
        _submit(manager, clock, f"sim{i}", job_type="simulation")
    manager.run_scheduling_cycle()
    assert _placed(manager) == {"sim0": "bigmem", "sim1": "cpu"}


def test_deadline_orders_pool_before_priority_then_priority_before_date():
    manager, clock = _farm(
        Deadline10Scheduler(),
        make_node("bigmem", efficiency=95, memory=512),  # first in the admin's order
        make_node("gpu", efficiency=50, gpus=1),
    )
    _submit(manager, clock, "comp-high", job_type="compositing", priority="high")
    _submit(manager, clock, "sim-early", job_type="simulation", priority="low")
    _submit(manager, clock, "sim-late", job_type="simulation", priority="medium")
    manager.run_scheduling_cycle()
    # the large-memory node is the simulations' primary pool and only compositing's secondary:
    # it goes to the simulation of higher priority; compositing spills over to the GPU node
    assert _placed(manager) == {"sim-late": "bigmem", "comp-high": "gpu"}


def test_deadline_prefers_the_newest_node_within_a_pool():
    manager, clock = _farm(
        Deadline10Scheduler(),
        make_node("gpu-old", efficiency=60, gpus=1),
        make_node("cpu-new", efficiency=99),
        make_node("gpu-new", efficiency=90, gpus=1),
    )
    _submit(manager, clock, "light", job_type="lighting")
    manager.run_scheduling_cycle()
    assert _placed(manager) == {"light": "gpu-new"}


def test_a_job_type_without_pools_comes_after_the_work_of_the_nodes_pools():
    manager, clock = _farm(Deadline10Scheduler(), make_node("cpu"))
    _submit(manager, clock, "odd", job_type="turntable", priority="critical")
    _submit(manager, clock, "comp", job_type="compositing", priority="low")
    manager.run_scheduling_cycle()
    assert _placed(manager) == {"comp": "cpu"}  # Deadline's 'none' pool is the last pool


# -- OpenCue: subscriptions -----------------------------------------------------------------


def test_opencue_serves_the_show_furthest_below_its_size_whatever_the_priorities():
    scheduler = OpenCueScheduler(
        subscriptions={"a": Subscription(size=60, burst=100), "b": Subscription(size=30)}
    )
    manager, clock = _farm(scheduler, *(make_node(f"n{i}") for i in range(3)))
    _submit(manager, clock, "a-low", client="a", priority="low")
    for i in range(3):
        _submit(manager, clock, f"a-critical{i}", client="a", priority="critical")
    for i in range(3):
        _submit(manager, clock, f"b{i}", client="b", priority="low")
    manager.run_scheduling_cycle()
    # a (size 1.8 nodes), b (0.9): a first (the larger idle show), then b (at 0/0.9 against
    # a's 1/1.8), then a (0.56 against 1.1); within a show, priority before submission
    assert set(_placed(manager)) == {"a-critical0", "a-critical1", "b0"}


def test_opencue_serves_idle_shows_largest_subscription_first():
    scheduler = OpenCueScheduler(
        subscriptions={"a": Subscription(size=10), "b": Subscription(size=40), "c": Subscription()}
    )
    manager, clock = _farm(scheduler, make_node("n0"), clients=("a", "b", "c"))
    for show in ("c", "a", "b"):
        _submit(manager, clock, f"{show}0", client=show, priority="critical")
    manager.run_scheduling_cycle()
    assert set(_placed(manager)) == {"b0"}
    manager.add_node(make_node("n1"))
    manager.run_scheduling_cycle()
    assert set(_placed(manager)) == {"b0", "a0"}  # c (size 0) comes after shows below size


def test_opencue_gives_a_node_that_frees_up_to_the_show_furthest_below_its_size():
    scheduler = OpenCueScheduler(
        subscriptions={"a": Subscription(size=50), "b": Subscription(size=50)}
    )
    manager, clock = _farm(scheduler, *(make_node(f"n{i}") for i in range(4)))
    for i in range(4):
        _submit(manager, clock, f"a{i}", client="a")
    manager.run_scheduling_cycle()  # b has nothing waiting: a takes the whole farm
    for i in range(2):
        _submit(manager, clock, f"b{i}", client="b")
    manager.complete_job("a0")
    manager.run_scheduling_cycle()
    assert _placed(manager)["b0"] == "n0"
    manager.complete_job("a1")
    _submit(manager, clock, "a4", client="a")
    manager.run_scheduling_cycle()
    assert "b1" in _placed(manager) and "a4" not in _placed(manager)


def test_opencue_never_lets_a_show_past_its_burst():
    scheduler = OpenCueScheduler(
        subscriptions={"a": Subscription(size=0), "b": Subscription(size=25, burst=25)}
    )
    manager, clock = _farm(scheduler, *(make_node(f"n{i}") for i in range(4)))
    for i in range(4):
        _submit(manager, clock, f"b{i}", client="b", priority="critical")
    _submit(manager, clock, "a0", client="a", priority="low")
    manager.run_scheduling_cycle()
    assert set(_placed(manager)) == {"b0", "a0"}  # b at its burst (one node); two idle


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.tuples(*(st.integers(0, 100) for _ in range(2))),
    bursts=st.tuples(*(st.integers(0, 100) for _ in range(2))),
    demand=st.tuples(*(st.integers(0, 8) for _ in range(2))),
    nodes=st.integers(1, 8),
)
def test_opencue_shows_stay_within_burst_and_no_node_idles_below_it(sizes, bursts, demand, nodes):
    shows = ("a", "b")
    subscriptions = {
        show: Subscription(size=size, burst=burst)
        for show, size, burst in zip(shows, sizes, bursts, strict=True)
    }
    manager, clock = _farm(
        OpenCueScheduler(subscriptions=subscriptions), *(make_node(f"n{i}") for i in range(nodes))
    )
    for show, count in zip(shows, demand, strict=True):
        for i in range(count):
            _submit(manager, clock, f"{show}{i}", client=show)
    manager.run_scheduling_cycle()
    running = dict.fromkeys(shows, 0)
    for job in _placed(manager):
        running[job[0]] += 1
    for show, count in zip(shows, demand, strict=True):
        ceiling = int(subscriptions[show].burst * nodes / 100 + 1e-9)
        assert running[show] <= ceiling
        if sum(running.values()) < nodes:  # a free node is left only to shows that may not use it
            assert running[show] == min(count, ceiling)


# -- the policies ---------------------------------------------------------------------------


def test_idle_shutdown_is_on_for_deadline_and_for_ours_with_energy_only():
    powered_down = {name for name, policy in POLICIES.items() if policy.power_down}
    ours_with_energy = {
        name for name, policy in POLICIES.items() if name.startswith("ours") and policy.energy
    }
    assert "ours-no-energy" not in ours_with_energy and "ours" in ours_with_energy
    assert powered_down == ours_with_energy | {"deadline10"}


@pytest.fixture(scope="module")
def workload():
    return generate_workload("normal", nodes=5, days=1, seed=3)


def test_deadline_policy_gives_clients_no_guaranteed_shares(workload):
    manager = POLICIES["deadline10"].build_manager(workload, ManualClock(T0), workload.seed)
    assert any(spec.guaranteed_resources > 0 for spec in workload.clients)
    for client in manager.clients.values():
        assert (client.guaranteed_resources, client.max_resources) == (0, 100)


def test_opencue_policy_subscribes_each_client_with_its_guarantee_and_ceiling(workload):
    manager = POLICIES["opencue"].build_manager(workload, ManualClock(T0), workload.seed)
    assert manager.scheduler.subscriptions == {
        spec.id: Subscription(size=spec.guaranteed_resources, burst=spec.max_resources)
        for spec in workload.clients
    }
    assert not POLICIES["opencue"].quotas  # the dispatcher holds the shares, not the manager
