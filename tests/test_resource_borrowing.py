"""Client partitioning: guarantees first, ceilings, borrowing of idle capacity, reclaim."""

from datetime import timedelta

import pytest
from builders import make_client, make_farm, make_job, make_node, running_on

from render_farm_manager.core.errors import UnknownClientError
from render_farm_manager.core.models import RenderJobStatus
from render_farm_manager.resource_management.quota_book import QuotaBook
from render_farm_manager.resource_management.resource_partitioner import ResourcePartitioner


def _partitioner(**kwargs):
    partitioner = ResourcePartitioner(**kwargs)
    partitioner.add_client(make_client("a", guaranteed=40, maximum=80))
    partitioner.add_client(make_client("b", guaranteed=40, maximum=80))
    partitioner.add_client(make_client("c", guaranteed=0, maximum=30))
    for i in range(10):
        partitioner.add_node(make_node(f"n{i}"))
    return partitioner


def test_idle_guarantee_is_lent_within_the_borrowing_limit():
    partitioner = _partitioner(borrowing_limit_percentage=50)
    partitioner.update_client_demand("a", 80)
    partitioner.update_client_demand("b", 0)
    partitioner.update_client_demand("c", 0)
    allocation = partitioner.allocate_resources()
    # a: its 40 + the 20 nobody is guaranteed + half of b's idle 40
    assert allocation["a"].allocated_percentage == pytest.approx(80)
    assert allocation["a"].borrowed_percentage == pytest.approx(20)
    assert allocation["a"].borrowed_from == pytest.approx({"b": 20})
    assert allocation["b"].lent_to == pytest.approx({"a": 20})
    assert partitioner.get_borrowed_percentage("a") == pytest.approx(20)
    assert partitioner.get_lent_percentage("b") == pytest.approx(20)
    assert partitioner.get_borrowed_from("a") == pytest.approx({"b": 20})
    assert partitioner.get_lent_to("b") == pytest.approx({"a": 20})


@pytest.mark.parametrize(("limit", "expected"), [(0, 60), (25, 70), (100, 80)])
def test_borrowing_limit_changes_how_much_is_lent(limit, expected):
    partitioner = _partitioner(borrowing_limit_percentage=limit)
    partitioner.update_client_demand("a", 100)
    partitioner.update_client_demand("b", 0)
    partitioner.update_client_demand("c", 0)
    allocation = partitioner.allocate_resources()
    assert allocation["a"].allocated_percentage == pytest.approx(expected)


def test_no_borrowing_means_static_allocation():
    partitioner = _partitioner(allow_borrowing=False)
    partitioner.update_client_demand("a", 100)
    partitioner.update_client_demand("b", 0)
    partitioner.update_client_demand("c", 0)
    allocation = partitioner.allocate_resources()
    assert allocation["a"].allocated_percentage == pytest.approx(60)
    assert allocation["a"].borrowed_percentage == 0
    assert not partitioner.can_borrow_resources("b", "a", 5)


def test_ceiling_caps_the_allocation():
    partitioner = _partitioner(borrowing_limit_percentage=100)
    for cid in "abc":
        partitioner.update_client_demand(cid, 0)
    partitioner.update_client_demand("c", 100)
    assert partitioner.allocate_resources()["c"].allocated_percentage == pytest.approx(30)


def test_can_borrow_resources_respects_limit_and_ceiling():
    partitioner = _partitioner(borrowing_limit_percentage=50)
    partitioner.update_client_demand("a", 10)
    partitioner.update_client_demand("b", 40)
    partitioner.update_client_demand("c", 0)
    partitioner.allocate_resources()
    assert partitioner.can_borrow_resources("a", "b", 15)
    assert not partitioner.can_borrow_resources("a", "b", 16)  # only half of a's idle 30
    assert not partitioner.can_borrow_resources("a", "a", 1)
    assert not partitioner.can_borrow_resources("a", "b", 0)
    with pytest.raises(UnknownClientError):
        partitioner.can_borrow_resources("zzz", "b", 1)


def test_guarantees_above_capacity_are_scaled_and_never_crash():
    partitioner = ResourcePartitioner()
    for i in range(12):
        partitioner.add_node(make_node(f"n{i}"))
    for cid in "xyz":
        partitioner.add_client(make_client(cid, guaranteed=60, maximum=100))
        partitioner.update_client_demand(cid, 100)
    allocation = partitioner.allocate_resources()
    for cid in "xyz":
        assert allocation[cid].allocated_percentage == pytest.approx(100 / 3)
    assert sum(a.allocated_percentage for a in allocation.values()) == pytest.approx(100)


def test_calculate_resource_usage_counts_running_jobs_on_online_nodes():
    manager, _ = make_farm(nodes=4, clients=("a", "b"))
    manager.submit_job(make_job("j1", client="a"))
    manager.submit_job(make_job("j2", client="b"))
    manager.run_scheduling_cycle()
    usage = manager.resource_manager.calculate_resource_usage(
        "a", manager.jobs.values(), manager.nodes.values()
    )
    assert usage == pytest.approx(25)
    assert manager.resource_manager.calculate_resource_usage("a", [], []) == 0


def test_manager_honours_ceiling_even_with_idle_nodes():
    manager, _ = make_farm(nodes=0, clients=())
    manager.add_client(make_client("a", guaranteed=0, maximum=50))
    for i in range(4):
        manager.add_node(make_node(f"n{i}"))
    for i in range(4):
        manager.submit_job(make_job(f"j{i}", client="a"))
    result = manager.run_scheduling_cycle()
    assert result["jobs_scheduled"] == 2
    assert manager.get_client_status("a")["current_resource_usage"] == pytest.approx(50)


def _two_client_farm(reclaim: bool, preemption: bool = True):
    manager, clock = make_farm(
        nodes=0,
        clients=(),
        resource_manager=ResourcePartitioner(
            borrowing_limit_percentage=100, reclaim_by_preemption=reclaim
        ),
    )
    manager.scheduler.enable_preemption = preemption
    manager.add_client(make_client("a", guaranteed=50, maximum=100))
    manager.add_client(make_client("b", guaranteed=50, maximum=100))
    for i in range(4):
        manager.add_node(make_node(f"n{i}"))
    for i in range(4):
        manager.submit_job(
            make_job(f"a{i}", client="a", hours=10, deadline_in=100, supports_checkpoint=True)
        )
    manager.run_scheduling_cycle()
    return manager, clock


def test_idle_client_capacity_is_borrowed_by_a_busy_one():
    manager, _ = _two_client_farm(reclaim=True)
    assert manager.get_client_status("a")["current_resource_usage"] == pytest.approx(100)
    assert manager.resource_allocations["a"].borrowed_percentage > 0


def test_reclaim_by_preemption_returns_the_guarantee_at_once():
    manager, _ = _two_client_farm(reclaim=True)
    for i in range(2):
        manager.submit_job(make_job(f"b{i}", client="b", hours=1, deadline_in=100))
    result = manager.run_scheduling_cycle()
    assert result["jobs_preempted"] == 2
    assert manager.get_client_status("b")["current_resource_usage"] == pytest.approx(50)
    preempted = list(manager.audit_logger.get_logs_by_event_type("job_preempted"))
    assert {e.details["reason"] for e in preempted} == {"reclaim"}
    assert all(manager.jobs[e.job_id].status is RenderJobStatus.QUEUED for e in preempted)


def test_reclaim_without_preemption_waits_for_the_next_free_node():
    manager, _ = _two_client_farm(reclaim=False)
    manager.submit_job(make_job("b0", client="b", hours=1, deadline_in=100))
    manager.submit_job(make_job("a9", client="a", hours=1, deadline_in=100, priority="critical"))
    result = manager.run_scheduling_cycle()
    assert result["jobs_preempted"] == 0
    busy_a = next(j for j in manager.jobs.values() if j.status == "running")
    manager.complete_job(busy_a.id)
    manager.run_scheduling_cycle()
    # the freed node goes to b (below its guarantee), not to a's more urgent job
    assert manager.jobs["b0"].status is RenderJobStatus.RUNNING
    assert manager.jobs["a9"].status is RenderJobStatus.QUEUED


def test_client_demand_above_capacity_keeps_the_farm_full_and_shares_fairly():
    manager, _ = make_farm(nodes=0, clients=())
    for cid in ("a", "b"):
        manager.add_client(make_client(cid, guaranteed=70, maximum=100))
    for i in range(10):
        manager.add_node(make_node(f"n{i}"))
    for i in range(30):
        manager.submit_job(make_job(f"a{i}", client="a"))
        manager.submit_job(make_job(f"b{i}", client="b"))
    result = manager.run_scheduling_cycle()
    assert result["utilization_percentage"] == 100
    assert result["resources_allocated"] == pytest.approx({"a": 50, "b": 50})
    assert manager.get_client_status("a")["current_resource_usage"] == pytest.approx(50)


def test_quota_book_rules():
    book = QuotaBook.build(
        {"a": 50, "b": 50}, {"a": 75, "b": 100}, 4, running={"a": 2}, waiting={"b": 1}
    )
    assert not book.below_guarantee("a") and book.below_guarantee("b")
    assert not book.may_start("a")  # b waits for its guarantee: nothing to borrow
    book = QuotaBook.build({"a": 50, "b": 50}, {"a": 75, "b": 100}, 4, running={"a": 2}, waiting={})
    assert book.may_start("a")  # b idle: half its guarantee is lendable
    book.started("a")
    assert not book.may_start("a")  # ceiling 75% of 4 = 3
    assert not book.may_start("unknown")
    book.stopped("a")
    assert book.quotas["a"].running == 2


def test_reclaim_waits_when_a_borrowed_node_frees_up_within_the_grace_period():
    manager, clock = make_farm(
        nodes=0,
        clients=(),
        resource_manager=ResourcePartitioner(
            borrowing_limit_percentage=100, reclaim_grace_minutes=30
        ),
    )
    manager.add_client(make_client("a", guaranteed=50, maximum=100))
    manager.add_client(make_client("b", guaranteed=50, maximum=100))
    for i in range(2):
        manager.add_node(make_node(f"n{i}"))
    manager.submit_job(make_job("a-short", client="a", hours=0.25, supports_checkpoint=True))
    manager.submit_job(make_job("a-long", client="a", hours=10, supports_checkpoint=True))
    manager.run_scheduling_cycle()
    manager.submit_job(make_job("b0", client="b", hours=1))
    # a node frees in 15 minutes: no work is thrown away for the guarantee
    assert manager.run_scheduling_cycle()["jobs_preempted"] == 0
    clock.advance(timedelta(minutes=15))
    manager.complete_job("a-short")
    manager.run_scheduling_cycle()
    assert manager.jobs["b0"].status is RenderJobStatus.RUNNING
    with pytest.raises(ValueError, match="reclaim_grace_minutes"):
        ResourcePartitioner(reclaim_grace_minutes=-1)


def test_fractional_guarantees_leave_no_node_idle_while_everyone_waits():
    manager, _ = make_farm(nodes=10, clients=())
    for client_id in "abc":
        manager.add_client(make_client(client_id, guaranteed=60, maximum=100))
        for i in range(10):
            manager.submit_job(make_job(f"{client_id}{i}", client=client_id))
    result = manager.run_scheduling_cycle()
    assert result["jobs_scheduled"] == 10  # 3.33 nodes each: 4 + 3 + 3
    running = {c: manager.get_client_status(c)["jobs_by_status"]["running"] for c in "abc"}
    assert sorted(running.values()) == [3, 3, 4]


def _three_client_farm(b_priorities):
    manager, clock = make_farm(
        nodes=0, clients=(), resource_manager=ResourcePartitioner(borrowing_limit_percentage=100)
    )
    for client_id in "abc":
        manager.add_client(make_client(client_id, guaranteed=33, maximum=100))
    for i in range(6):
        manager.add_node(make_node(f"n{i}"))
    # c runs its own two guaranteed nodes with cheap-to-preempt (checkpointing) low work;
    # b runs its two and borrows a's idle two with work that would lose an hour
    for i in range(2):
        manager.submit_job(
            make_job(f"c{i}", client="c", hours=20, priority="low", supports_checkpoint=True)
        )
    for i, priority in enumerate(b_priorities):
        manager.submit_job(make_job(f"b{i}", client="b", hours=20, priority=priority))
    manager.run_scheduling_cycle()
    assert len(running_on(manager)) == 6
    clock.advance(timedelta(hours=1))
    manager.submit_job(make_job("a0", client="a", hours=1, priority="medium", now=clock.now()))
    manager.run_scheduling_cycle()
    return manager, {e.job_id for e in manager.audit_logger.get_logs_by_event_type("job_preempted")}


def test_reclaim_takes_only_work_of_a_client_beyond_its_guarantee():
    manager, preempted = _three_client_farm(["low", "low", "low", "low"])
    assert len(preempted) == 1 and preempted < {"b0", "b1", "b2", "b3"}  # never c's
    assert manager.jobs["a0"].status is RenderJobStatus.RUNNING


def test_reclaim_takes_no_work_of_a_higher_level():
    manager, preempted = _three_client_farm(["high", "high", "high", "high"])
    assert preempted == set()
    assert manager.jobs["a0"].status is RenderJobStatus.QUEUED


def test_what_the_cycle_reports_is_what_it_enforced():
    manager, _ = make_farm(nodes=10, clients=())
    manager.add_client(make_client("a", guaranteed=50, maximum=100))  # idle
    manager.add_client(make_client("b", guaranteed=50, maximum=100))
    for i in range(10):
        manager.submit_job(make_job(f"b{i}", client="b"))
    result = manager.run_scheduling_cycle()
    running_b = sum(1 for j in manager.jobs.values() if j.status == "running")
    # b's five guaranteed nodes, plus half of a's idle five (2.5) in whole nodes: two
    assert running_b == 7
    allocation = manager.resource_allocations["b"]
    assert result["resources_allocated"]["b"] == pytest.approx(70)
    assert allocation.borrowed_from == pytest.approx({"a": 20})
    assert manager.resource_allocations["a"].lent_to == pytest.approx({"b": 20})
    assert sorted(allocation.allocated_nodes) == sorted(running_on(manager))


def test_a_guarantee_whose_work_waits_for_cheaper_power_is_lent_meanwhile():
    from builders import DAY

    manager, _ = make_farm(
        nodes=0,
        clients=(),
        start=DAY,
        resource_manager=ResourcePartitioner(borrowing_limit_percentage=100),
    )
    manager.add_client(make_client("a", guaranteed=50))
    manager.add_client(make_client("b"))
    for i in range(2):
        manager.add_node(make_node(f"n{i}"))
    manager.set_energy_mode("night_savings")
    manager.submit_job(
        make_job("heavy", client="a", now=DAY, hours=2, deadline_in=72, energy_intensive=True)
    )
    for i in range(2):
        manager.submit_job(make_job(f"b{i}", client="b", now=DAY))
    manager.run_scheduling_cycle()
    assert "heavy" in manager.last_cycle_plan.deferred
    # a's only work waits for the night: its idle guarantee serves b meanwhile
    assert sorted(running_on(manager).values()) == ["b0", "b1"]
