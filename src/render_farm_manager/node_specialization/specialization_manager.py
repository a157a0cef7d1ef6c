"""Node matching: filter (hard constraints) then score (soft preferences), learning from history."""

from __future__ import annotations

from typing import Any

from render_farm_manager.core.errors import InvalidInputError
from render_farm_manager.core.interfaces import (
    AuditLoggerInterface,
    NodeSpecializerInterface,
    PerformanceMonitorInterface,
)
from render_farm_manager.core.models import RenderJob, RenderNode
from render_farm_manager.core.validation import finite_number, positive_hours, setting
from render_farm_manager.core.work import UnitOfWork
from render_farm_manager.node_specialization.fit import fits, hardware_misfit, misfit
from render_farm_manager.node_specialization.hardware import hardware_class, node_type
from render_farm_manager.node_specialization.learned_speeds import LearnedSpeeds
from render_farm_manager.node_specialization.scoring import (
    DEFAULT_JOB_TYPE_SPECIALIZATIONS,
    blend_base_score,
    efficiency_score,
    fit_bonus,
    gpu_score,
    history_confidence,
    specialization_score,
    speed_score,
)


class NodeSpecializationManager(NodeSpecializerInterface):
    """Matches jobs to nodes by hardware, specialisation and learned per-node, per-class speed.

    ``learning_rate`` is how far one observed render moves a speed estimate; ``history_weight`` is
    the share of the score that learned speed carries against hardware capability before anything
    is learned; it rises to all of it as renders of that job type on that hardware are observed
    (ten are full confidence).
    """

    def __init__(
        self,
        audit_logger: AuditLoggerInterface | None = None,
        performance_monitor: PerformanceMonitorInterface | None = None,
        learning_rate: float = 0.2,
        history_weight: float = 0.3,
        learning_enabled: bool = True,
    ) -> None:
        history_weight = setting(history_weight, "history_weight", maximum=1.0)
        self.audit_logger = audit_logger
        self.performance_monitor = performance_monitor
        self.learning_rate = learning_rate
        self.history_weight = history_weight
        self.learning_enabled = learning_enabled
        self.speeds = LearnedSpeeds(learning_rate)
        self.job_type_specializations: dict[str, list[str]] = {
            k: list(v) for k, v in DEFAULT_JOB_TYPE_SPECIALIZATIONS.items()
        }
        self.seconds_per_frame: dict[tuple[str, str], float] = {}

    # -- speeds --------------------------------------------------------------------------------

    def expected_speed(self, node: RenderNode, job_type: str) -> float:
        """How fast ``node`` is expected to render ``job_type`` relative to the job's estimate."""
        if not self.learning_enabled:
            return 1.0
        own = node.performance_history.get(job_type)
        if own is not None and self.speeds.samples(node.id, job_type) == 0:
            self.speeds.seed_node(node.id, job_type, own)
        return self.speeds.speed(node.id, hardware_class(node), job_type)

    def class_speed(self, hardware_class_key: str, job_type: str) -> float:
        """Learned speed of a hardware class for ``job_type`` (1.0 when nothing is learned)."""
        if not self.learning_enabled:
            return 1.0
        return self.speeds.class_speed(hardware_class_key, job_type)

    @property
    def learned_version(self) -> int:
        return self.speeds.version

    def speeds_edited(self, node: RenderNode) -> None:
        """``node.performance_history`` was edited: its values are the node's speeds now."""
        for job_type, speed in node.performance_history.items():
            self.speeds.set_node(node.id, job_type, speed)

    def update_performance_history(
        self, job: RenderJob, node: RenderNode, metrics: dict[str, Any]
    ) -> float:
        """Learn from one finished render. ``metrics['render_time_hours']`` is the observed wall
        time of the job (or of ``metrics['work_fraction']`` of it) on ``node``.

        Returns the node's new speed estimate for the job type and stores it in
        ``node.performance_history``.
        """
        if not isinstance(metrics, dict) or "render_time_hours" not in metrics:
            raise InvalidInputError(
                "metrics must be a dict holding 'render_time_hours', the observed render time",
                field="metrics",
                object_id=job.id,
            )
        observed = positive_hours(metrics["render_time_hours"], "render_time_hours", job.id)
        fraction = finite_number(metrics.get("work_fraction", 1.0), "work_fraction", job.id)
        if not 0 < fraction <= 1:
            raise InvalidInputError(
                f"work_fraction of {job.id!r} must be within (0, 1], got {fraction}",
                field="work_fraction",
                object_id=job.id,
            )
        per_frame = metrics.get("render_time_per_frame")
        if per_frame is not None:
            per_frame = finite_number(per_frame, "render_time_per_frame", job.id)
        if not self.learning_enabled:
            return node.performance_history.get(job.job_type, 1.0)
        expected = job.estimated_duration_hours * fraction
        speed = self.speeds.observe(node.id, hardware_class(node), job.job_type, expected, observed)
        node.performance_history[job.job_type] = round(speed, 6)
        if per_frame is not None:
            self.seconds_per_frame[(node.id, job.job_type)] = per_frame
        if self.audit_logger is not None:
            self.audit_logger.log_event(
                "performance_learned",
                f"Node {node.id} renders {job.job_type} at {speed:.2f}x the estimate",
                job_id=job.id,
                node_id=node.id,
                job_type=job.job_type,
                observed_hours=observed,
                expected_hours=expected,
                speed=speed,
                hardware_class=hardware_class(node),
                log_level="debug",
            )
        return speed

    # -- scoring -------------------------------------------------------------------------------

    def base_score(
        self, job_type: str, requires_gpu: bool, node: RenderNode, energy_weight: float = 0.0
    ) -> float:
        """Score (0-100) shared by all nodes of the node's hardware class and efficiency."""
        caps = node.capabilities
        evidence = 0
        if self.learning_enabled:
            evidence = max(
                self.speeds.samples(node.id, job_type),
                self.speeds.class_samples(hardware_class(node), job_type),
            )
        return blend_base_score(
            specialization=specialization_score(job_type, caps, self.job_type_specializations),
            gpu=gpu_score(requires_gpu, caps),
            speed=speed_score(self.expected_speed(node, job_type)),
            efficiency=efficiency_score(node),
            history_weight=history_confidence(self.history_weight, evidence),
            energy_weight=energy_weight,
        )

    def calculate_performance_score(
        self, job: UnitOfWork, node: RenderNode, energy_weight: float = 0.0
    ) -> float:
        """Score of ``node`` for ``job``: 0 when the hardware cannot run it, else base + fit."""
        caps = node.capabilities
        if hardware_misfit(job, caps) is not None:
            return 0.0
        base = self.base_score(job.job_type, job.requires_gpu, node, energy_weight)
        return base + fit_bonus(job.memory_requirements_gb, job.cpu_requirements, caps)

    def match_job_to_node(
        self, job: UnitOfWork, nodes: list[RenderNode], energy_weight: float = 0.0
    ) -> str | None:
        """The best free, fitting node for ``job``, or None when no node fits."""
        best_id, best_score = None, -1.0
        for node in nodes:
            if not fits(job, node):
                continue
            score = self.calculate_performance_score(job, node, energy_weight)
            if score > best_score:
                best_id, best_score = node.id, score
        return best_id

    def explain_misfits(self, job: UnitOfWork, nodes: list[RenderNode]) -> dict[str, str]:
        """For every node that cannot take ``job`` now, why not."""
        reasons: dict[str, str] = {}
        for node in nodes:
            reason = misfit(job, node)
            if reason is not None:
                reasons[node.id] = reason
        return reasons

    def analyze_node_efficiency(self, nodes: list[RenderNode]) -> dict[str, dict[str, Any]]:
        """Per node: hardware class, type, learned speed by job type and their average."""
        report: dict[str, dict[str, Any]] = {}
        for node in nodes:
            speeds = dict(node.performance_history)
            speeds.update(self.speeds.node_speeds(node.id))
            report[node.id] = {
                "hardware_class": hardware_class(node),
                "node_type": node_type(node).value,
                "power_efficiency_rating": node.power_efficiency_rating,
                "speed_by_job_type": speeds,
                "average_speed": sum(speeds.values()) / len(speeds) if speeds else 1.0,
                "specialized_for": list(node.capabilities.specialized_for),
            }
        return report
