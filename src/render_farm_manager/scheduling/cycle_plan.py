"""What one scheduling cycle decided: new placements, preemptions and energy deferrals."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from render_farm_manager.core.work import UnitOfWork, remaining_hours
from render_farm_manager.resource_management.quota_book import QuotaBook
from render_farm_manager.scheduling.limits import LimitBook
from render_farm_manager.scheduling.locality import Locality
from render_farm_manager.scheduling.node_pools import HoursLeft, NodePool
from render_farm_manager.scheduling.pool_ranking import PoolRanker
from render_farm_manager.scheduling.scarce import ScarceGuard


@dataclass(frozen=True)
class Preemption:
    victim_job_id: str
    node_id: str
    for_job_id: str
    reason: str
    """``deadline`` (the job would miss it), ``emergency`` or ``reclaim`` (a client's guarantee)."""


@dataclass
class CyclePlan:
    assignments: dict[str, str] = field(default_factory=dict)
    """New placements, job id → node id (including those made possible by preemption)."""
    preemptions: list[Preemption] = field(default_factory=list)
    deferred: dict[str, datetime] = field(default_factory=dict)
    """Jobs held back for cheaper electricity, with when they should start."""
    waiting_for_faster: list[str] = field(default_factory=list)
    """Jobs left waiting because a busy, faster node is expected to finish them sooner."""
    examined: int = 0


@dataclass
class CycleInputs:
    """Everything the decision core needs for one cycle; it reads nothing else."""

    order: Iterable[UnitOfWork]
    """Eligible waiting work in scheduling order."""
    pools: list[NodePool]
    ranker: PoolRanker
    now: datetime
    margin_seconds: float
    rank_of: Callable[[UnitOfWork], int]
    """Effective rank of a job at ``now`` (inheritance and urgency included)."""
    latest_start_of: Callable[[UnitOfWork], float]
    starving: Callable[[UnitOfWork], bool] = lambda job: False
    """Has the work waited so long that the starvation guard serves it whatever its level?"""
    quotas: QuotaBook | None = None
    limits: LimitBook | None = None
    """Counted resources and machine limits that running work holds."""
    deferral: Callable[[UnitOfWork, datetime, float], datetime | None] | None = None
    """Energy deferral: (job, now, hours the farm needs for the work queued ahead) → start."""
    running_by_node: Mapping[str, UnitOfWork] = field(default_factory=dict)
    speed_of: Callable[[UnitOfWork, NodePool], float] = lambda job, pool: 1.0
    """Expected speed of a job type on a pool's hardware class (learned; 1.0 = the estimate)."""
    hours_left: HoursLeft = lambda job, node: remaining_hours(job)
    """Expected hours for the rest of a running job on its node (when the node frees up)."""
    discard_ratio: float = 1.0
    """A deadline rescue may throw away at most this many hours of running work per hour of
    work it saves."""
    preemption_enabled: bool = False
    reclaim_enabled: bool = False
    reclaim_grace_seconds: float = 1800.0
    """A guarantee is reclaimed by preemption only when no fitting node frees up sooner."""
    queued_hours: float = 0.0
    """All work waiting in the queue (reference hours): energy deferral assumes it all runs
    before the deferred job, so that deferred work never piles onto the cheap hours."""
    earliest_finish: bool = False
    """Place by earliest expected finish, letting work wait for faster busy hardware."""
    scarce: ScarceGuard | None = None
    """Keeps GPU and large-memory nodes for the work that needs them (:mod:`.scarce`)."""
    locality: Locality | None = None
    """Which scene each node holds, and each scene's waiting work (:mod:`.locality`)."""
    max_preemptions: int = 32
    scan_limit: int = 512
    """How many jobs past a full farm are examined for preemption."""
