"""Per-client node quotas for one scheduling cycle (after Kubernetes' ElasticQuota).

Each client has a guaranteed share and a ceiling, in nodes of the schedulable farm. Guarantees that
add up to more than the farm are scaled down proportionally (:func:`scaled_guarantees`, the one
place that rule lives), then apportioned in whole nodes (:func:`whole_node_guarantees`). A client
may always run up to its guarantee. Beyond it, a client runs on capacity nobody is guaranteed (the
free pool) or, when borrowing is allowed, on up to ``borrowing_limit_percentage`` of the idle
guaranteed capacity of clients that have no work waiting. The idle guarantee of a client *with*
work waiting is never lent, so returning work finds its guarantee free.

The scheduler asks :meth:`QuotaBook.may_start` before each placement; what is *reported* about the
partition comes from :meth:`QuotaBook.allocate`, which grants whole nodes through that same
``may_start``/``started`` pair, so the report is exactly what the rules admit for that demand.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

_EPS = 1e-9


def scaled_guarantees(guarantees_pct: Mapping[str, float]) -> dict[str, float]:
    """Guarantees in percent of the farm, scaled down proportionally when they add up to more
    than 100% (so they then add up to exactly 100%); otherwise returned unchanged."""
    total = sum(guarantees_pct.values())
    scale = min(1.0, 100.0 / total) if total > 0 else 1.0
    return {client_id: float(g) * scale for client_id, g in guarantees_pct.items()}


def whole_node_guarantees(guarantees_pct: Mapping[str, float], nodes: int) -> dict[str, int]:
    """Guarantees in whole nodes of a farm of ``nodes``: each client's (scaled) share rounded to
    the nearest node (33% of 6 nodes is 2 nodes, 5% of 6 is none); when the rounding adds up to
    more than the farm, the shares rounded up the most give their extra node back first (ties:
    the later client). The nodes left over are the free pool anyone may use beyond a guarantee,
    so no node is left that nobody may use while everyone waits."""
    exact = {c: g * nodes / 100.0 for c, g in scaled_guarantees(guarantees_pct).items()}
    whole = {c: math.floor(x + 0.5 + _EPS) for c, x in exact.items()}
    excess = sum(whole.values()) - nodes
    if excess > 0:
        order = {c: i for i, c in enumerate(exact)}
        rounded_up = [c for c in exact if whole[c] > exact[c] + _EPS]
        rounded_up.sort(key=lambda c: (exact[c] - whole[c], -order[c]))
        for client_id in rounded_up[:excess]:
            whole[client_id] -= 1
    return whole


def nodes_for_percentage(percentage: float, nodes: int) -> int:
    """Whole nodes needed to cover ``percentage`` percent of ``nodes`` (rounded up, at most
    ``nodes``)."""
    if nodes <= 0 or percentage <= 0:
        return 0
    return min(nodes, math.ceil(percentage * nodes / 100.0 - _EPS))


def ceiling_nodes_for(ceiling_pct: float, nodes: int) -> int:
    """A ceiling in whole nodes: rounded up, and at least one node for any positive ceiling."""
    ceiling = math.ceil(ceiling_pct * nodes / 100.0 - _EPS)
    if ceiling_pct > 0:
        ceiling = max(1, ceiling)
    return ceiling


@dataclass
class ClientQuota:
    client_id: str
    guaranteed_nodes: float
    ceiling_nodes: int
    running: int = 0
    waiting: int = 0


@dataclass(frozen=True)
class NodeAllocation:
    """Whole nodes per client for some demand, and how the part beyond each guarantee is
    covered (amounts in nodes; fractional where guarantees are)."""

    nodes: dict[str, int]
    """Nodes granted to each client."""
    demand: dict[str, int]
    """The demand (nodes) the allocation was made for."""
    from_pool: dict[str, float]
    """Beyond-guarantee nodes each client runs on capacity nobody is guaranteed."""
    borrowed_from: dict[str, dict[str, float]]
    """borrower → lender → nodes borrowed from the lender's idle guarantee."""
    lent_to: dict[str, dict[str, float]]
    """lender → borrower → nodes lent (the mirror image of ``borrowed_from``)."""


@dataclass
class QuotaBook:
    quotas: dict[str, ClientQuota]
    schedulable_nodes: int
    allow_borrowing: bool
    borrowing_limit_percentage: float
    free_pool_nodes: float = field(init=False)

    _beyond: float = field(init=False, default=0.0)
    """Nodes run beyond guarantees, over all clients (kept up to date by started/stopped)."""
    _idle: float = field(init=False, default=0.0)
    """Idle guaranteed nodes of clients with nothing waiting (likewise)."""

    def __post_init__(self) -> None:
        guaranteed = sum(q.guaranteed_nodes for q in self.quotas.values())
        self.free_pool_nodes = max(0.0, self.schedulable_nodes - guaranteed)
        for quota in self.quotas.values():
            beyond, idle = _contribution(quota)
            self._beyond += beyond
            self._idle += idle

    @classmethod
    def build(
        cls,
        guarantees_pct: Mapping[str, float],
        ceilings_pct: Mapping[str, float],
        schedulable_nodes: int,
        running: Mapping[str, int],
        waiting: Mapping[str, int],
        allow_borrowing: bool = True,
        borrowing_limit_percentage: float = 50.0,
    ) -> QuotaBook:
        guarantees = whole_node_guarantees(guarantees_pct, schedulable_nodes)
        quotas = {}
        for client_id, guarantee in guarantees.items():
            quotas[client_id] = ClientQuota(
                client_id=client_id,
                guaranteed_nodes=float(guarantee),
                ceiling_nodes=ceiling_nodes_for(
                    ceilings_pct.get(client_id, 100.0), schedulable_nodes
                ),
                running=running.get(client_id, 0),
                waiting=waiting.get(client_id, 0),
            )
        return cls(quotas, schedulable_nodes, allow_borrowing, borrowing_limit_percentage)

    # -- questions -----------------------------------------------------------------------------

    def below_guarantee(self, client_id: str) -> bool:
        quota = self.quotas.get(client_id)
        return quota is not None and quota.running < quota.guaranteed_nodes

    def over_guarantee(self, client_id: str) -> bool:
        quota = self.quotas.get(client_id)
        return (
            quota is not None
            and quota.running >= quota.guaranteed_nodes + 1e-9
            and (quota.running > 0)
        )

    def lendable_nodes(self) -> float:
        """Idle guaranteed capacity that clients with nothing waiting lend out."""
        if not self.allow_borrowing:
            return 0.0
        return self.borrowing_limit_percentage / 100.0 * self._idle

    def may_start(self, client_id: str) -> bool:
        """May the client start one more job now?"""
        quota = self.quotas.get(client_id)
        if quota is None:
            return False
        # Never above the client's ceiling.
        if quota.running + 1 > quota.ceiling_nodes:
            return False
        # Always up to its guarantee.
        if quota.running + 1 <= quota.guaranteed_nodes + 1e-9:
            return True
        # Beyond it: on the free pool, or on what idle clients lend.
        g = quota.guaranteed_nodes
        extra = max(0.0, quota.running + 1 - g) - max(0.0, quota.running - g)
        needed = self._beyond + extra
        return needed <= self.free_pool_nodes + self.lendable_nodes() + 1e-9

    def demand(self) -> dict[str, int]:
        """Nodes each client wants this cycle: what it runs plus what it has waiting."""
        return {cid: max(0, q.running) + max(0, q.waiting) for cid, q in self.quotas.items()}

    # -- the allocation the rules admit --------------------------------------------------------

    def with_demand(self, demand: Mapping[str, int] | None = None) -> QuotaBook:
        """A new book with the same quotas and settings, nobody running, and ``demand`` (nodes
        per client; default: this book's :meth:`demand`) waiting. This book is not changed."""
        wanted = self.demand() if demand is None else demand
        quotas = {
            cid: ClientQuota(
                client_id=cid,
                guaranteed_nodes=q.guaranteed_nodes,
                ceiling_nodes=q.ceiling_nodes,
                running=0,
                waiting=max(0, int(wanted.get(cid, 0))),
            )
            for cid, q in self.quotas.items()
        }
        return QuotaBook(
            quotas, self.schedulable_nodes, self.allow_borrowing, self.borrowing_limit_percentage
        )

    def allocate(self, demand: Mapping[str, int] | None = None) -> NodeAllocation:
        """Whole nodes per client for ``demand`` (default: running + waiting of each client), by
        exactly the rules :meth:`may_start` enforces. Pure: this book is not changed.

        Starting from an empty farm (:meth:`with_demand`), nodes are granted one at a time
        through :meth:`may_start`/:meth:`started`, at most ``schedulable_nodes`` in all, in this
        fair order:

        1. every client, up to its guarantee in whole nodes (these starts are always allowed);
        2. then, repeatedly, the client that may start one more: clients still below their
           (fractional) guarantee first, then the one least beyond its guarantee, ties in the
           order of :attr:`quotas`.

        So guarantees come first, then the free pool and what idle clients lend are shared
        out evenly (water-filling) among the clients that want more.
        """
        book = self.with_demand(demand)
        wanted = {cid: q.waiting for cid, q in book.quotas.items()}
        order = list(book.quotas)
        rank = {cid: i for i, cid in enumerate(order)}
        granted = 0
        # 1. Whole-node guarantees: may_start admits these whatever anybody else does.
        for cid in order:
            quota = book.quotas[cid]
            while (
                granted < book.schedulable_nodes
                and quota.waiting > 0
                and quota.running + 1 <= quota.guaranteed_nodes + _EPS
                and book.may_start(cid)
            ):
                book.started(cid)
                granted += 1
        # 2. The rest, one node at a time. After step 1 nobody who still waits can become a
        # lender, so the capacity beyond guarantees no longer grows while what it must cover
        # does: a client refused once is refused for good and leaves the race.
        # A client's place in the order depends on its own quota only: a heap keeps it.
        active = [(book._fair_key(cid, rank[cid]), cid) for cid in order]
        active = [entry for entry in active if book.quotas[entry[1]].waiting > 0]
        heapq.heapify(active)
        while granted < book.schedulable_nodes and active:
            _, cid = heapq.heappop(active)
            if book.may_start(cid):
                book.started(cid)
                granted += 1
                if book.quotas[cid].waiting > 0:
                    heapq.heappush(active, (book._fair_key(cid, rank[cid]), cid))
        return book._settle(wanted)

    def _fair_key(self, client_id: str, rank: int) -> tuple[bool, float, int]:
        quota = self.quotas[client_id]
        beyond = max(0.0, quota.running - quota.guaranteed_nodes)
        return (not self.below_guarantee(client_id), beyond, rank)

    def _settle(self, wanted: dict[str, int]) -> NodeAllocation:
        """Who covers what the clients run beyond their guarantees, in this book's state: the
        free pool first (shared out evenly), the rest borrowed from clients with idle guarantee
        and nothing waiting, from each in proportion to what it lends."""
        beyond = {
            cid: max(0.0, q.running - q.guaranteed_nodes)
            for cid, q in self.quotas.items()
            if q.running - q.guaranteed_nodes > _EPS
        }
        from_pool = _share_out(self.free_pool_nodes, beyond)
        borrowed_from: dict[str, dict[str, float]] = {cid: {} for cid in self.quotas}
        lent_to: dict[str, dict[str, float]] = {cid: {} for cid in self.quotas}
        share = self.borrowing_limit_percentage / 100.0 if self.allow_borrowing else 0.0
        lenders = {
            cid: share * (q.guaranteed_nodes - q.running)
            for cid, q in self.quotas.items()
            if q.waiting <= 0 and share * (q.guaranteed_nodes - q.running) > _EPS
        }
        total_lendable = sum(lenders.values())
        for borrower, amount in beyond.items():
            borrowed = amount - from_pool.get(borrower, 0.0)
            if borrowed <= _EPS or total_lendable <= _EPS:
                continue
            for lender, lendable in lenders.items():
                part = borrowed * lendable / total_lendable
                borrowed_from[borrower][lender] = part
                lent_to[lender][borrower] = part
        return NodeAllocation(
            nodes={cid: q.running for cid, q in self.quotas.items()},
            demand=dict(wanted),
            from_pool={cid: from_pool.get(cid, 0.0) for cid in self.quotas},
            borrowed_from=borrowed_from,
            lent_to=lent_to,
        )

    # -- bookkeeping ---------------------------------------------------------------------------

    def started(self, client_id: str) -> None:
        quota = self.quotas[client_id]
        self._forget(quota)
        quota.running += 1
        quota.waiting = max(0, quota.waiting - 1)
        self._count(quota)

    def withdrawn(self, client_id: str) -> None:
        """One of the client's waiting jobs wants no node this cycle (it is held back for
        cheaper power): with nothing else waiting, its idle guarantee may be lent."""
        quota = self.quotas.get(client_id)
        if quota is None or quota.waiting <= 0:
            return
        self._forget(quota)
        quota.waiting -= 1
        self._count(quota)

    def stopped(self, client_id: str, still_waiting: bool = True) -> None:
        quota = self.quotas[client_id]
        self._forget(quota)
        quota.running = max(0, quota.running - 1)
        if still_waiting:
            quota.waiting += 1
        self._count(quota)

    def _forget(self, quota: ClientQuota) -> None:
        beyond, idle = _contribution(quota)
        self._beyond -= beyond
        self._idle -= idle

    def _count(self, quota: ClientQuota) -> None:
        beyond, idle = _contribution(quota)
        self._beyond += beyond
        self._idle += idle


def _contribution(quota: ClientQuota) -> tuple[float, float]:
    """(nodes the client runs beyond its guarantee, its idle guaranteed nodes if it has
    nothing waiting)."""
    beyond = max(0.0, quota.running - quota.guaranteed_nodes)
    idle = max(0.0, quota.guaranteed_nodes - quota.running) if quota.waiting <= 0 else 0.0
    return beyond, idle


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
