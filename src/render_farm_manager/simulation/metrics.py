"""What a simulation measures, from ground truth the scheduler never sees."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

NIGHT_HOURS = frozenset(range(7)) | frozenset({21, 22, 23})
"""Overnight: 21:00-07:00."""


@dataclass
class PolicyResult:
    """One policy's figures on one workload."""

    policy: str
    jobs_total: int = 0
    completed_on_time: int = 0
    completed_late: int = 0
    failed: int = 0
    cancelled: int = 0
    unfinished: int = 0
    feasible_total: int = 0
    feasible_on_time: int = 0
    on_time_rate: float = 0.0
    feasible_on_time_rate: float = 0.0
    mean_tardiness_hours: float = 0.0
    p95_tardiness_hours: float = 0.0
    turnaround_mean_hours: float = 0.0
    """Submission to completion, over the jobs completed."""
    turnaround_p95_hours: float = 0.0
    utilization: float = 0.0
    """Busy node-hours over busy node-hours plus the hours a node sat idle while work it could
    run waited and was allowed to start (:mod:`~render_farm_manager.simulation.idle_time`)."""
    idle_hours: dict[str, float] = field(default_factory=dict)
    """Idle node-hours of awake nodes by reason (``runnable``: owed; ``deferred``, ``faster``:
    by choice; ``quota``: by contract; ``no_work``)."""
    longest_owed_idle_hours: float = 0.0
    """The longest stretch any node sat idle while work it could run waited and may start."""
    longest_wait_hours_by_priority: dict[str, float] = field(default_factory=dict)
    """Per priority, the longest a job waited from submission to its first start (to the end
    of the run for a job never started): starvation shows here."""
    overall_utilization: float = 0.0
    """Busy node-hours over online node-hours, whatever waited."""
    busy_node_hours: float = 0.0
    awake_node_hours: float = 0.0
    """Online, awake node-hours: busy plus every idle reason."""
    render_efficiency: float = 0.0
    """Best possible node-hours for the completed jobs over the node-hours they used."""
    guarantee_shortfall_client_hours: float = 0.0
    scarce_node_hours_misused: float = 0.0
    """GPU and large-memory node-hours spent on work that needed neither while as much work
    that needed them waited (:mod:`~render_farm_manager.simulation.scarce`)."""
    first_preview_fraction_mean: float | None = None
    """First preview after the job's first start, as a share of its time from start to end."""
    first_preview_fraction_p95: float | None = None
    first_preview_from_submit_mean: float | None = None
    """First preview after submission (queue time included), as a share of its turnaround."""
    first_preview_from_submit_p95: float | None = None
    first_preview_from_submit_hours_mean: float | None = None
    preview_overhead_percentage: float = 0.0
    energy_kwh: float = 0.0
    energy_cost: float = 0.0
    overnight_kwh: float = 0.0
    overnight_cost: float = 0.0
    task_starts: int = 0
    """Attempts of shot tasks started on a node."""
    cold_starts: int = 0
    """Of those, the ones whose node had last worked on another shot or step (or had slept,
    failed or just joined): they load the scene first."""
    cold_start_share: float = 0.0
    scene_load_node_hours: float = 0.0
    """Node-hours spent loading scenes (shot tasks and single jobs)."""
    preemptions: int = 0
    requeues: int = 0
    work_lost_to_failures_node_hours: float = 0.0
    work_lost_to_preemption_node_hours: float = 0.0
    deferred_jobs: int = 0
    deferred_then_late: int = 0
    scheduler_cpu_seconds: float = 0.0
    scheduler_overhead: float = 0.0
    """Scheduler CPU time over total render time."""
    cycles: int = 0
    simulated_hours: float = 0.0
    """The horizon every policy is measured over (energy included), whenever its work ended."""
    last_completion_hours: float = 0.0
    kwh_by_hour: list[float] = field(default_factory=lambda: [0.0] * 24)
    cost_by_hour: list[float] = field(default_factory=lambda: [0.0] * 24)
    utilization_by_client: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    """Client id → (hour, share of online nodes running its work) samples."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


class Integrals:
    """Time integrals accumulated between events."""

    def __init__(self) -> None:
        self.idle: dict[str, float] = defaultdict(float)
        self.busy = 0.0
        self.online = 0.0
        self.kwh = 0.0
        self.cost = 0.0
        self.overnight_kwh = 0.0
        self.overnight_cost = 0.0
        self.kwh_by_hour = [0.0] * 24
        self.cost_by_hour = [0.0] * 24
        self.shortfall = 0.0
        self.scarce_misused = 0.0
        self.utilization_by_client: dict[str, list[tuple[float, float]]] = defaultdict(list)

    def add_energy(self, hour_of_day: int, kwh: float, price: float) -> None:
        self.kwh += kwh
        self.cost += kwh * price
        self.kwh_by_hour[hour_of_day] += kwh
        self.cost_by_hour[hour_of_day] += kwh * price
        if hour_of_day in NIGHT_HOURS:
            self.overnight_kwh += kwh
            self.overnight_cost += kwh * price
