"""Energy- and cost-aware decisions: tariffs, efficient-node preference, deferral of
energy-intensive work to cheaper hours when its slack allows, power-down advice, kWh accounting."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from render_farm_manager.core.clock import Clock, as_clock, hours_between
from render_farm_manager.core.interfaces import (
    AuditLoggerInterface,
    EnergyOptimizerInterface,
    PerformanceMonitorInterface,
)
from render_farm_manager.core.models import (
    MAX_HOURS,
    PRIORITY_RANK,
    EnergyMode,
    JobPriority,
    NodeStatus,
    RenderJob,
    RenderNode,
)
from render_farm_manager.core.validation import setting
from render_farm_manager.core.work import UnitOfWork, remaining_hours
from render_farm_manager.energy_optimization.power_model import node_power
from render_farm_manager.energy_optimization.tariff import TimeOfUseTariff
from render_farm_manager.node_specialization.fit import fits, hardware_misfit

ENERGY_WEIGHT_BY_MODE: dict[EnergyMode, float] = {
    EnergyMode.PERFORMANCE: 0.0,
    EnergyMode.BALANCED: 0.1,
    EnergyMode.EFFICIENCY: 0.35,
    EnergyMode.NIGHT_SAVINGS: 0.25,
}
"""Share of a node's match score that its power efficiency carries, by mode."""

SLEEP_SHARE_OF_IDLE = 0.05
"""A powered-down (offline) node still draws about 5% of its idle power."""


@dataclass(frozen=True)
class PowerDownAdvice:
    node_id: str
    wake_by: datetime | None
    """When the node must be awake again for deferred work, or None (wake on demand)."""
    reason: str


class EnergyOptimizer(EnergyOptimizerInterface):
    def __init__(
        self,
        audit_logger: AuditLoggerInterface | None = None,
        performance_monitor: PerformanceMonitorInterface | None = None,
        peak_hours_start: time = time(8, 0),
        peak_hours_end: time = time(20, 0),
        peak_energy_cost: float = 0.15,
        off_peak_energy_cost: float = 0.08,
        current_energy_mode: EnergyMode = EnergyMode.BALANCED,
        tariff: TimeOfUseTariff | None = None,
        deadline_safety_margin_hours: float = 2.0,
        clock: Clock | Callable[[], datetime] | None = None,
        wake_up_minutes: float = 10.0,
        deferral_headroom: float = 0.5,
    ) -> None:
        self.deferral_headroom = setting(
            deferral_headroom, "deferral_headroom", maximum=1.0, above_minimum=True
        )
        self.audit_logger = audit_logger
        self.performance_monitor = performance_monitor
        self.peak_hours_start = peak_hours_start
        self.peak_hours_end = peak_hours_end
        self.peak_energy_cost = setting(peak_energy_cost, "peak_energy_cost")
        self.off_peak_energy_cost = setting(off_peak_energy_cost, "off_peak_energy_cost")
        self.tariff = (
            tariff
            if tariff is not None
            else TimeOfUseTariff.peak_off_peak(
                peak_hours_start, peak_hours_end, peak_energy_cost, off_peak_energy_cost
            )
        )
        self.current_energy_mode = EnergyMode(current_energy_mode)
        self.deadline_safety_margin_hours = setting(
            deadline_safety_margin_hours, "deadline_safety_margin_hours", maximum=MAX_HOURS
        )
        self.clock = as_clock(clock)
        self.wake_up_minutes = setting(wake_up_minutes, "wake_up_minutes", maximum=24 * 60)
        self._lock = threading.Lock()
        self.total_kwh = 0.0
        self.total_cost = 0.0
        self.kwh_by_hour: dict[int, float] = defaultdict(float)
        self.cost_by_hour: dict[int, float] = defaultdict(float)

    def use_clock(self, clock: Clock) -> None:
        self.clock = clock

    def next_price_change(self, moment: datetime) -> datetime | None:
        return self.tariff.next_change(moment)

    # -- modes and prices ----------------------------------------------------------------------

    def set_energy_mode(self, mode: EnergyMode | str) -> EnergyMode:
        """Switch mode; returns the previous one."""
        new_mode = EnergyMode(mode)
        old_mode = self.current_energy_mode
        self.current_energy_mode = new_mode
        return old_mode

    @property
    def energy_weight(self) -> float:
        return ENERGY_WEIGHT_BY_MODE[self.current_energy_mode]

    def get_time_of_day_energy_price(self, dt: datetime) -> float:
        return self.tariff.price_at(dt)

    def calculate_energy_cost(
        self, job: UnitOfWork, node: RenderNode, start_time: datetime, speed: float = 1.0
    ) -> float:
        """Cost of running the rest of ``job`` on ``node`` from ``start_time``."""
        hours = remaining_hours(job) / speed
        kw = node_power(node).busy_watts / 1000.0
        return self.tariff.cost(kw, start_time, start_time + timedelta(hours=hours))

    # -- deferral ------------------------------------------------------------------------------

    def _deferrable(self, job: UnitOfWork) -> bool:
        mode = self.current_energy_mode
        rank = PRIORITY_RANK[JobPriority(job.priority)]
        if job.emergency or rank >= PRIORITY_RANK[JobPriority.CRITICAL]:
            return False
        if mode == EnergyMode.PERFORMANCE:
            return False
        if mode == EnergyMode.BALANCED:
            return job.energy_intensive and rank == PRIORITY_RANK[JobPriority.LOW]
        if mode == EnergyMode.EFFICIENCY:
            return job.energy_intensive
        # night savings: everything energy-intensive, and all low-priority work
        return job.energy_intensive or rank == PRIORITY_RANK[JobPriority.LOW]

    def deferral_until(
        self,
        job: UnitOfWork,
        now: datetime,
        queue_wait_hours: float = 0.0,
        margin_hours: float | None = None,
    ) -> datetime | None:
        """When ``job`` should start instead of now to save energy cost, or None to start now.

        Only non-urgent work allowed by the current mode is deferred, only while a cheaper price
        is coming, and only when the job still finishes ``margin_hours`` (the scheduler's
        deadline safety margin; this optimizer's ``deadline_safety_margin_hours`` when used on
        its own) before its deadline after waiting for it *and* for ``queue_wait_hours``, the
        time the farm needs for the work queued ahead of it (so that deferred work does not all
        land on the cheap hours at once), using at most ``deferral_headroom`` of the time left
        (the rest is kept for work not yet submitted).
        """
        if not self._deferrable(job):
            return None
        tariff = self.tariff
        if tariff.price_at(now) <= tariff.min_price:
            return None
        cheap_start = tariff.next_cheapest_start(now)
        margin = self.deadline_safety_margin_hours if margin_hours is None else margin_hours
        needed = (max(0.0, queue_wait_hours) + remaining_hours(job)) / self.deferral_headroom
        finish = cheap_start + timedelta(hours=needed + margin)
        return cheap_start if finish <= job.deadline else None

    # -- placement -----------------------------------------------------------------------------

    def optimize_energy_usage(
        self, jobs: list[RenderJob], nodes: list[RenderNode]
    ) -> dict[str, str]:
        """Energy-aware placement: urgent work first onto the most efficient fitting free node;
        deferrable work is left for cheaper hours. Returns new assignments (job id → node id)."""
        now = self.clock.now()
        free = [
            n
            for n in nodes
            if n.status == NodeStatus.ONLINE and n.current_job_id is None and not n.draining
        ]
        free.sort(key=lambda n: (-n.power_efficiency_rating, node_power(n).busy_watts))
        order = sorted(
            (j for j in jobs if j.status in ("pending", "queued")),
            key=lambda j: (-PRIORITY_RANK[JobPriority(j.priority)], j.deadline),
        )
        assignments: dict[str, str] = {}
        taken: set[str] = set()
        for job in order:
            if self.deferral_until(job, now) is not None:
                continue
            for node in free:
                if node.id not in taken and fits(job, node):
                    assignments[job.id] = node.id
                    taken.add(node.id)
                    break
        return assignments

    def estimate_energy_savings(
        self, jobs: list[RenderJob], nodes: list[RenderNode]
    ) -> dict[str, float]:
        """Compare running every job now on an average node against the current mode's plan
        (deferral to cheaper hours, efficient nodes). In performance mode the scheduler pursues
        no savings, so none are reported."""
        now = self.clock.now()
        online = [n for n in nodes if n.status == NodeStatus.ONLINE] or list(nodes)
        result = {
            "baseline_kwh": 0.0,
            "optimized_kwh": 0.0,
            "baseline_cost": 0.0,
            "optimized_cost": 0.0,
        }
        if not online:
            return {**result, "savings": 0.0, "savings_percentage": 0.0}
        performance = self.current_energy_mode == EnergyMode.PERFORMANCE
        for job in jobs:
            candidates = [n for n in online if hardware_misfit(job, n.capabilities) is None]
            if not candidates:
                continue
            average_kw = sum(node_power(n).busy_watts for n in candidates) / len(candidates) / 1000
            hours = remaining_hours(job)
            result["baseline_kwh"] += average_kw * hours
            result["baseline_cost"] += self.tariff.cost(
                average_kw, now, now + timedelta(hours=hours)
            )
            if performance:  # the plan is the baseline
                result["optimized_kwh"] += average_kw * hours
                result["optimized_cost"] += self.tariff.cost(
                    average_kw, now, now + timedelta(hours=hours)
                )
                continue
            best = min(candidates, key=lambda n: node_power(n).busy_watts)
            start = self.deferral_until(job, now) or now
            best_kw = node_power(best).busy_watts / 1000.0
            result["optimized_kwh"] += best_kw * hours
            result["optimized_cost"] += self.tariff.cost(
                best_kw, start, start + timedelta(hours=hours)
            )
        savings = result["baseline_cost"] - result["optimized_cost"]
        percentage = 100.0 * savings / result["baseline_cost"] if result["baseline_cost"] else 0.0
        return {**result, "savings": savings, "savings_percentage": percentage}

    def power_down_candidates(
        self,
        nodes: list[RenderNode],
        waiting_jobs: Iterable[UnitOfWork],
        now: datetime | None = None,
        keep_awake: int = 1,
        margin_hours: float | None = None,
    ) -> list[PowerDownAdvice]:
        """Idle online nodes that no waiting, non-deferred job can use, and when to wake them.

        ``keep_awake`` idle nodes (the most efficient ones) stay on for emergencies.
        """
        now = now or self.clock.now()
        runnable: list[UnitOfWork] = []
        deferred: list[tuple[UnitOfWork, datetime]] = []
        for job in waiting_jobs:
            start = self.deferral_until(job, now, margin_hours=margin_hours)
            if start is None:
                runnable.append(job)
            else:
                deferred.append((job, start))
        idle = [
            n
            for n in nodes
            if n.status == NodeStatus.ONLINE and n.current_job_id is None and not n.draining
        ]
        idle.sort(key=lambda n: -n.power_efficiency_rating)
        advice: list[PowerDownAdvice] = []
        for node in idle[keep_awake:]:
            if any(hardware_misfit(j, node.capabilities) is None for j in runnable):
                continue
            wake_times = [
                start for j, start in deferred if hardware_misfit(j, node.capabilities) is None
            ]
            wake_by = (
                min(wake_times) - timedelta(minutes=self.wake_up_minutes) if wake_times else None
            )
            reason = (
                "deferred work fits it at the cheaper price"
                if wake_by
                else "no waiting work fits it"
            )
            advice.append(PowerDownAdvice(node.id, wake_by, reason))
        return advice

    # -- accounting ----------------------------------------------------------------------------

    def node_draw_watts(self, node: RenderNode) -> float:
        power = node_power(node)
        if node.status in (NodeStatus.OFFLINE, NodeStatus.MAINTENANCE):
            return power.idle_watts * SLEEP_SHARE_OF_IDLE
        if node.current_job_id is not None:
            return power.busy_watts
        return power.idle_watts

    def measure_usage(
        self, nodes: Iterable[RenderNode], start: datetime, end: datetime
    ) -> tuple[float, float]:
        """(kWh, cost) that ``nodes``, as they are now, drew between ``start`` and ``end``."""
        hours = hours_between(start, end)
        if hours <= 0:
            return 0.0, 0.0
        kw = sum(self.node_draw_watts(n) for n in nodes) / 1000.0
        return kw * hours, self.tariff.cost(kw, start, end)

    def add_usage(self, kwh: float, cost: float, start: datetime) -> None:
        """Account measured usage (booked to the hour of day it started in)."""
        with self._lock:
            self.total_kwh += kwh
            self.total_cost += cost
            self.kwh_by_hour[start.hour] += kwh
            self.cost_by_hour[start.hour] += cost
