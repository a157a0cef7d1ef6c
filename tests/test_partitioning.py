"""Partitioning real nodes among clients: what is reported is what the quota book enforces."""

from __future__ import annotations

import copy
import math

import pytest
from builders import make_client, make_job, make_node
from hypothesis import given, settings
from hypothesis import strategies as st

from render_farm_manager.core.errors import InvalidInputError, UnknownClientError
from render_farm_manager.core.models import Client, RenderClient, RenderNode
from render_farm_manager.resource_management.quota_book import QuotaBook, scaled_guarantees
from render_farm_manager.resource_management.resource_partitioner import ResourcePartitioner
from render_farm_manager.utils.logging import AuditLogger

# -- helpers ---------------------------------------------------------------------------------------


def _nodes(count: int, prefix: str = "n", status: str = "online") -> list[RenderNode]:
    return [make_node(f"{prefix}{i}", status=status) for i in range(count)]


def _three_clients(partitioner: ResourcePartitioner) -> None:
    partitioner.add_client(make_client("a", guaranteed=40, maximum=80))
    partitioner.add_client(make_client("b", guaranteed=20, maximum=50))
    partitioner.add_client(make_client("c", guaranteed=0, maximum=30))
    partitioner.update_client_demand("a", 100)
    partitioner.update_client_demand("b", 10)
    partitioner.update_client_demand("c", 100)


def _counts(allocations):
    return {cid: len(a.allocated_nodes) for cid, a in allocations.items()}


def _admitted_by_the_book(book: QuotaBook) -> tuple[dict[str, int], QuotaBook]:
    """Grant nodes one at a time, asking ``may_start`` before each ``started``, in the fair
    order the partitioner documents: whole-node guarantees first (round robin), then, among
    the clients ``may_start`` admits, those below their guarantee, then the least beyond it."""
    book = copy.deepcopy(book)
    order = list(book.quotas)
    granted = sum(q.running for q in book.quotas.values())
    progress = True
    while progress:
        progress = False
        for cid in order:
            quota = book.quotas[cid]
            if (
                granted < book.schedulable_nodes
                and quota.waiting > 0
                and quota.running + 1 <= quota.guaranteed_nodes + 1e-9
                and quota.running + 1 <= quota.ceiling_nodes
            ):
                assert book.may_start(cid)  # up to the guarantee, always
                book.started(cid)
                granted += 1
                progress = True
    while granted < book.schedulable_nodes:
        admitted = [c for c in order if book.quotas[c].waiting > 0 and book.may_start(c)]
        if not admitted:
            break
        cid = min(
            admitted,
            key=lambda c: (
                not book.below_guarantee(c),
                max(0.0, book.quotas[c].running - book.quotas[c].guaranteed_nodes),
                order.index(c),
            ),
        )
        book.started(cid)
        granted += 1
    return {cid: q.running for cid, q in book.quotas.items()}, book


# -- partitioning real nodes -----------------------------------------------------------------------


def test_twenty_online_nodes_are_partitioned_in_whole_nodes():
    partitioner = ResourcePartitioner(borrowing_limit_percentage=50)
    _three_clients(partitioner)
    allocation = partitioner.allocate_resources(nodes=_nodes(20))
    # guarantees a=8, b=4 nodes; b wants 2 so lends half its idle 2; the pool is 8 nodes.
    assert _counts(allocation) == {"a": 13, "b": 2, "c": 4}
    assert allocation["a"].allocated_percentage == pytest.approx(65)
    assert allocation["b"].allocated_percentage == pytest.approx(10)
    assert allocation["c"].allocated_percentage == pytest.approx(20)
    # a and c share the pool evenly (4 nodes each); a's 13th node is borrowed from b
    assert allocation["a"].borrowed_from == pytest.approx({"b": 5})
    assert allocation["a"].borrowed_percentage == pytest.approx(5)
    assert allocation["b"].lent_to == pytest.approx({"a": 5})
    assert allocation["c"].borrowed_percentage == 0
    assert partitioner.get_borrowed_percentage("a") == pytest.approx(5)
    assert partitioner.get_lent_to("b") == pytest.approx({"a": 5})


def test_no_online_node_means_nothing_allocated():
    partitioner = ResourcePartitioner(borrowing_limit_percentage=50)
    _three_clients(partitioner)
    dead = _nodes(7, "off", "offline") + _nodes(7, "err", "error") + _nodes(6, "mnt", "maintenance")
    for nodes in (dead, []):
        allocation = partitioner.allocate_resources(nodes=nodes)
        assert set(allocation) == {"a", "b", "c"}
        for report in allocation.values():
            assert report.allocated_percentage == 0
            assert report.allocated_nodes == []
            assert report.borrowed_percentage == 0 and report.borrowed_from == {}
            assert report.lent_percentage == 0 and report.lent_to == {}
    # the registered nodes are used when none are given: none registered yet
    assert all(a.allocated_nodes == [] for a in partitioner.allocate_resources().values())
    for node in _nodes(20):
        partitioner.add_node(node)
    assert _counts(partitioner.allocate_resources()) == {"a": 13, "b": 2, "c": 4}


def test_allocated_nodes_are_online_disjoint_and_within_ceilings():
    partitioner = ResourcePartitioner(borrowing_limit_percentage=100)
    _three_clients(partitioner)
    online = _nodes(10)
    draining = make_node("drain0")
    draining.draining = True
    nodes = [*online, draining, *_nodes(3, "off", "offline"), *_nodes(2, "err", "error")]
    allocation = partitioner.allocate_resources(nodes=nodes)
    online_ids = {n.id for n in online}
    listed = [node_id for a in allocation.values() for node_id in a.allocated_nodes]
    assert set(listed) <= online_ids
    assert len(listed) == len(set(listed))
    for cid, client in partitioner.clients.items():
        report = allocation[cid]
        ceiling = math.ceil(client.max_resources * len(online) / 100 - 1e-9)
        assert len(report.allocated_nodes) <= ceiling
        assert report.allocated_percentage == pytest.approx(
            100 * len(report.allocated_nodes) / len(online)
        )
    # guarantees a=4, b=2 (b lends its idle node), pool 4: a and c share 5 nodes beyond
    assert _counts(allocation) == {"a": 7, "b": 1, "c": 2}


def test_nodes_running_a_clients_jobs_are_listed_first():
    partitioner = ResourcePartitioner(borrowing_limit_percentage=100)
    partitioner.add_client(make_client("a", guaranteed=50, maximum=100))
    partitioner.add_client(make_client("b", guaranteed=50, maximum=100))
    nodes = _nodes(6)
    jobs = [
        make_job("a1", client="a", status="running", assigned_node_id="n4"),
        make_job("b1", client="b", status="running", assigned_node_id="n0"),
        make_job("b2", client="b", status="running"),
        make_job("a-done", client="a", status="completed", assigned_node_id="n1"),
    ]
    nodes[4].current_job_id = "a1"
    nodes[0].current_job_id = "b1"
    nodes[5].current_job_id = "b2"  # known through the node only
    partitioner.update_client_demand("a", 50)
    partitioner.update_client_demand("b", 50)
    allocation = partitioner.allocate_resources(nodes=nodes, jobs=jobs)
    assert allocation["a"].allocated_nodes[0] == "n4"
    assert set(allocation["b"].allocated_nodes[:2]) == {"n0", "n5"}
    assert len(allocation["a"].allocated_nodes) == len(allocation["b"].allocated_nodes) == 3


def test_capacity_to_reclaim_comes_from_the_borrower_after_free_nodes():
    partitioner = ResourcePartitioner(borrowing_limit_percentage=100)
    clients = [make_client("a", guaranteed=50, maximum=100), make_client("b", 50, 100)]
    nodes = _nodes(4)
    for node in nodes[:3]:
        node.current_job_id = f"job-{node.id}"
    book, allocation = partitioner.plan_quotas(
        clients,
        nodes,
        running={"a": 3},
        waiting={"b": 2},
        running_nodes={"a": ["n0", "n1", "n2"]},
    )
    # a borrowed b's guarantee; b's work is back, so a keeps two nodes and b gets the free n3
    # and one of a's.
    assert _counts(allocation) == {"a": 2, "b": 2}
    assert allocation["a"].allocated_nodes == ["n0", "n1"]
    assert allocation["b"].allocated_nodes == ["n3", "n2"]
    assert book.below_guarantee("b") and book.over_guarantee("a")


def test_guarantees_are_honoured_when_demanded_and_borrowing_stays_within_the_limit():
    partitioner = ResourcePartitioner(borrowing_limit_percentage=25)
    partitioner.add_client(make_client("a", guaranteed=30, maximum=100))
    partitioner.add_client(make_client("b", guaranteed=40, maximum=100))
    partitioner.add_client(make_client("c", guaranteed=30, maximum=100))
    partitioner.update_client_demand("a", 100)
    partitioner.update_client_demand("b", 0)
    partitioner.update_client_demand("c", 30)
    allocation = partitioner.allocate_resources(nodes=_nodes(20))
    # c gets its whole guarantee; a borrows a quarter of b's idle 8 nodes
    assert _counts(allocation) == {"a": 8, "b": 0, "c": 6}
    assert allocation["a"].borrowed_from == pytest.approx({"b": 10})
    assert allocation["b"].lent_percentage <= 0.25 * 40 + 1e-9

    static = ResourcePartitioner(allow_borrowing=False)
    for client in partitioner.clients.values():
        static.add_client(client)
        static.update_client_demand(client.id, partitioner.client_demand[client.id])
    fixed = static.allocate_resources(nodes=_nodes(20))
    assert _counts(fixed) == {"a": 6, "b": 0, "c": 6}
    assert all(a.borrowed_percentage == 0 and a.lent_to == {} for a in fixed.values())


def test_fractional_guarantees_borrow_only_from_clients_with_nothing_waiting():
    partitioner = ResourcePartitioner(borrowing_limit_percentage=25)
    partitioner.add_client(make_client("a", guaranteed=30, maximum=100))  # 1.5 nodes of 5
    partitioner.add_client(make_client("b", guaranteed=40, maximum=100))  # 2 nodes, idle
    partitioner.add_client(make_client("c", guaranteed=30, maximum=100))  # 1.5 nodes
    for cid, demand in (("a", 100), ("b", 0), ("c", 100)):
        partitioner.update_client_demand(cid, demand)
    allocation = partitioner.allocate_resources(nodes=_nodes(5))
    # guarantees in whole nodes: a 2 (the half nodes of a and c make one, given to a), b 2, c 1;
    # b lends a quarter of its 2 idle nodes, half a node, which nobody can use whole;
    # c, still waiting, lends nothing
    assert _counts(allocation) == {"a": 2, "b": 0, "c": 1}
    assert allocation["a"].borrowed_from == {}
    assert allocation["c"].lent_to == {} and allocation["c"].lent_percentage == 0


def test_demand_defaults_to_the_ceiling():
    partitioner = ResourcePartitioner()
    partitioner.add_client(make_client("a", guaranteed=0, maximum=30))
    assert partitioner.allocate_resources(nodes=_nodes(10))["a"].allocated_percentage == 30


# -- plan_quotas and remember ----------------------------------------------------------------------


def test_plan_quotas_builds_the_enforced_book_and_changes_nothing():
    audit = AuditLogger()
    partitioner = ResourcePartitioner(audit_logger=audit, borrowing_limit_percentage=50)
    clients = [make_client("a", guaranteed=50, maximum=100), make_client("b", 50, 100)]
    nodes = _nodes(4)
    drained = make_node("d0")
    drained.draining = True
    nodes += [drained, make_node("x0", status="offline")]
    book, allocation = partitioner.plan_quotas(
        clients, nodes, running={"a": 1}, waiting={"a": 3}, running_nodes={"a": ["d0"]}
    )
    assert book.schedulable_nodes == 4
    assert book.quotas["a"].running == 1 and book.quotas["a"].waiting == 3
    # same book the manager's quota_book() builds
    same = partitioner.quota_book(clients, 4, {"a": 1}, {"a": 3})
    assert same.quotas == book.quotas and same.free_pool_nodes == book.free_pool_nodes
    assert _counts(allocation) == {"a": 3, "b": 0}  # its 2 + half of b's idle 2
    assert "d0" not in allocation["a"].allocated_nodes  # draining: not partitioned
    assert allocation["a"].borrowed_from == pytest.approx({"b": 25})
    assert partitioner.allocations == {}
    assert len(audit) == 0
    assert book.quotas["a"].running == 1  # reporting did not touch the book

    partitioner.remember(allocation)
    assert partitioner.allocations == allocation
    assert partitioner.get_borrowed_from("a") == pytest.approx({"b": 25})
    assert partitioner.get_lent_percentage("b") == pytest.approx(25)
    assert len(audit) == 0


def test_allocate_resources_keeps_state_and_audits():
    audit = AuditLogger()
    partitioner = ResourcePartitioner(audit_logger=audit)
    _three_clients(partitioner)
    allocation = partitioner.allocate_resources(nodes=_nodes(20))
    assert partitioner.allocations == allocation
    (event,) = audit.get_logs_by_event_type("resources_allocated")
    assert event.details["allocations"] == {"a": 65.0, "b": 10.0, "c": 20.0}


@st.composite
def _farms(draw):
    count = draw(st.integers(1, 5))
    clients = []
    for i in range(count):
        guaranteed = draw(st.integers(0, 60))
        maximum = draw(st.integers(guaranteed, 100))
        clients.append(make_client(f"c{i}", guaranteed=guaranteed, maximum=maximum))
    demand = {c.id: draw(st.integers(0, 30)) for c in clients}
    online = draw(st.integers(0, 25))
    limit = draw(st.sampled_from([0, 25, 50, 100]) | st.floats(0, 100))
    borrowing = draw(st.booleans())
    split = {cid: draw(st.integers(0, d)) for cid, d in demand.items()}
    return clients, demand, online, limit, borrowing, split


@settings(max_examples=150, deadline=None)
@given(_farms())
def test_reported_allocation_is_what_the_book_admits(farm):
    clients, demand, online, limit, borrowing, split = farm
    partitioner = ResourcePartitioner(allow_borrowing=borrowing, borrowing_limit_percentage=limit)
    nodes = _nodes(online) + _nodes(2, "off", "offline")
    book, allocation = partitioner.plan_quotas(clients, nodes, {}, demand, {})
    reported = _counts(allocation)

    admitted, after = _admitted_by_the_book(book)
    assert reported == admitted
    # nobody still waiting could start one more (unless the farm is full)
    if sum(admitted.values()) < online:
        assert not any(after.quotas[c].waiting > 0 and after.may_start(c) for c in admitted)
    assert sum(reported.values()) <= online

    # the report depends on demand (running + waiting), not on who runs what now
    running = split
    waiting = {cid: demand[cid] - running[cid] for cid in demand}
    _, again = partitioner.plan_quotas(clients, nodes, running, waiting, {})
    assert _counts(again) == reported
    assert partitioner.allocations == {}

    guarantees = scaled_guarantees({c.id: c.guaranteed_resources for c in clients})
    online_ids = {n.id for n in nodes[:online]}
    listed: list[str] = []
    for client in clients:
        report = allocation[client.id]
        quota = book.quotas[client.id]
        listed += report.allocated_nodes
        # guarantees honoured while demanded, ceilings never exceeded
        owned = math.floor(guarantees[client.id] * online / 100 + 1e-9)
        assert reported[client.id] >= min(owned, demand[client.id], quota.ceiling_nodes)
        assert reported[client.id] <= min(demand[client.id], quota.ceiling_nodes)
        expected_pct = 100 * reported[client.id] / online if online else 0
        assert report.allocated_percentage == pytest.approx(expected_pct)
        # what is lent stays within the limit of the lender's idle guarantee (in whole nodes)
        guaranteed_pct = 100 * quota.guaranteed_nodes / online if online else 0
        idle = max(0.0, guaranteed_pct - report.allocated_percentage)
        assert report.lent_percentage <= (limit / 100 if borrowing else 0) * idle + 1e-6
        for lender, amount in report.borrowed_from.items():
            assert allocation[lender].lent_to[client.id] == pytest.approx(amount)
            assert reported[lender] >= demand[lender]  # lenders have nothing waiting
    assert set(listed) <= online_ids and len(listed) == len(set(listed))
    assert sum(a.borrowed_percentage for a in allocation.values()) == pytest.approx(
        sum(a.lent_percentage for a in allocation.values())
    )


def test_quota_book_allocate_is_pure_and_scales_guarantees_once():
    book = QuotaBook.build(
        {"x": 60, "y": 60, "z": 60}, {}, 12, running={"x": 5}, waiting={"y": 9, "z": 9}
    )
    assert [q.guaranteed_nodes for q in book.quotas.values()] == pytest.approx([4, 4, 4])
    before = copy.deepcopy(book.quotas)
    result = book.allocate()
    assert result.nodes == {"x": 4, "y": 4, "z": 4}
    assert result.demand == {"x": 5, "y": 9, "z": 9}
    assert book.quotas == before
    # x alone: its 4, plus half of the 8 idle guaranteed nodes of y and z
    assert book.allocate({"x": 12}).nodes == {"x": 8, "y": 0, "z": 0}


# -- borrowing questions and input checks ----------------------------------------------------------


def _lending_partitioner() -> ResourcePartitioner:
    partitioner = ResourcePartitioner(borrowing_limit_percentage=50)
    partitioner.add_client(make_client("a", guaranteed=40, maximum=80))
    partitioner.add_client(
        RenderClient(client_id="b", name="B", guaranteed_resources=40, max_resources=80)
    )
    partitioner.update_client_demand("a", 10)
    partitioner.update_client_demand("b", 40)
    partitioner.allocate_resources(nodes=_nodes(10))
    return partitioner


def test_can_borrow_resources_accepts_objects_or_ids():
    partitioner = _lending_partitioner()
    a, b = partitioner.clients["a"], partitioner.clients["b"]
    assert isinstance(a, Client) and isinstance(b, RenderClient)
    for lender, borrower in (("a", "b"), (a, b), (a, "b"), ("a", b)):
        assert partitioner.can_borrow_resources(lender, borrower, 15)
        assert not partitioner.can_borrow_resources(lender, borrower, 15.5)
    # b uses all of its guarantee: nothing idle to lend
    assert not partitioner.can_borrow_resources(b, a, 1)
    assert partitioner.can_borrow_resources("a", "b", 1)
    assert not partitioner.can_borrow_resources("a", "b", -1)


def test_a_client_with_work_waiting_lends_nothing():
    partitioner = _lending_partitioner()
    assert partitioner.can_borrow_resources("a", "b", 1)
    partitioner.update_client_demand("a", 30)  # more than the 10% it was allocated
    assert not partitioner.can_borrow_resources("a", "b", 1)


def test_can_borrow_resources_rejects_unknown_clients_and_bad_amounts():
    partitioner = _lending_partitioner()
    before = dict(partitioner.allocations), dict(partitioner.client_demand)
    stranger = make_client("stranger")
    for lender, borrower in (("zzz", "b"), ("a", "zzz"), (stranger, "b"), ("a", stranger)):
        with pytest.raises(UnknownClientError):
            partitioner.can_borrow_resources(lender, borrower, 1)
    for amount in (math.nan, math.inf, -math.inf, True, "5", None):
        with pytest.raises(InvalidInputError, match="amount") as raised:
            partitioner.can_borrow_resources("a", "b", amount)
        assert raised.value.field == "amount"
    with pytest.raises(InvalidInputError, match="from_client"):
        partitioner.can_borrow_resources(42, "b", 1)
    assert (dict(partitioner.allocations), dict(partitioner.client_demand)) == before


def test_update_client_demand_rejects_what_is_not_a_demand():
    partitioner = ResourcePartitioner()
    partitioner.add_client(make_client("a"))
    partitioner.update_client_demand("a", 25)
    for bad in (math.nan, math.inf, -1, "50", None, False):
        with pytest.raises(InvalidInputError, match="demand_percentage") as raised:
            partitioner.update_client_demand("a", bad)
        assert raised.value.object_id == "a"
    assert partitioner.client_demand == {"a": 25}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"borrowing_limit_percentage": math.nan},
        {"borrowing_limit_percentage": math.inf},
        {"borrowing_limit_percentage": 101},
        {"reclaim_grace_minutes": math.nan},
        {"reclaim_grace_minutes": math.inf},
        {"reclaim_grace_minutes": -1},
    ],
)
def test_constructor_rejects_non_finite_settings(kwargs):
    (name,) = kwargs
    with pytest.raises(InvalidInputError, match=name):
        ResourcePartitioner(**kwargs)
