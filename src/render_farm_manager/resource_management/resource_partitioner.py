"""Client partitioning: guaranteed minimums, ceilings, borrowing of idle capacity, reclaim."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from numbers import Real

from render_farm_manager.core.errors import InvalidInputError, UnknownClientError
from render_farm_manager.core.interfaces import (
    AuditLoggerInterface,
    PerformanceMonitorInterface,
    ResourceManagerInterface,
)
from render_farm_manager.core.models import (
    AnyClient,
    Client,
    NodeStatus,
    RenderClient,
    RenderJob,
    RenderJobStatus,
    RenderNode,
    ResourceAllocation,
)
from render_farm_manager.node_specialization.fit import schedulable
from render_farm_manager.resource_management.quota_book import (
    NodeAllocation,
    QuotaBook,
    nodes_for_percentage,
    scaled_guarantees,
)

_EPS = 1e-9


class ResourcePartitioner(ResourceManagerInterface):
    """Partitions the farm among clients, in whole nodes.

    * The farm is the nodes that are online and not draining (:func:`is_partitionable`);
      percentages are of those nodes, and with none every client gets 0%.
    * Guarantees (``guaranteed_resources``, percent of the farm) come first; when they add up to
      more than 100% they are scaled down proportionally
      (:func:`~render_farm_manager.resource_management.quota_book.scaled_guarantees`).
    * ``max_resources`` is a hard ceiling, rounded up to whole nodes (at least one node when
      positive).
    * With ``allow_borrowing``, a client with more demand than its guarantee may use capacity nobody
      is guaranteed, plus up to ``borrowing_limit_percentage`` percent of the idle guaranteed
      capacity of each client with nothing waiting. Without it, allocations are static:
      guarantee plus a share of the unguaranteed pool.
    * Reclaim: when a client below its guarantee has work waiting, lent capacity returns to it: by
      preemption of the borrower's work when ``reclaim_by_preemption`` is set and no fitting node
      is expected to free up within ``reclaim_grace_minutes`` (and the scheduler
      allows preemption), otherwise at the next node that frees up.

    The scheduler enforces these rules through a :class:`QuotaBook`; every allocation reported
    here is computed by that same book (:meth:`QuotaBook.allocate`), so what is reported is
    exactly what the scheduler admits for that demand.
    """

    def __init__(
        self,
        audit_logger: AuditLoggerInterface | None = None,
        performance_monitor: PerformanceMonitorInterface | None = None,
        allow_borrowing: bool = True,
        borrowing_limit_percentage: float = 50.0,
        reclaim_by_preemption: bool = True,
        reclaim_grace_minutes: float = 30.0,
    ) -> None:
        limit = _finite_number(borrowing_limit_percentage, "borrowing_limit_percentage")
        if not 0 <= limit <= 100:
            raise InvalidInputError(
                f"borrowing_limit_percentage must be within 0-100, got {limit}",
                field="borrowing_limit_percentage",
            )
        grace = _finite_number(reclaim_grace_minutes, "reclaim_grace_minutes")
        if grace < 0:
            raise InvalidInputError(
                f"reclaim_grace_minutes must be >= 0, got {grace}", field="reclaim_grace_minutes"
            )
        self.audit_logger = audit_logger
        self.performance_monitor = performance_monitor
        self.allow_borrowing = allow_borrowing
        self.borrowing_limit_percentage = limit
        self.reclaim_by_preemption = reclaim_by_preemption
        self.reclaim_grace_minutes = grace
        self.clients: dict[str, AnyClient] = {}
        self.nodes: dict[str, RenderNode] = {}
        self.client_demand: dict[str, float] = {}
        self.allocations: dict[str, ResourceAllocation] = {}

    # -- registration --------------------------------------------------------------------------

    def add_client(self, client: AnyClient) -> None:
        self.clients[client.id] = client

    def remove_client(self, client_id: str) -> None:
        self.clients.pop(client_id, None)
        self.client_demand.pop(client_id, None)
        self.allocations.pop(client_id, None)

    def add_node(self, node: RenderNode) -> None:
        self.nodes[node.id] = node

    def remove_node(self, node_id: str) -> None:
        self.nodes.pop(node_id, None)

    def update_client_demand(self, client_id: str, demand_percentage: float) -> None:
        """How much of the farm (percent) the client could use right now. A finite number >= 0
        (above 100 means "all of it"); anything else raises :class:`InvalidInputError` and
        changes nothing."""
        value = _finite_number(demand_percentage, "demand_percentage", client_id)
        if value < 0:
            raise InvalidInputError(
                f"demand_percentage must be >= 0, got {value}",
                field="demand_percentage",
                object_id=client_id,
            )
        self.client_demand[client_id] = value

    # -- quotas and allocation -----------------------------------------------------------------

    def plan_quotas(
        self,
        clients: Iterable[AnyClient],
        nodes: Iterable[RenderNode],
        running: Mapping[str, int],
        waiting: Mapping[str, int],
        running_nodes: Mapping[str, list[str]],
    ) -> tuple[QuotaBook, dict[str, ResourceAllocation]]:
        """The quota book the scheduler enforces this cycle, and the allocations reported from
        that same book. Pure: the partitioner's state is not changed (no audit event,
        ``self.allocations`` untouched; call :meth:`remember` once the cycle commits).

        ``running``/``waiting`` count each client's running jobs and jobs waiting for a node;
        a client's demand is running + waiting nodes. ``running_nodes`` names the nodes running
        each client's work. The book covers the nodes that are online and not draining. Each
        allocation is :meth:`QuotaBook.allocate` of that book (whole nodes, by the very rules
        ``may_start`` enforces), with ``allocated_nodes`` naming real nodes: those running the
        client's work first, then free ones, then (for capacity to be reclaimed) nodes running
        work of clients beyond their allocation.
        """
        node_list = [n for n in nodes if schedulable(n)]
        book = self.quota_book(clients, len(node_list), running, waiting)
        busy = {n.id for n in node_list if n.current_job_id is not None}
        return book, _report(book, book.allocate(), node_list, running_nodes, busy)

    def remember(self, allocations: dict[str, ResourceAllocation]) -> None:
        """Keep ``allocations`` (from :meth:`plan_quotas`) as the current ones, read by
        :meth:`get_borrowed_percentage` and friends and by :meth:`can_borrow_resources`."""
        self.allocations = dict(allocations)

    def allocate_resources(
        self,
        clients: Iterable[AnyClient] | None = None,
        nodes: Iterable[RenderNode] | None = None,
        jobs: Iterable[RenderJob] | None = None,
    ) -> dict[str, ResourceAllocation]:
        """Partition the online, non-draining ``nodes`` (default: the registered nodes) among
        ``clients`` (default: the registered clients): guarantees first, then the pool nobody is
        guaranteed, then borrowing within the limits, in whole nodes by the rules the scheduler
        enforces (:meth:`QuotaBook.allocate`).

        A client's demand is what :meth:`update_client_demand` recorded (percent of the
        partitioned nodes, rounded up to whole nodes), else its ceiling. ``allocated_nodes``
        lists the nodes running the client's jobs first (from ``jobs`` that are running, by
        ``assigned_node_id`` or a node's ``current_job_id``), then free nodes;
        ``allocated_percentage`` is 100 * allocated nodes / partitioned nodes. With no such
        node everybody gets 0% and no node. Stores the result in ``self.allocations`` and logs a
        ``resources_allocated`` audit event."""
        client_list = list(clients) if clients is not None else list(self.clients.values())
        all_nodes = list(nodes) if nodes is not None else list(self.nodes.values())
        node_list = [n for n in all_nodes if schedulable(n)]
        count = len(node_list)
        demand = {
            c.id: nodes_for_percentage(self.client_demand.get(c.id, float(c.max_resources)), count)
            for c in client_list
        }
        running_nodes, busy = _running_nodes(node_list, jobs)
        book = self.quota_book(client_list, count, {}, demand)
        allocations = _report(book, book.allocate(demand), node_list, running_nodes, busy)
        self.allocations = allocations
        if self.audit_logger is not None:
            self.audit_logger.log_event(
                "resources_allocated",
                f"Resources allocated among {len(allocations)} client(s) on {count} node(s)",
                allocations={
                    cid: round(a.allocated_percentage, 3) for cid, a in allocations.items()
                },
                nodes=count,
                log_level="debug",
            )
        return allocations

    # -- borrowing questions -------------------------------------------------------------------

    def can_borrow_resources(
        self, from_client: AnyClient | str, to_client: AnyClient | str, amount: float
    ) -> bool:
        """Could ``to_client`` borrow ``amount`` percent of the farm from ``from_client`` now,
        given the current allocations (:attr:`allocations`)?

        Either client may be given as a registered client object or its id; an unregistered
        one raises :class:`UnknownClientError`. ``amount`` must be a finite real number
        (not a bool), else :class:`InvalidInputError`. True when borrowing is allowed, the two
        differ, ``amount`` > 0, the lender has nothing waiting (its demand is covered), the
        amount fits in ``borrowing_limit_percentage`` of the lender's idle guarantee less what it
        already lends, and the borrower stays within its ceiling.
        """
        lender = self._resolve(from_client, "from_client")
        borrower = self._resolve(to_client, "to_client")
        value = _finite_number(amount, "amount")
        if not self.allow_borrowing or value <= 0 or lender.id == borrower.id:
            return False
        guarantees = scaled_guarantees(
            {c.id: float(c.guaranteed_resources) for c in self.clients.values()}
        )
        lender_demand = self.client_demand.get(lender.id, float(lender.max_resources))
        lender_allocation = self.allocations.get(lender.id)
        lender_used = (
            lender_allocation.allocated_percentage
            if lender_allocation is not None
            else min(lender_demand, float(lender.max_resources))
        )
        if lender_demand > lender_used + _EPS:
            return False  # work waiting: its idle guarantee is kept for it
        idle = max(0.0, guarantees[lender.id] - lender_used)
        available = idle * self.borrowing_limit_percentage / 100.0
        available -= self.get_lent_percentage(lender.id)
        if value > available + _EPS:
            return False
        current = self.allocations.get(borrower.id)
        borrower_now = current.allocated_percentage if current else guarantees[borrower.id]
        return borrower_now + value <= float(borrower.max_resources) + _EPS

    def _resolve(self, client: object, argument: str) -> AnyClient:
        if isinstance(client, Client | RenderClient):
            client_id = client.id
        elif isinstance(client, str):
            client_id = client
        else:
            raise InvalidInputError(
                f"{argument} must be a client or a client id, got {type(client).__name__}",
                field=argument,
            )
        registered = self.clients.get(client_id)
        if registered is None:
            raise UnknownClientError(client_id)
        return registered

    def calculate_resource_usage(
        self, client_id: str, jobs: Iterable[RenderJob], nodes: Iterable[RenderNode]
    ) -> float:
        """Percent of the online farm running ``client_id``'s jobs."""
        node_list = list(nodes)
        online = [n for n in node_list if n.status == NodeStatus.ONLINE]
        if not online:
            return 0.0
        running_ids = {
            j.id for j in jobs if j.client_id == client_id and j.status == RenderJobStatus.RUNNING
        }
        busy = sum(1 for n in online if n.current_job_id in running_ids)
        return 100.0 * busy / len(online)

    def get_borrowed_percentage(self, client_id: str) -> float:
        allocation = self.allocations.get(client_id)
        return allocation.borrowed_percentage if allocation else 0.0

    def get_lent_percentage(self, client_id: str) -> float:
        allocation = self.allocations.get(client_id)
        return allocation.lent_percentage if allocation else 0.0

    def get_borrowed_from(self, client_id: str) -> dict[str, float]:
        allocation = self.allocations.get(client_id)
        return dict(allocation.borrowed_from) if allocation else {}

    def get_lent_to(self, client_id: str) -> dict[str, float]:
        allocation = self.allocations.get(client_id)
        return dict(allocation.lent_to) if allocation else {}


def _finite_number(value: object, argument: str, object_id: str | None = None) -> float:
    """``value`` as a float when it is a finite real number (not a bool); else
    :class:`InvalidInputError` naming ``argument``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise InvalidInputError(
            f"{argument} must be a number, got {type(value).__name__}",
            field=argument,
            object_id=object_id,
        )
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInputError(
            f"{argument} must be a finite number, got {value}", field=argument, object_id=object_id
        )
    return number


def _running_nodes(
    nodes: Sequence[RenderNode], jobs: Iterable[RenderJob] | None
) -> tuple[dict[str, list[str]], set[str]]:
    """Node ids running each client's jobs (running jobs by ``assigned_node_id``, or a node's
    ``current_job_id`` naming a running job), and every node that is busy (whoever's work)."""
    known = {node.id for node in nodes}
    busy = {node.id for node in nodes if node.current_job_id is not None}
    running = [j for j in jobs or () if j.status == RenderJobStatus.RUNNING]
    client_of_job = {j.id: j.client_id for j in running}
    result: dict[str, list[str]] = {}
    seen: set[str] = set()

    def claim(client_id: str, node_id: str) -> None:
        if node_id in known and node_id not in seen:
            seen.add(node_id)
            busy.add(node_id)
            result.setdefault(client_id, []).append(node_id)

    for job in running:
        if job.assigned_node_id is not None:
            claim(job.client_id, job.assigned_node_id)
    for node in nodes:
        if node.current_job_id is not None and node.current_job_id in client_of_job:
            claim(client_of_job[node.current_job_id], node.id)
    return result, busy


def _report(
    book: QuotaBook,
    allocation: NodeAllocation,
    nodes: Sequence[RenderNode],
    running_nodes: Mapping[str, Sequence[str]],
    busy: set[str],
) -> dict[str, ResourceAllocation]:
    """The reported allocation: ``allocation`` in percent of ``nodes``, with real node ids."""
    total = len(nodes)

    def pct(amount: float) -> float:
        return 100.0 * amount / total if total else 0.0

    assigned = _assign_nodes(allocation.nodes, [n.id for n in nodes], running_nodes, busy)
    reports: dict[str, ResourceAllocation] = {}
    for cid in book.quotas:
        borrowed_from = {
            lender: pct(amount) for lender, amount in allocation.borrowed_from[cid].items()
        }
        lent_to = {borrower: pct(amount) for borrower, amount in allocation.lent_to[cid].items()}
        reports[cid] = ResourceAllocation(
            client_id=cid,
            allocated_percentage=pct(len(assigned[cid])),
            allocated_nodes=assigned[cid],
            borrowed_percentage=sum(borrowed_from.values()),
            borrowed_from=borrowed_from,
            lent_percentage=sum(lent_to.values()),
            lent_to=lent_to,
        )
    return reports


def _assign_nodes(
    counts: Mapping[str, int],
    node_ids: Sequence[str],
    running_nodes: Mapping[str, Sequence[str]],
    busy: set[str],
) -> dict[str, list[str]]:
    """Name ``counts[c]`` distinct nodes for each client: the nodes running its work first,
    then free nodes, then nodes running work of clients beyond their allocation (the capacity
    to be reclaimed). ``sum(counts) <= len(node_ids)``."""
    known = set(node_ids)
    taken: set[str] = set()
    result: dict[str, list[str]] = {cid: [] for cid in counts}
    for cid, wanted in counts.items():
        for node_id in running_nodes.get(cid, ()):
            if len(result[cid]) >= wanted:
                break
            if node_id in known and node_id not in taken:
                taken.add(node_id)
                result[cid].append(node_id)
    claimed = {node_id for ids in running_nodes.values() for node_id in ids}
    occupied = busy | claimed
    spare = [n for n in node_ids if n not in taken and n not in occupied]
    spare += [n for n in node_ids if n not in taken and n in occupied]
    spare.reverse()
    for cid, wanted in counts.items():
        while len(result[cid]) < wanted and spare:
            result[cid].append(spare.pop())
    return result
