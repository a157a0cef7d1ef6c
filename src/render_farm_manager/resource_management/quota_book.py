"""Per-client node quotas for one scheduling cycle (after Kubernetes' ElasticQuota).

Each client has a guaranteed share and a ceiling, in nodes of the schedulable farm. Guarantees that
add up to more than the farm are scaled down proportionally. A client may always run up to its
guarantee. Beyond it, a client runs on capacity nobody is guaranteed (the free pool) or, when
borrowing is allowed, on up to ``borrowing_limit_percentage`` of the idle guaranteed capacity of
clients that have no work waiting. The idle guarantee of a client *with* work waiting is never lent,
so returning work finds its guarantee free.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class ClientQuota:
    client_id: str
    guaranteed_nodes: float
    ceiling_nodes: int
    running: int = 0
    waiting: int = 0


@dataclass
class QuotaBook:
    quotas: dict[str, ClientQuota]
    schedulable_nodes: int
    allow_borrowing: bool
    borrowing_limit_percentage: float
    free_pool_nodes: float = field(init=False)

    def __post_init__(self) -> None:
        guaranteed = sum(q.guaranteed_nodes for q in self.quotas.values())
        self.free_pool_nodes = max(0.0, self.schedulable_nodes - guaranteed)

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
        total_pct = sum(guarantees_pct.values())
        scale = min(1.0, 100.0 / total_pct) if total_pct > 0 else 1.0
        quotas = {}
        for client_id, guarantee in guarantees_pct.items():
            ceiling_pct = ceilings_pct.get(client_id, 100.0)
            ceiling = math.ceil(ceiling_pct * schedulable_nodes / 100.0 - 1e-9)
            if ceiling_pct > 0:
                ceiling = max(1, ceiling)
            quotas[client_id] = ClientQuota(
                client_id=client_id,
                guaranteed_nodes=guarantee * scale * schedulable_nodes / 100.0,
                ceiling_nodes=ceiling,
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

    def _beyond_guarantee_total(self) -> float:
        return sum(max(0.0, q.running - q.guaranteed_nodes) for q in self.quotas.values())

    def lendable_nodes(self) -> float:
        """Idle guaranteed capacity that clients with nothing waiting lend out."""
        if not self.allow_borrowing:
            return 0.0
        share = self.borrowing_limit_percentage / 100.0
        return sum(
            share * max(0.0, q.guaranteed_nodes - q.running)
            for q in self.quotas.values()
            if q.waiting <= 0
        )

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
        needed = self._beyond_guarantee_total() + extra
        return needed <= self.free_pool_nodes + self.lendable_nodes() + 1e-9

    # -- bookkeeping ---------------------------------------------------------------------------

    def started(self, client_id: str) -> None:
        quota = self.quotas[client_id]
        quota.running += 1
        quota.waiting = max(0, quota.waiting - 1)

    def stopped(self, client_id: str, still_waiting: bool = True) -> None:
        quota = self.quotas[client_id]
        quota.running = max(0, quota.running - 1)
        if still_waiting:
            quota.waiting += 1
