"""The component interfaces of the seed API (``render_farm_manager.core.interfaces``).

The seed promises the abstract interface of every component, "which the shipped components
implement, so that a user can write their own scheduler and hand it to the manager". These tests
hold the shipped components to their interfaces, then write components the way a user would
(subclass the interface, implement only its abstract methods), hand each one to
``RenderFarmManager`` and show that the manager really uses it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from unittest.mock import MagicMock

import pytest
from builders import T0, make_client, make_job, make_node, running_on

from render_farm_manager import RenderFarmError
from render_farm_manager.core.clock import ManualClock
from render_farm_manager.core.interfaces import (
    AuditLoggerInterface,
    EnergyOptimizerInterface,
    NodeSpecializerInterface,
    PerformanceMonitorInterface,
    ProgressiveRendererInterface,
    ResourceManagerInterface,
    SchedulerInterface,
)
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import (
    AuditLogEntry,
    EnergyMode,
    JobPriority,
    LogLevel,
    NodeStatus,
    ProgressiveOutputConfig,
    RenderJob,
    RenderJobStatus,
    RenderNode,
    ResourceAllocation,
)
from render_farm_manager.energy_optimization.energy_optimizer import EnergyOptimizer
from render_farm_manager.node_specialization.specialization_manager import (
    NodeSpecializationManager,
)
from render_farm_manager.progressive_result.progressive_renderer import ProgressiveRenderer
from render_farm_manager.resource_management.resource_partitioner import ResourcePartitioner
from render_farm_manager.scheduling.deadline_scheduler import DeadlineScheduler
from render_farm_manager.utils.logging import AuditLogger, PerformanceMonitor

# ---------------------------------------------------------------------------------------------
# The interfaces and their seed methods
# ---------------------------------------------------------------------------------------------

# Manager keyword → (interface, shipped class, seed methods the interface must declare abstract).
COMPONENTS: dict[str, tuple[type, type, set[str]]] = {
    "scheduler": (
        SchedulerInterface,
        DeadlineScheduler,
        {"schedule_jobs", "update_priorities", "can_meet_deadline", "should_preempt"},
    ),
    "resource_manager": (
        ResourceManagerInterface,
        ResourcePartitioner,
        {"allocate_resources", "can_borrow_resources", "calculate_resource_usage"},
    ),
    "node_specializer": (
        NodeSpecializerInterface,
        NodeSpecializationManager,
        {
            "match_job_to_node",
            "calculate_performance_score",
            "update_performance_history",
            "analyze_node_efficiency",
        },
    ),
    "progressive_renderer": (
        ProgressiveRendererInterface,
        ProgressiveRenderer,
        {
            "schedule_progressive_output",
            "generate_progressive_output",
            "estimate_overhead",
            "process_pending_outputs",
            "get_latest_progressive_output",
        },
    ),
    "energy_optimizer": (
        EnergyOptimizerInterface,
        EnergyOptimizer,
        {
            "set_energy_mode",
            "get_time_of_day_energy_price",
            "calculate_energy_cost",
            "estimate_energy_savings",
            "optimize_energy_usage",
        },
    ),
    "audit_logger": (
        AuditLoggerInterface,
        AuditLogger,
        {
            "log_event",
            "get_job_history",
            "get_node_history",
            "get_client_history",
            "get_logs_by_time_range",
            "get_logs_by_event_type",
        },
    ),
    "performance_monitor": (
        PerformanceMonitorInterface,
        PerformanceMonitor,
        {
            "record_operation_time",
            "get_average_operation_time",
            "get_min_operation_time",
            "get_max_operation_time",
            "update_scheduling_cycle_time",
            "update_node_utilization",
            "update_client_job_count",
            "update_client_resource_metrics",
            "update_job_turnaround_time",
            "update_node_failure_count",
            "update_energy_cost_saved",
            "get_client_metrics",
            "reset_metrics",
        },
    ),
}

# Seed methods an interface provides with a default built on its abstract ones.
PROVIDED: dict[type, set[str]] = {
    AuditLoggerInterface: {
        "log_client_added",
        "log_client_updated",
        "log_node_added",
        "log_node_updated",
        "log_node_failure",
        "log_job_submitted",
        "log_job_scheduled",
        "log_job_updated",
        "log_job_completed",
        "log_job_failed",
        "log_energy_mode_changed",
        "log_scheduling_cycle",
        "log_error",
    },
    PerformanceMonitorInterface: {"time_operation"},
}

ARGUMENTS = list(COMPONENTS)


def shipped(argument: str) -> Any:
    """The shipped component for ``argument``, built as the seed README builds it."""
    log = AuditLogger()
    monitor = PerformanceMonitor(log)
    cls = COMPONENTS[argument][1]
    if cls is AuditLogger:
        return log
    if cls is PerformanceMonitor:
        return monitor
    return cls(log, monitor)


@pytest.mark.parametrize("argument", ARGUMENTS)
def test_each_shipped_component_is_an_instance_of_its_interface(argument):
    interface, cls, _ = COMPONENTS[argument]
    assert issubclass(cls, interface)
    assert isinstance(shipped(argument), interface)
    # ... and the manager builds that shipped component when none is given.
    manager = RenderFarmManager(clock=ManualClock(T0))
    assert isinstance(getattr(manager, argument), cls)


@pytest.mark.parametrize("argument", ARGUMENTS)
def test_each_interface_is_abstract_and_declares_the_seed_methods(argument):
    interface, _, seed_methods = COMPONENTS[argument]
    with pytest.raises(TypeError):
        interface()
    missing = seed_methods - set(interface.__abstractmethods__)
    assert not missing, f"{interface.__name__} does not declare {sorted(missing)} abstract"
    for name in PROVIDED.get(interface, set()):
        assert callable(getattr(interface, name, None)), f"{interface.__name__}.{name}"


def test_the_interfaces_module_exports_every_interface():
    from render_farm_manager.core import interfaces

    exported = {getattr(interfaces, name) for name in interfaces.__all__}
    assert exported >= {interface for interface, _, _ in COMPONENTS.values()}


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def free_online(nodes: list[RenderNode]) -> list[RenderNode]:
    return [
        n
        for n in nodes
        if n.status == NodeStatus.ONLINE and n.current_job_id is None and not n.draining
    ]


def fits(job: RenderJob, node: RenderNode) -> bool:
    caps = node.capabilities
    return (
        caps.cpu_cores >= job.cpu_requirements
        and caps.memory_gb >= job.memory_requirements_gb
        and (caps.gpu_count > 0 or not job.requires_gpu)
    )


def snapshot(manager: RenderFarmManager) -> dict[str, Any]:
    return {
        "jobs": {job_id: job.model_dump() for job_id, job in manager.jobs.items()},
        "nodes": {node_id: node.model_dump() for node_id, node in manager.nodes.items()},
    }


def audit_length(manager: RenderFarmManager) -> int:
    log = manager.audit_logger
    return len(log.get_logs_by_time_range(datetime(1971, 1, 2), datetime(8999, 1, 1)))


def farm(
    nodes: list[RenderNode], clients: tuple[str, ...] = ("c1",), **components: Any
) -> tuple[RenderFarmManager, ManualClock]:
    clock = ManualClock(T0)
    manager = RenderFarmManager(clock=clock, **components)
    for client_id in clients:
        manager.add_client(make_client(client_id))
    for node in nodes:
        manager.add_node(node)
    return manager, clock


# ---------------------------------------------------------------------------------------------
# A scheduler written by a user
# ---------------------------------------------------------------------------------------------


class LongestJobFirstScheduler(SchedulerInterface):
    """Longest job first, on the free online node with the most cores; places at most
    ``limit`` jobs per cycle."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.asked: list[list[str]] = []

    def schedule_jobs(self, jobs: list[RenderJob], nodes: list[RenderNode]) -> dict[str, str]:
        self.asked.append([job.id for job in jobs])
        free = sorted(free_online(nodes), key=lambda n: (-n.capabilities.cpu_cores, n.id))
        waiting = sorted(
            (j for j in jobs if j.status in (RenderJobStatus.PENDING, RenderJobStatus.QUEUED)),
            key=lambda j: (-j.estimated_duration_hours, j.id),
        )
        if self.limit is not None:
            waiting = waiting[: self.limit]
        plan: dict[str, str] = {}
        for job in waiting:
            node = next((n for n in free if fits(job, n)), None)
            if node is not None:
                plan[job.id] = node.id
                free.remove(node)
        return plan

    def update_priorities(self, jobs: list[RenderJob]) -> list[RenderJob]:
        return list(jobs)

    def can_meet_deadline(self, job: RenderJob, nodes: list[RenderNode]) -> bool:
        return True

    def should_preempt(self, running_job: RenderJob, pending_job: RenderJob) -> bool:
        return False


def longest_first_farm(**components: Any) -> RenderFarmManager:
    """Two free nodes (64 and 16 cores) and three jobs: an urgent short one, a long one with
    slack to spare, and a medium one."""
    manager, _ = farm([make_node("small", cores=16), make_node("big", cores=64)], **components)
    manager.submit_job(make_job("urgent", hours=1, deadline_in=4, priority=JobPriority.CRITICAL))
    manager.submit_job(make_job("long", hours=20, deadline_in=96, priority=JobPriority.LOW))
    manager.submit_job(make_job("medium", hours=5, deadline_in=48))
    return manager


def test_a_user_scheduler_decides_the_placements_and_the_manager_applies_exactly_them():
    scheduler = LongestJobFirstScheduler()
    manager = longest_first_farm(scheduler=scheduler)
    assert manager.scheduler is scheduler

    result = manager.run_scheduling_cycle()

    mine = {"big": "long", "small": "medium"}
    assert running_on(manager) == mine
    assert result["jobs_scheduled"] == 2
    assert sorted(scheduler.asked[0]) == ["long", "medium", "urgent"]
    for node_id, job_id in mine.items():
        job = manager.jobs[job_id]
        assert job.status == RenderJobStatus.RUNNING
        assert job.assigned_node_id == node_id
        assert manager.get_job_status(job_id)["assigned_node"] == node_id
    # The job it left out waits, through this cycle and the next.
    for _ in range(2):
        urgent = manager.jobs["urgent"]
        assert urgent.status == RenderJobStatus.QUEUED
        assert urgent.assigned_node_id is None
        assert "urgent" not in running_on(manager).values()
        assert manager.run_scheduling_cycle()["jobs_scheduled"] == 0
    assert running_on(manager) == mine
    # The manager still audits what it applied.
    for node_id, job_id in mine.items():
        history = manager.audit_logger.get_job_history(job_id)
        scheduled = [e for e in history if e.event_type == "job_scheduled"]
        assert [e.node_id for e in scheduled] == [node_id]
        moves = [e.details["new_status"] for e in history if e.event_type == "job_status_changed"]
        assert moves == ["running"]
    # The default scheduler would have placed the work differently, so the above is the user
    # scheduler's doing.
    default = longest_first_farm()
    default.run_scheduling_cycle()
    assert running_on(default) != mine
    assert "urgent" in running_on(default).values()


class FixedPlanScheduler(SchedulerInterface):
    """Returns whatever plan the test sets."""

    def __init__(self) -> None:
        self.plan: dict[str, str] = {}

    def schedule_jobs(self, jobs: list[RenderJob], nodes: list[RenderNode]) -> dict[str, str]:
        return dict(self.plan)

    def update_priorities(self, jobs: list[RenderJob]) -> list[RenderJob]:
        return list(jobs)

    def can_meet_deadline(self, job: RenderJob, nodes: list[RenderNode]) -> bool:
        return True

    def should_preempt(self, running_job: RenderJob, pending_job: RenderJob) -> bool:
        return False


# What the plan gets wrong → (the plan, an id the error must name).
IMPOSSIBLE_PLANS = {
    "two jobs on one node": ({"a": "n0", "b": "n0"}, "b"),
    "a job on an offline node": ({"a": "n0", "b": "off"}, "off"),
    "an unknown job id": ({"a": "n0", "ghost": "n2"}, "ghost"),
    "an unknown node id": ({"a": "n0", "b": "nowhere"}, "nowhere"),
    "a job on a busy node": ({"a": "n0", "b": "n1"}, "b"),
    "a job that is already running": ({"a": "n0", "r": "n2"}, "r"),
    "a job whose dependency is not completed": ({"a": "n0", "child": "n2"}, "child"),
    "a job on a node its hardware does not fit": ({"a": "n0", "huge": "n2"}, "huge"),
}


@pytest.mark.parametrize(
    ("plan", "culprit"), IMPOSSIBLE_PLANS.values(), ids=IMPOSSIBLE_PLANS.keys()
)
def test_an_impossible_plan_raises_and_nothing_of_the_cycle_is_applied(plan, culprit):
    scheduler = FixedPlanScheduler()
    manager, clock = farm(
        [
            make_node("n0"),
            make_node("n1"),
            make_node("n2"),
            make_node("off", status="offline"),
        ],
        scheduler=scheduler,
    )
    for job_id in ("r", "a", "b"):
        manager.submit_job(make_job(job_id))
    manager.submit_job(make_job("child", dependencies=["a"]))
    manager.submit_job(make_job("huge", cpu_requirements=64))
    scheduler.plan = {"r": "n1"}
    manager.run_scheduling_cycle()
    assert running_on(manager) == {"n1": "r"}
    clock.advance(timedelta(minutes=30))  # the next cycle also accounts time and energy

    before = snapshot(manager)
    entries = audit_length(manager)
    allocations = {k: v.model_dump() for k, v in manager.resource_allocations.items()}
    metrics = manager.performance_metrics.model_dump()
    waiting = [job.id for job in manager.waiting_jobs()]

    scheduler.plan = plan
    with pytest.raises(RenderFarmError, match=f"'{culprit}'"):
        manager.run_scheduling_cycle()

    assert snapshot(manager) == before
    assert audit_length(manager) == entries
    assert {k: v.model_dump() for k, v in manager.resource_allocations.items()} == allocations
    assert manager.performance_metrics.model_dump() == metrics
    assert [job.id for job in manager.waiting_jobs()] == waiting
    # The farm is still usable: a possible plan is applied.
    scheduler.plan = {"a": "n0"}
    assert manager.run_scheduling_cycle()["jobs_scheduled"] == 1
    assert running_on(manager) == {"n0": "a", "n1": "r"}


# ---------------------------------------------------------------------------------------------
# The other components written by a user
# ---------------------------------------------------------------------------------------------


def alphabetical_score(name: str) -> float:
    """Within (0, 100]: the earlier ``name`` sorts (ASCII, first four characters), the higher."""
    position = sum((ord(c) % 128) / 128 ** (depth + 1) for depth, c in enumerate(name[:4]))
    return 100.0 * (1.0 - position)


class SmallestNameMatcher(NodeSpecializerInterface):
    """Prefers, among the nodes that can run a job, the one whose name sorts first."""

    job_type_specializations: dict[str, list[str]] = {}

    def __init__(self) -> None:
        self.scored: list[tuple[str, str]] = []
        self.matched: list[str] = []
        self.learned: list[tuple[str, str, dict[str, Any]]] = []

    def match_job_to_node(self, job: Any, nodes: list[RenderNode]) -> str | None:
        self.matched.append(job.id)
        candidates = [n for n in free_online(nodes) if fits(job, n)]
        return min(candidates, key=lambda n: n.name).id if candidates else None

    def calculate_performance_score(self, job: Any, node: RenderNode) -> float:
        self.scored.append((job.id, node.id))
        return alphabetical_score(node.name) if fits(job, node) else 0.0

    def update_performance_history(
        self, job: RenderJob, node: RenderNode, metrics: dict[str, Any]
    ) -> float:
        self.learned.append((job.id, node.id, dict(metrics)))
        return 1.0

    def analyze_node_efficiency(self, nodes: list[RenderNode]) -> dict[str, Any]:
        return {}


def named(node_id: str, name: str, **fields: Any) -> RenderNode:
    return make_node(node_id, **fields).model_copy(update={"name": name})


def mixed_nodes() -> list[RenderNode]:
    """Three different machines; the one named first alphabetically is the biggest and the
    least power-efficient, which the shipped matcher would not choose for a small job."""
    return [
        named("n0", "bravo", cores=16, memory=64, efficiency=95),
        named("n1", "charlie", cores=32, memory=128, efficiency=80),
        named("n2", "alpha", cores=128, memory=512, efficiency=10),
    ]


def test_a_user_matcher_decides_where_the_default_scheduler_places_a_job():
    matcher = SmallestNameMatcher()
    manager, clock = farm(mixed_nodes(), node_specializer=matcher)
    assert manager.node_specializer is matcher
    manager.submit_job(make_job("j"))
    manager.run_scheduling_cycle()
    assert running_on(manager) == {"n2": "j"}
    assert ("j", "n2") in matcher.scored
    # An operator's start without a node takes the matcher's choice among the free ones.
    manager.submit_job(make_job("k"))
    manager.start_job("k")
    assert running_on(manager) == {"n2": "j", "n0": "k"}
    assert "k" in matcher.matched
    # The matcher learns from completions.
    clock.advance(timedelta(hours=2))
    manager.complete_job("j")
    assert [(job_id, node_id) for job_id, node_id, _ in matcher.learned] == [("j", "n2")]
    assert matcher.learned[0][2]["render_time_hours"] == pytest.approx(2.0)
    # The shipped matcher would have chosen another node.
    default, _ = farm(mixed_nodes())
    default.submit_job(make_job("j"))
    default.run_scheduling_cycle()
    assert running_on(default) != {"n2": "j"}


def test_a_user_matcher_is_asked_about_each_node_even_among_identical_machines():
    # Identical hardware: only the matcher tells these nodes apart. It prefers "alpha" (n1),
    # which is neither the first nor the last node registered.
    nodes = [named("n0", "bravo"), named("n1", "alpha"), named("n2", "charlie")]
    matcher = SmallestNameMatcher()
    manager, _ = farm(nodes, node_specializer=matcher)
    manager.submit_job(make_job("j"))
    manager.run_scheduling_cycle()
    assert running_on(manager) == {"n1": "j"}


class TenMinutePreviews(ProgressiveRendererInterface):
    """A preview every 10 minutes from the job's start, written under /previews."""

    def __init__(self) -> None:
        self.generated: list[tuple[str, int, str]] = []
        self.latest: dict[str, str] = {}

    def schedule_progressive_output(
        self, job: RenderJob, config: ProgressiveOutputConfig | None = None
    ) -> list[datetime]:
        if job.started_at is None:
            return []
        count = int(job.estimated_duration_hours * 6)
        return [job.started_at + timedelta(minutes=10 * k) for k in range(1, count + 1)]

    def generate_progressive_output(self, job: RenderJob, quality: int) -> str:
        path = f"/previews/{job.id}/{len(self.generated) + 1}-q{quality}.exr"
        self.generated.append((job.id, quality, path))
        self.latest[job.id] = path
        return path

    def estimate_overhead(
        self, job: RenderJob, config: ProgressiveOutputConfig | None = None
    ) -> float:
        return 0.0

    def process_pending_outputs(
        self, jobs: Any, config: ProgressiveOutputConfig | None = None
    ) -> dict[str, str]:
        return {}

    def get_latest_progressive_output(self, job_id: str) -> str | None:
        return self.latest.get(job_id)


def preview_farm() -> tuple[RenderFarmManager, ManualClock, TenMinutePreviews]:
    renderer = TenMinutePreviews()
    manager, clock = farm([make_node("n0")], progressive_renderer=renderer)
    manager.submit_job(make_job("j", hours=2, supports_progressive_output=True))
    manager.run_scheduling_cycle()
    assert manager.jobs["j"].status == RenderJobStatus.RUNNING
    return manager, clock, renderer


def test_a_user_progressive_renderer_produces_the_previews_it_schedules():
    manager, clock, renderer = preview_farm()
    assert manager.progressive_renderer is renderer
    clock.advance(timedelta(minutes=5))
    assert manager.run_scheduling_cycle()["progressive_outputs"] == 0
    assert renderer.generated == []
    clock.advance(timedelta(minutes=5))  # 10 minutes after the start: the first preview
    assert manager.run_scheduling_cycle()["progressive_outputs"] == 1
    assert len(renderer.generated) == 1
    job_id, quality, path = renderer.generated[0]
    assert job_id == "j"
    assert quality in manager.progressive_output_config.quality_levels
    assert manager.get_job_status("j")["progressive_output_path"] == path


def test_a_user_progressive_renderer_gets_one_preview_per_scheduled_time():
    manager, clock, renderer = preview_farm()
    clock.advance(timedelta(minutes=10))
    manager.run_scheduling_cycle()
    assert len(renderer.generated) == 1
    # The preview due at +10 minutes was produced: a cycle at +15 has none due, and the job
    # says when its latest preview was made.
    clock.advance(timedelta(minutes=5))
    assert manager.run_scheduling_cycle()["progressive_outputs"] == 0
    assert len(renderer.generated) == 1
    assert manager.get_job_status("j")["last_progressive_output_time"] == T0 + timedelta(minutes=10)
    clock.advance(timedelta(minutes=5))  # +20: the second preview
    assert manager.run_scheduling_cycle()["progressive_outputs"] == 1
    assert len(renderer.generated) == 2
    assert manager.get_job_status("j")["progressive_output_path"] == renderer.generated[1][2]


class FlatRateEnergy(EnergyOptimizerInterface):
    """One price all day; records the modes it is switched to."""

    def __init__(self) -> None:
        self.current_energy_mode = EnergyMode.BALANCED
        self.switched: list[EnergyMode] = []

    def set_energy_mode(self, mode: EnergyMode | str) -> EnergyMode:
        old, self.current_energy_mode = self.current_energy_mode, EnergyMode(mode)
        self.switched.append(self.current_energy_mode)
        return old

    def get_time_of_day_energy_price(self, dt: datetime) -> float:
        return 0.11

    def calculate_energy_cost(self, job: RenderJob, node: RenderNode, start_time: datetime):
        return 0.0

    def estimate_energy_savings(self, jobs: list[RenderJob], nodes: list[RenderNode]):
        return {}

    def optimize_energy_usage(self, jobs: list[RenderJob], nodes: list[RenderNode]):
        return {}


def test_a_user_energy_optimizer_is_switched_by_the_manager():
    energy = FlatRateEnergy()
    manager, _ = farm([make_node("n0")], energy_optimizer=energy)
    assert manager.energy_optimizer is energy
    manager.submit_job(make_job("j", energy_intensive=True))
    assert manager.run_scheduling_cycle()["jobs_scheduled"] == 1

    manager.set_energy_mode("efficiency")

    assert energy.switched == [EnergyMode.EFFICIENCY]
    status = manager.get_farm_status()
    assert status["current_energy_mode"] == "efficiency"
    assert status["current_energy_price"] == 0.11
    changes = manager.audit_logger.get_logs_by_event_type("energy_mode_changed")
    assert [(e.details["old_mode"], e.details["new_mode"]) for e in changes] == [
        ("balanced", "efficiency")
    ]


class ListAuditLogger(AuditLoggerInterface):
    """Keeps its entries in a list."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.entries: list[AuditLogEntry] = []

    def log_event(self, event_type: str, description: str, **details: Any) -> AuditLogEntry:
        entry = AuditLogEntry(
            timestamp=self.clock.now(),
            event_type=event_type,
            job_id=details.pop("job_id", None),
            node_id=details.pop("node_id", None),
            client_id=details.pop("client_id", None),
            description=description,
            log_level=LogLevel(details.pop("log_level", LogLevel.INFO)),
            details=details,
        )
        self.entries.append(entry)
        return entry

    def get_job_history(self, job_id: str) -> list[AuditLogEntry]:
        return [
            e for e in self.entries if e.job_id == job_id or job_id in e.details.get("job_ids", ())
        ]

    def get_node_history(self, node_id: str) -> list[AuditLogEntry]:
        return [e for e in self.entries if e.node_id == node_id]

    def get_client_history(self, client_id: str) -> list[AuditLogEntry]:
        return [e for e in self.entries if e.client_id == client_id]

    def get_logs_by_time_range(
        self, start_time: datetime, end_time: datetime
    ) -> list[AuditLogEntry]:
        return [e for e in self.entries if start_time <= e.timestamp <= end_time]

    def get_logs_by_event_type(self, event_type: str) -> list[AuditLogEntry]:
        return [e for e in self.entries if e.event_type == event_type]


AT_LEAST_WARNING = {LogLevel.WARNING, LogLevel.ERROR, LogLevel.CRITICAL}


def test_a_user_audit_logger_receives_every_status_change_and_node_failure():
    clock = ManualClock(T0)
    log = ListAuditLogger(clock)
    manager = RenderFarmManager(clock=clock, audit_logger=log)
    assert manager.audit_logger is log
    manager.add_client(make_client("c1"))
    manager.add_node(make_node("n0"))
    manager.add_node(make_node("n1"))
    manager.submit_job(make_job("j"))
    manager.submit_job(make_job("k"))
    manager.run_scheduling_cycle()
    clock.advance(timedelta(hours=1))
    manager.complete_job("j")
    k_node = manager.jobs["k"].assigned_node_id
    manager.handle_node_failure(k_node, "power supply")

    history = log.get_job_history("j")
    kinds = [e.event_type for e in history]
    assert kinds[0] == "job_submitted"
    assert "job_scheduled" in kinds
    assert kinds[-1] == "job_completed"
    moves = [e.details["new_status"] for e in history if e.event_type == "job_status_changed"]
    assert moves == ["running", "completed"]
    # The node failure, at warning level or above, and its job going back to the queue.
    failures = [e for e in log.get_node_history(k_node) if e.event_type == "node_failure"]
    assert len(failures) == 1
    assert failures[0].log_level in AT_LEAST_WARNING
    k_moves = [
        e.details["new_status"]
        for e in log.get_job_history("k")
        if e.event_type == "job_status_changed"
    ]
    assert k_moves == ["running", "queued"]


class RecordingMonitor(PerformanceMonitorInterface):
    """Records every call (name and arguments)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def record_operation_time(self, operation_name: str, seconds: float) -> None:
        self.calls.append(("record_operation_time", (operation_name, seconds)))

    def get_average_operation_time(self, operation_name: str) -> float:
        return 0.0

    def get_min_operation_time(self, operation_name: str) -> float:
        return 0.0

    def get_max_operation_time(self, operation_name: str) -> float:
        return 0.0

    def update_scheduling_cycle_time(self, seconds: float, jobs_scheduled: int = 0) -> None:
        self.calls.append(("update_scheduling_cycle_time", (seconds, jobs_scheduled)))

    def update_node_utilization(self, node_id: str, utilization_percentage: float) -> None:
        self.calls.append(("update_node_utilization", (node_id, utilization_percentage)))

    def update_client_job_count(self, client_id: str, count: int) -> None:
        self.calls.append(("update_client_job_count", (client_id, count)))

    def update_client_resource_metrics(
        self,
        client_id: str,
        allocated_percentage: float,
        used_percentage: float = 0.0,
        borrowed_percentage: float = 0.0,
        lent_percentage: float = 0.0,
    ) -> None:
        self.calls.append(("update_client_resource_metrics", (client_id, used_percentage)))

    def update_job_turnaround_time(self, job_id: str, hours: float) -> None:
        self.calls.append(("update_job_turnaround_time", (job_id, hours)))

    def update_node_failure_count(self, node_id: str) -> None:
        self.calls.append(("update_node_failure_count", (node_id,)))

    def update_energy_cost_saved(self, amount: float) -> None:
        self.calls.append(("update_energy_cost_saved", (amount,)))

    def get_client_metrics(self, client_id: str) -> dict[str, Any]:
        return {}

    def reset_metrics(self) -> None:
        self.calls.clear()

    def called(self, name: str) -> list[tuple[Any, ...]]:
        return [args for call, args in self.calls if call == name]


def test_a_user_performance_monitor_receives_the_farm_metrics():
    monitor = RecordingMonitor()
    manager, clock = farm(
        [make_node("n0"), make_node("n1")], clients=("c1", "c2"), performance_monitor=monitor
    )
    assert manager.performance_monitor is monitor
    manager.submit_job(make_job("a", client="c1"))
    manager.submit_job(make_job("b", client="c2"))
    manager.submit_job(make_job("c", client="c1"))
    assert manager.run_scheduling_cycle()["jobs_scheduled"] == 2
    clock.advance(timedelta(hours=1))
    done = manager.jobs["a"] if manager.jobs["a"].status == "running" else manager.jobs["c"]
    manager.complete_job(done.id)
    failing = manager.jobs["b"].assigned_node_id
    manager.handle_node_failure(failing, "disk")
    manager.run_scheduling_cycle()

    assert ("c1", 2) in monitor.called("update_client_job_count")
    assert ("c2", 1) in monitor.called("update_client_job_count")
    assert {args[0] for args in monitor.called("update_client_resource_metrics")} == {"c1", "c2"}
    cycles = monitor.called("update_scheduling_cycle_time")
    assert [jobs for _, jobs in cycles] == [2, 1]  # then one node is free, one failed
    assert monitor.called("update_job_turnaround_time") == [(done.id, pytest.approx(1.0))]
    assert monitor.called("update_node_failure_count") == [(failing,)]


class FixedShares(ResourceManagerInterface):
    """Gives each client a fixed share of the farm, whatever its guarantee."""

    SHARES = {"c1": 70.0, "c2": 30.0}

    def __init__(self) -> None:
        self.allocations = 0

    def allocate_resources(
        self, clients: Any = None, nodes: Any = None
    ) -> dict[str, ResourceAllocation]:
        self.allocations += 1
        return {
            c.id: ResourceAllocation(client_id=c.id, allocated_percentage=self.SHARES[c.id])
            for c in clients or ()
        }

    def can_borrow_resources(self, from_client: Any, to_client: Any, amount: float) -> bool:
        return False

    def calculate_resource_usage(self, client_id: str, jobs: Any, nodes: Any) -> float:
        return 0.0


def shares_farm(**components: Any) -> RenderFarmManager:
    manager, _ = farm([make_node("n0"), make_node("n1")], clients=(), **components)
    manager.add_client(make_client("c1", guaranteed=50))
    manager.add_client(make_client("c2", guaranteed=50))
    manager.submit_job(make_job("a", client="c1"))
    manager.submit_job(make_job("b", client="c2"))
    return manager


def test_a_user_resource_manager_decides_the_allocations_a_cycle_reports():
    partitioner = FixedShares()
    manager = shares_farm(resource_manager=partitioner)
    assert manager.resource_manager is partitioner

    result = manager.run_scheduling_cycle()

    assert partitioner.allocations >= 1
    assert result["resources_allocated"] == {"c1": 70.0, "c2": 30.0}
    assert manager.resource_allocations["c1"].allocated_percentage == 70.0
    assert manager.get_client_status("c2")["resource_allocation"]["allocated_percentage"] == 30.0
    assert result["jobs_scheduled"] == 2
    # The shipped partitioner reports other shares for this farm.
    default = shares_farm()
    assert default.run_scheduling_cycle()["resources_allocated"] != {"c1": 70.0, "c2": 30.0}


# ---------------------------------------------------------------------------------------------
# A spec mock of the audit logger sees every change through the logger's public methods
# ---------------------------------------------------------------------------------------------


def job_of(call: Any) -> str | None:
    return call.kwargs.get("job_id", call.args[0] if call.args else None)


def logged_status_changes(log: MagicMock) -> dict[str, list[str]]:
    """Job id → the new statuses the log was told of, in order."""
    changes: dict[str, list[str]] = {}
    for name, args, kwargs in log.mock_calls:
        event_type = args[0] if args else kwargs.get("event_type")
        if event_type != "job_status_changed":
            continue
        if name == "log_event":
            job_ids = [kwargs["job_id"]]
        elif name == "log_batch_event":
            job_ids = list(kwargs["job_ids"] if "job_ids" in kwargs else args[2])
        else:
            continue
        for job_id in job_ids:
            changes.setdefault(job_id, []).append(str(kwargs["new_status"]))
    return changes


def test_a_spec_mock_audit_logger_observes_every_job_state_change():
    clock = ManualClock(T0)
    log = MagicMock(spec=AuditLogger)
    manager = RenderFarmManager(clock=clock, audit_logger=log)
    manager.add_client(make_client("c1"))
    manager.add_node(make_node("n0"))
    manager.add_node(make_node("n1"))
    ids = ["a", "b", "c", "d"]  # two nodes: two jobs wait together (one batched entry)
    seen: dict[str, list[str]] = {job_id: [] for job_id in ids}

    def observe() -> None:
        for job_id in ids:
            status = str(manager.jobs[job_id].status)
            if not seen[job_id] or seen[job_id][-1] != status:
                seen[job_id].append(status)

    for job_id in ids:
        manager.submit_job(make_job(job_id, hours=2 + ids.index(job_id)))
    observe()
    manager.run_scheduling_cycle()
    observe()
    running = sorted(j for j in ids if manager.jobs[j].status == RenderJobStatus.RUNNING)
    waiting = [j for j in ids if j not in running]
    assert len(running) == len(waiting) == 2
    placements = {(j, manager.jobs[j].assigned_node_id) for j in running}
    manager.update_job_priority(waiting[0], "high")
    clock.advance(timedelta(hours=1))
    manager.complete_job(running[0])
    observe()
    failed_node = manager.jobs[running[1]].assigned_node_id
    manager.handle_node_failure(failed_node, "fan")
    observe()
    manager.run_scheduling_cycle()
    observe()
    placements |= {
        (j, manager.jobs[j].assigned_node_id)
        for j in ids
        if manager.jobs[j].status == RenderJobStatus.RUNNING
    }

    assert sorted(job_of(c) for c in log.log_job_submitted.call_args_list) == ids
    # Every status change after submission, in order, for every job.
    expected = {job_id: statuses[1:] for job_id, statuses in seen.items()}
    assert all(statuses[0] == "pending" for statuses in seen.values())
    assert logged_status_changes(log) == {k: v for k, v in expected.items() if v}
    scheduled = {
        (job_of(c), c.kwargs.get("node_id", c.args[1] if len(c.args) > 1 else None))
        for c in log.log_job_scheduled.call_args_list
    }
    assert scheduled == placements
    assert [job_of(c) for c in log.log_job_completed.call_args_list] == [running[0]]
    updated = log.log_job_updated.call_args_list
    assert [job_of(c) for c in updated] == [waiting[0]]
    failures = log.log_node_failure.call_args_list
    assert len(failures) == 1
    assert failures[0].kwargs.get("node_id", failures[0].args[0]) == failed_node


# ---------------------------------------------------------------------------------------------
# Something that is not a component
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argument", ARGUMENTS)
@pytest.mark.parametrize("kind", ["object", "the class itself", "another component"])
def test_handing_the_manager_a_non_component_names_the_argument(argument, kind):
    if kind == "object":
        value: Any = object()
    elif kind == "the class itself":
        value = COMPONENTS[argument][1]
    else:
        other = "scheduler" if argument == "energy_optimizer" else "energy_optimizer"
        value = shipped(other)
    with pytest.raises(RenderFarmError, match=argument):
        RenderFarmManager(clock=ManualClock(T0), **{argument: value})
