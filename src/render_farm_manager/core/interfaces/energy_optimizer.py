"""The energy optimizer's interface: energy- and cost-aware decisions."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from render_farm_manager.core.clock import Clock
from render_farm_manager.core.models import (
    EnergyMode,
    RenderJob,
    RenderNode,
)
from render_farm_manager.core.work import UnitOfWork


class EnergyOptimizerInterface(ABC):
    """Energy- and cost-aware decisions."""

    current_energy_mode: EnergyMode = EnergyMode.BALANCED
    total_kwh: float = 0.0
    total_cost: float = 0.0
    wake_up_minutes: float = 10.0
    """How long a sleeping node takes to wake (the power plan wakes nodes this early)."""

    @abstractmethod
    def set_energy_mode(self, mode: EnergyMode | str) -> EnergyMode:
        """Switch mode; returns the previous one."""

    @abstractmethod
    def get_time_of_day_energy_price(self, dt: datetime) -> float:
        """Price per kWh at ``dt``."""

    @abstractmethod
    def calculate_energy_cost(
        self, job: RenderJob, node: RenderNode, start_time: datetime
    ) -> float:
        """Cost of running the rest of ``job`` on ``node`` from ``start_time``."""

    @abstractmethod
    def estimate_energy_savings(
        self, jobs: list[RenderJob], nodes: list[RenderNode]
    ) -> dict[str, float]:
        """What the current mode would save on ``jobs``."""

    @abstractmethod
    def optimize_energy_usage(
        self, jobs: list[RenderJob], nodes: list[RenderNode]
    ) -> dict[str, str]:
        """Energy-aware assignments (job id → node id)."""

    @property
    def energy_weight(self) -> float:
        """Share of a node's match score that its power efficiency carries."""
        return 0.0

    def use_clock(self, clock: Clock) -> None:  # noqa: B027 - optional hook
        """Take the time from ``clock`` from now on."""

    def deferral_until(
        self,
        job: UnitOfWork,
        now: datetime,
        queue_wait_hours: float = 0.0,
        margin_hours: float | None = None,
    ) -> datetime | None:
        """When ``job`` should start instead of now to save energy, or None. By default:
        never deferred."""
        return None

    def measure_usage(
        self, nodes: Iterable[RenderNode], start: datetime, end: datetime
    ) -> tuple[float, float]:
        """(kWh, cost) the nodes drew between ``start`` and ``end``. Changes nothing."""
        return 0.0, 0.0

    def add_usage(self, kwh: float, cost: float, start: datetime) -> None:  # noqa: B027
        """Account measured usage."""

    def next_price_change(self, moment: datetime) -> datetime | None:
        return None

    def power_down_candidates(
        self,
        nodes: list[RenderNode],
        waiting_jobs: Iterable[UnitOfWork],
        now: datetime | None = None,
        keep_awake: int = 1,
        margin_hours: float | None = None,
    ) -> list[Any]:
        """Idle nodes that could be powered down. By default: none."""
        return []
