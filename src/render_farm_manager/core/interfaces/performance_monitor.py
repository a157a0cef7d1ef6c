"""The performance monitor's interface: operation timings and farm metrics."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class PerformanceMonitorInterface(ABC):
    """Operation timings and farm metrics."""

    @abstractmethod
    def record_operation_time(self, operation_name: str, seconds: float) -> None: ...

    @abstractmethod
    def get_average_operation_time(self, operation_name: str) -> float: ...

    @abstractmethod
    def get_min_operation_time(self, operation_name: str) -> float: ...

    @abstractmethod
    def get_max_operation_time(self, operation_name: str) -> float: ...

    @abstractmethod
    def update_scheduling_cycle_time(self, seconds: float, jobs_scheduled: int = 0) -> None: ...

    @abstractmethod
    def update_node_utilization(self, node_id: str, utilization_percentage: float) -> None: ...

    @abstractmethod
    def update_client_job_count(self, client_id: str, count: int) -> None: ...

    @abstractmethod
    def update_client_resource_metrics(
        self,
        client_id: str,
        allocated_percentage: float,
        used_percentage: float = 0.0,
        borrowed_percentage: float = 0.0,
        lent_percentage: float = 0.0,
    ) -> None: ...

    @abstractmethod
    def update_job_turnaround_time(self, job_id: str, hours: float) -> None: ...

    @abstractmethod
    def update_node_failure_count(self, node_id: str) -> None: ...

    @abstractmethod
    def update_energy_cost_saved(self, amount: float) -> None: ...

    @abstractmethod
    def get_client_metrics(self, client_id: str) -> dict[str, Any]: ...

    @abstractmethod
    def reset_metrics(self) -> None: ...

    @contextmanager
    def time_operation(self, operation_name: str) -> Iterator[None]:
        """Time the body of a ``with`` block and record it under ``operation_name``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.record_operation_time(operation_name, time.perf_counter() - started)
