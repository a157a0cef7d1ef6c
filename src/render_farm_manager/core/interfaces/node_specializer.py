"""The node matcher's interface: fitting jobs to nodes and learning their speeds."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from render_farm_manager.core.models import (
    RenderJob,
    RenderNode,
)
from render_farm_manager.core.work import UnitOfWork, remaining_hours


class NodeSpecializerInterface(ABC):
    """Matches jobs to nodes and learns how fast each node renders each kind of job."""

    job_type_specializations: dict[str, list[str]]

    @abstractmethod
    def match_job_to_node(self, job: UnitOfWork, nodes: list[RenderNode]) -> str | None:
        """The best free node that can run ``job``, or None."""

    @abstractmethod
    def calculate_performance_score(self, job: UnitOfWork, node: RenderNode) -> float:
        """How well ``node`` suits ``job`` (0 when it cannot run it)."""

    @abstractmethod
    def update_performance_history(
        self, job: RenderJob, node: RenderNode, metrics: dict[str, Any]
    ) -> float:
        """Learn from one finished render (``metrics['render_time_hours']``)."""

    @abstractmethod
    def analyze_node_efficiency(self, nodes: list[RenderNode]) -> dict[str, Any]:
        """A report of what is known about each node."""

    def expected_speed(self, node: RenderNode, job_type: str) -> float:
        """Speed of ``node`` on ``job_type`` relative to the estimate (1.0: at the estimate)."""
        return 1.0

    def class_speed(self, hardware_class_key: str, job_type: str) -> float:
        return 1.0

    def expected_hours(self, job: UnitOfWork, node: RenderNode) -> float:
        """Expected wall-clock hours for the rest of ``job`` on ``node``."""
        return remaining_hours(job) / self.expected_speed(node, job.job_type)

    @property
    def learned_version(self) -> int:
        """Changes whenever a learned speed changes (for caches)."""
        return 0

    def speeds_edited(self, node: RenderNode) -> None:  # noqa: B027 - optional hook
        """A user edited ``node.performance_history``."""
