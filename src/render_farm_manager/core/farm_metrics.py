"""The farm-level figures of ``manager.performance_metrics``, kept through the change path."""

from __future__ import annotations

from datetime import datetime

from render_farm_manager.core.change_path import ChangePath
from render_farm_manager.core.clock import hours_between
from render_farm_manager.core.models import PerformanceMetrics, RenderJob


class FarmMetrics:
    def __init__(self, path: ChangePath) -> None:
        self.path = path
        self.metrics = PerformanceMetrics()
        self.turnaround_total = 0.0
        self.cycles = 0
        self.utilization_total = 0.0

    def _add(self, name: str, amount: float) -> None:
        self.path.write(self.metrics, name, getattr(self.metrics, name) + amount)

    def job_completed(self, job: RenderJob, now: datetime) -> float:
        """Count a completion; returns its turnaround in hours."""
        tx = self.path.tx
        on_time = now <= job.deadline
        self._add("total_jobs_completed", 1)
        if on_time:
            self._add("jobs_completed_on_time", 1)
        turnaround = max(0.0, hours_between(job.submission_time or now, now))
        tx.set_attr(self, "turnaround_total", self.turnaround_total + turnaround)
        self.path.write(
            self.metrics,
            "average_job_turnaround_hours",
            self.turnaround_total / self.metrics.total_jobs_completed,
        )
        return turnaround

    def cycle(self, utilization: float) -> None:
        tx = self.path.tx
        tx.set_attr(self, "cycles", self.cycles + 1)
        tx.set_attr(self, "utilization_total", self.utilization_total + utilization)
        average = self.utilization_total / self.cycles
        self.path.write(self.metrics, "average_utilization_percentage", average)
        self.path.write(self.metrics, "average_node_idle_percentage", 100.0 - average)

    def preemption(self) -> None:
        self._add("preemptions_count", 1)

    def node_failure(self) -> None:
        self._add("node_failures_count", 1)

    def energy_used(self, total_kwh: float) -> None:
        self.path.write(self.metrics, "energy_usage_kwh", total_kwh)
