"""Prometheus metrics of one service (a registry of its own, so two apps in one process never
share series).

The scheduling loop observes the cycle time; everything else is read from the farm when
``/metrics`` is scraped, in one consistent view under the manager's lock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import (
    FINISHED_STATUSES,
    NodeStatus,
    RenderJobStatus,
    RenderTask,
)
from render_farm_manager.service.farm import FarmHolder

CYCLE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ServiceMetrics:
    def __init__(self, holder: FarmHolder) -> None:
        self.registry = CollectorRegistry()
        self.cycle_seconds = Histogram(
            "render_farm_scheduling_cycle_seconds",
            "Wall time of one scheduling cycle.",
            buckets=CYCLE_BUCKETS,
            registry=self.registry,
        )
        self.cycle_failures = PromCounter(
            "render_farm_scheduling_cycle_failures",
            "Scheduling cycles that raised (and changed nothing).",
            registry=self.registry,
        )
        self.registry.register(FarmCollector(holder))

    def observe_cycle(self, seconds: float, ok: bool) -> None:
        self.cycle_seconds.observe(seconds)
        if not ok:
            self.cycle_failures.inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class FarmCollector(Collector):
    """Reads the farm at scrape time."""

    def __init__(self, holder: FarmHolder) -> None:
        self.holder = holder

    def collect(self) -> Iterator[Metric]:
        manager = self.holder.manager
        up = GaugeMetricFamily("render_farm_up", "1 when the manager is open and scheduling.")
        up.add_metric([], 1.0 if manager is not None else 0.0)
        yield up
        if manager is not None:
            yield from farm_metrics(manager)

    def describe(self) -> Iterable[Metric]:
        return []  # the series depend on the farm's state: collected at scrape time only


def farm_metrics(manager: RenderFarmManager) -> Iterator[Metric]:
    with manager.lock:
        view = _farm_view(manager)
    queue = GaugeMetricFamily(
        "render_farm_queue_depth",
        "Units of work (jobs, tasks of shots) eligible to run and waiting for a node.",
        labels=["client_id"],
    )
    running = GaugeMetricFamily(
        "render_farm_running", "Units of work running now.", labels=["client_id"]
    )
    at_risk = GaugeMetricFamily(
        "render_farm_jobs_at_risk",
        "Unfinished jobs expected to miss their deadline (or already past it).",
        labels=["client_id"],
    )
    for client_id in view["clients"]:
        queue.add_metric([client_id], view["waiting"].get(client_id, 0))
        running.add_metric([client_id], view["running"].get(client_id, 0))
        at_risk.add_metric([client_id], view["at_risk"].get(client_id, 0))
    yield from (queue, running, at_risk)

    jobs = GaugeMetricFamily("render_farm_jobs", "Jobs by status.", labels=["status"])
    for status in RenderJobStatus:
        jobs.add_metric([status.value], view["jobs"].get(status.value, 0))
    nodes = GaugeMetricFamily("render_farm_nodes", "Nodes by status.", labels=["status"])
    for node_status in NodeStatus:
        nodes.add_metric([node_status.value], view["nodes"].get(node_status.value, 0))
    utilization = GaugeMetricFamily(
        "render_farm_utilization_ratio", "Busy online nodes over online nodes (0-1)."
    )
    utilization.add_metric([], view["utilization"])
    yield from (jobs, nodes, utilization)

    metrics = view["performance"]
    for name, help_text, value in (
        ("render_farm_preemptions", "Jobs preempted.", metrics["preemptions_count"]),
        ("render_farm_node_failures", "Node failures.", metrics["node_failures_count"]),
        ("render_farm_energy_kwh", "Energy used by the farm (kWh).", metrics["energy_usage_kwh"]),
        ("render_farm_energy_cost", "Cost of the energy used.", view["energy_cost"]),
        (
            "render_farm_jobs_completed",
            "Jobs completed.",
            metrics["total_jobs_completed"],
        ),
        (
            "render_farm_jobs_completed_on_time",
            "Jobs completed by their deadline.",
            metrics["jobs_completed_on_time"],
        ),
    ):
        family = CounterMetricFamily(name, help_text)
        family.add_metric([], float(value))
        yield family


def _farm_view(manager: RenderFarmManager) -> dict[str, Any]:
    """What the metrics need, copied under the manager's lock."""
    now = manager.clock.now()
    forecast = manager.forecast()
    units = [j for j in manager.jobs.values() if not j.is_shot]
    top_level = [j for j in manager.jobs.values() if not isinstance(j, RenderTask)]
    running = Counter(j.client_id for j in units if j.status == RenderJobStatus.RUNNING)
    at_risk_ids: dict[str, str] = {}
    for job in units:
        finish = forecast.get(job.id)
        if finish is not None and finish > job.deadline:
            at_risk_ids[job.shot_id] = job.client_id
    for job in top_level:
        if job.status not in FINISHED_STATUSES and now > job.deadline:
            at_risk_ids[job.id] = job.client_id
    online = [n for n in manager.nodes.values() if n.status == NodeStatus.ONLINE]
    busy = sum(1 for n in online if n.current_job_id is not None)
    return {
        "clients": sorted(manager.clients),
        "waiting": manager.waiting_by_client(),
        "running": running,
        "at_risk": Counter(at_risk_ids.values()),
        "jobs": Counter(RenderJobStatus(j.status).value for j in top_level),
        "nodes": Counter(NodeStatus(n.status).value for n in manager.nodes.values()),
        "utilization": busy / len(online) if online else 0.0,
        "performance": manager.performance_metrics.model_dump(),
        "energy_cost": float(getattr(manager.energy_optimizer, "total_cost", 0.0)),
    }
