"""Client partitioning: guaranteed minimums, ceilings, borrowing of idle capacity, reclaim."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from render_farm_manager.core.models import (
    AnyClient,
    NodeStatus,
    RenderJob,
    RenderJobStatus,
    RenderNode,
    ResourceAllocation,
)
from render_farm_manager.resource_management.quota_book import QuotaBook
from render_farm_manager.utils.logging import AuditLogger, PerformanceMonitor

_EPS = 1e-9


class ResourcePartitioner:
    """Partitions the farm among clients.

    * Guarantees (``guaranteed_resources``, percent of the farm) come first; when they add up to
      more than 100% they are scaled down proportionally.
    * ``max_resources`` is a hard ceiling.
    * With ``allow_borrowing``, a client with more demand than its guarantee may use capacity nobody
      is guaranteed, plus up to ``borrowing_limit_percentage`` percent of the idle guaranteed
      capacity of each client with nothing waiting. Without it, allocations are static:
      guarantee plus a share of the unguaranteed pool.
    * Reclaim: when a client below its guarantee has work waiting, lent capacity returns to it: by
      preemption of the borrower's work when ``reclaim_by_preemption`` is set and no fitting node
      is expected to free up within ``reclaim_grace_minutes`` (and the scheduler
      allows preemption), otherwise at the next node that frees up.
    """

    def __init__(
        self,
        audit_logger: AuditLogger | None = None,
        performance_monitor: PerformanceMonitor | None = None,
        allow_borrowing: bool = True,
        borrowing_limit_percentage: float = 50.0,
        reclaim_by_preemption: bool = True,
        reclaim_grace_minutes: float = 30.0,
    ) -> None:
        if not 0 <= borrowing_limit_percentage <= 100:
            raise ValueError(
                f"borrowing_limit_percentage must be within 0-100, got {borrowing_limit_percentage}"
            )
        self.audit_logger = audit_logger
        self.performance_monitor = performance_monitor
        self.allow_borrowing = allow_borrowing
        self.borrowing_limit_percentage = borrowing_limit_percentage
        self.reclaim_by_preemption = reclaim_by_preemption
        if reclaim_grace_minutes < 0:
            raise ValueError(f"reclaim_grace_minutes must be >= 0, got {reclaim_grace_minutes}")
        self.reclaim_grace_minutes = reclaim_grace_minutes
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
        """How much of the farm (percent) the client could use right now."""
        if demand_percentage < 0:
            raise ValueError(f"demand must be >= 0, got {demand_percentage}")
        self.client_demand[client_id] = demand_percentage

    # -- allocation ----------------------------------------------------------------------------

    def _scaled_guarantees(self, clients: Iterable[AnyClient]) -> dict[str, float]:
        raw = {c.id: float(c.guaranteed_resources) for c in clients}
        total = sum(raw.values())
        scale = min(1.0, 100.0 / total) if total > 0 else 1.0
        return {cid: g * scale for cid, g in raw.items()}

    def allocate_resources(
        self,
        clients: Iterable[AnyClient] | None = None,
        nodes: Iterable[RenderNode] | None = None,
        jobs: Iterable[RenderJob] | None = None,
    ) -> dict[str, ResourceAllocation]:
        """Share the farm (in percent) among clients according to guarantees, ceilings, demand
        and borrowing. A client without recorded demand is assumed to want its ceiling."""
        client_list = list(clients) if clients is not None else list(self.clients.values())
        node_list = list(nodes) if nodes is not None else list(self.nodes.values())
        guarantees = self._scaled_guarantees(client_list)
        ceilings = {c.id: float(c.max_resources) for c in client_list}
        demand = {
            c.id: min(ceilings[c.id], self.client_demand.get(c.id, ceilings[c.id]))
            for c in client_list
        }

        base = {cid: min(guarantees[cid], demand[cid]) for cid in guarantees}
        idle = {cid: guarantees[cid] - base[cid] for cid in guarantees}
        unmet = {cid: max(0.0, demand[cid] - base[cid]) for cid in guarantees}
        pool = max(0.0, 100.0 - sum(guarantees.values()))

        from_pool = _share_out(pool, unmet)
        for cid, amount in from_pool.items():
            unmet[cid] -= amount

        lent_to: dict[str, dict[str, float]] = {cid: {} for cid in guarantees}
        borrowed_from: dict[str, dict[str, float]] = {cid: {} for cid in guarantees}
        if self.allow_borrowing:
            limit = self.borrowing_limit_percentage / 100.0
            lendable = {cid: idle[cid] * limit for cid in guarantees if idle[cid] > _EPS}
            total_lendable = sum(lendable.values())
            granted = _share_out(total_lendable, unmet)
            for borrower, amount in granted.items():
                if amount <= _EPS:
                    continue
                for lender, available in lendable.items():
                    if lender == borrower:
                        continue
                    part = amount * available / total_lendable
                    borrowed_from[borrower][lender] = borrowed_from[borrower].get(lender, 0) + part
                    lent_to[lender][borrower] = lent_to[lender].get(borrower, 0) + part

        nodes_by_client = _nodes_by_client(node_list, jobs)
        allocations: dict[str, ResourceAllocation] = {}
        for cid in guarantees:
            borrowed = sum(borrowed_from[cid].values())
            lent = sum(lent_to[cid].values())
            allocations[cid] = ResourceAllocation(
                client_id=cid,
                allocated_percentage=base[cid] + from_pool.get(cid, 0.0) + borrowed,
                allocated_nodes=nodes_by_client.get(cid, []),
                borrowed_percentage=borrowed,
                borrowed_from=borrowed_from[cid],
                lent_percentage=lent,
                lent_to=lent_to[cid],
            )
        self.allocations = allocations
        if self.audit_logger is not None:
            self.audit_logger.log_event(
                "resources_allocated",
                f"Resources allocated among {len(allocations)} client(s)",
                allocations={
                    cid: round(a.allocated_percentage, 3) for cid, a in allocations.items()
                },
                log_level="debug",
            )
        return allocations

    def quota_book(
        self,
        clients: Iterable[AnyClient],
        schedulable_nodes: int,
        running: Mapping[str, int],
        waiting: Mapping[str, int],
    ) -> QuotaBook:
        """Node quotas for one scheduling cycle."""
        client_list = list(clients)
        return QuotaBook.build(
            {c.id: float(c.guaranteed_resources) for c in client_list},
            {c.id: float(c.max_resources) for c in client_list},
            schedulable_nodes,
            running,
            waiting,
            allow_borrowing=self.allow_borrowing,
            borrowing_limit_percentage=self.borrowing_limit_percentage,
        )

    # -- borrowing questions -------------------------------------------------------------------

    def can_borrow_resources(self, from_client: str, to_client: str, amount: float) -> bool:
        """Could ``to_client`` borrow ``amount`` percent of the farm from ``from_client`` now?"""
        if not self.allow_borrowing or amount <= 0 or from_client == to_client:
            return False
        lender = self.clients.get(from_client)
        borrower = self.clients.get(to_client)
        if lender is None or borrower is None:
            return False
        guarantees = self._scaled_guarantees(self.clients.values())
        lender_demand = self.client_demand.get(from_client, 0.0)
        idle = max(0.0, guarantees[from_client] - lender_demand)
        already_lent = self.get_lent_percentage(from_client)
        if amount > idle * self.borrowing_limit_percentage / 100.0 - already_lent + _EPS:
            return False
        current = self.allocations.get(to_client)
        borrower_now = current.allocated_percentage if current else guarantees[to_client]
        return borrower_now + amount <= float(borrower.max_resources) + _EPS

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


def _share_out(available: float, wants: Mapping[str, float]) -> dict[str, float]:
    """Split ``available`` among ``wants`` (water-filling: nobody gets more than it wants)."""
    shares = dict.fromkeys(wants, 0.0)
    remaining = available
    open_ids = [cid for cid, w in wants.items() if w > _EPS]
    while remaining > _EPS and open_ids:
        each = remaining / len(open_ids)
        still_open = []
        for cid in open_ids:
            take = min(each, wants[cid] - shares[cid])
            shares[cid] += take
            remaining -= take
            if wants[cid] - shares[cid] > _EPS:
                still_open.append(cid)
        open_ids = still_open
    return shares


def _nodes_by_client(
    nodes: list[RenderNode], jobs: Iterable[RenderJob] | None
) -> dict[str, list[str]]:
    """Node ids running each client's jobs (from the jobs' assignments)."""
    if jobs is None:
        return {}
    known = {node.id for node in nodes}
    result: dict[str, list[str]] = {}
    for job in jobs:
        if job.status == RenderJobStatus.RUNNING and job.assigned_node_id in known:
            result.setdefault(job.client_id, []).append(job.assigned_node_id)
    return result
