"""RenderFarmManager: the facade of the seed API.

It wires the components together and turns each call into one change of the change path
(:mod:`.change_path`): the operations themselves live in :mod:`.job_changes`,
:mod:`.node_changes` and :mod:`.cycle`, edits of held models are routed by :mod:`.edits`, and the
reports are built by :mod:`.status_reports`. Every public method runs under one re-entrant lock,
so the manager is safe to call from several threads, and a call that raises has changed nothing.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from render_farm_manager.core import shot_status, status_reports
from render_farm_manager.core.audit_api import AuditAPI
from render_farm_manager.core.change_path import ChangePath
from render_farm_manager.core.clock import CheckedClock, Clock, as_clock
from render_farm_manager.core.cycle import SchedulingCycle
from render_farm_manager.core.edits import EditRouter
from render_farm_manager.core.errors import (
    InvalidInputError,
    NodeUnavailableError,
    RenderFarmError,
    UnknownClientError,
    UnknownJobError,
    UnknownNodeError,
)
from render_farm_manager.core.farm_metrics import FarmMetrics
from render_farm_manager.core.interfaces import (
    AuditLoggerInterface,
    EnergyOptimizerInterface,
    NodeSpecializerInterface,
    PerformanceMonitorInterface,
    ProgressiveRendererInterface,
    ResourceManagerInterface,
    SchedulerInterface,
)
from render_farm_manager.core.job_changes import JobChanges
from render_farm_manager.core.job_failures import JobFailures
from render_farm_manager.core.lifecycle import can_transition
from render_farm_manager.core.models import (
    FINISHED_STATUSES,
    AnyClient,
    EnergyMode,
    JobPriority,
    NodeStatus,
    PerformanceMetrics,
    ProgressiveOutputConfig,
    RenderFailure,
    RenderJob,
    RenderJobStatus,
    RenderNode,
    RenderTask,
    ResourceAllocation,
    ServiceTier,
)
from render_farm_manager.core.node_changes import ClientChanges, NodeChanges
from render_farm_manager.core.persistence_api import PersistenceAPI
from render_farm_manager.core.placement_checks import PlacementChecks
from render_farm_manager.core.power_api import PowerAPI
from render_farm_manager.core.shot_api import ShotAPI
from render_farm_manager.core.shots import ShotChanges
from render_farm_manager.core.validation import choice, flag, identifier, text, whole_number
from render_farm_manager.energy_optimization.energy_optimizer import EnergyOptimizer
from render_farm_manager.energy_optimization.tariff import TimeOfUseTariff
from render_farm_manager.node_specialization.fit import fits
from render_farm_manager.node_specialization.specialization_manager import (
    NodeSpecializationManager,
)
from render_farm_manager.progressive_result.progressive_renderer import ProgressiveRenderer
from render_farm_manager.resource_management.resource_partitioner import ResourcePartitioner
from render_farm_manager.scheduling.cycle_plan import CyclePlan
from render_farm_manager.scheduling.deadline_scheduler import DeadlineScheduler
from render_farm_manager.utils.logging import AuditLogger, PerformanceMonitor

S = RenderJobStatus


def _component(value: Any, interface: type, argument: str) -> Any:
    if not isinstance(value, interface):
        raise InvalidInputError(
            f"{argument} must implement render_farm_manager.core.interfaces."
            f"{interface.__name__} (subclass it); got {type(value).__name__}",
            field=argument,
        )
    return value


class RenderFarmManager(ShotAPI, AuditAPI, PersistenceAPI, PowerAPI):
    """The render farm: clients, nodes and jobs, and the components that decide for them.

    Beyond the seed API's keyword arguments: ``clock`` (an object with ``now()`` or a callable;
    the system clock by default), ``max_job_errors`` (failures before a job is failed, 3),
    ``node_blocklist_threshold`` (failures of one job on one node before that node is
    blocklisted for it, 2).
    """

    def __init__(
        self,
        scheduler: SchedulerInterface | None = None,
        resource_manager: ResourceManagerInterface | None = None,
        node_specializer: NodeSpecializerInterface | None = None,
        progressive_renderer: ProgressiveRendererInterface | None = None,
        energy_optimizer: EnergyOptimizerInterface | None = None,
        audit_logger: AuditLoggerInterface | None = None,
        performance_monitor: PerformanceMonitorInterface | None = None,
        *,
        clock: Clock | Callable[[], datetime] | None = None,
        max_job_errors: int = 3,
        node_blocklist_threshold: int = 2,
    ) -> None:
        max_job_errors = whole_number(max_job_errors, "max_job_errors")
        node_blocklist_threshold = whole_number(
            node_blocklist_threshold, "node_blocklist_threshold"
        )
        self.clock = CheckedClock(as_clock(clock))
        log: AuditLoggerInterface = _component(
            audit_logger if audit_logger is not None else AuditLogger(),
            AuditLoggerInterface,
            "audit_logger",
        )
        monitor: PerformanceMonitorInterface = _component(
            performance_monitor if performance_monitor is not None else PerformanceMonitor(log),
            PerformanceMonitorInterface,
            "performance_monitor",
        )
        if node_specializer is None:
            node_specializer = getattr(scheduler, "node_specializer", None)
        matcher: NodeSpecializerInterface = _component(
            node_specializer
            if node_specializer is not None
            else NodeSpecializationManager(log, monitor),
            NodeSpecializerInterface,
            "node_specializer",
        )
        self.audit_logger = log
        self.performance_monitor = monitor
        self.node_specializer = matcher
        self.scheduler: SchedulerInterface = _component(
            scheduler
            if scheduler is not None
            else DeadlineScheduler(log, monitor, node_specializer=matcher),
            SchedulerInterface,
            "scheduler",
        )
        self.resource_manager: ResourceManagerInterface = _component(
            resource_manager if resource_manager is not None else ResourcePartitioner(log, monitor),
            ResourceManagerInterface,
            "resource_manager",
        )
        self.progressive_renderer: ProgressiveRendererInterface = _component(
            progressive_renderer
            if progressive_renderer is not None
            else ProgressiveRenderer(log, monitor),
            ProgressiveRendererInterface,
            "progressive_renderer",
        )
        self.energy_optimizer: EnergyOptimizerInterface = _component(
            energy_optimizer if energy_optimizer is not None else EnergyOptimizer(log, monitor),
            EnergyOptimizerInterface,
            "energy_optimizer",
        )
        self.scheduler.node_specializer = matcher
        path = self._path = ChangePath(self.clock, log, monitor)
        # Components and the audit log read the time of the change under way (the clock is read
        # once per change, before anything is written).
        log.use_clock(path.now)
        for component in (self.scheduler, self.progressive_renderer, self.energy_optimizer):
            component.use_clock(path)

        self.clients: dict[str, AnyClient] = path.clients
        self.nodes: dict[str, RenderNode] = path.nodes
        self.jobs: dict[str, RenderJob] = path.jobs
        self._metrics = FarmMetrics(path)
        self.performance_metrics: PerformanceMetrics = self._metrics.metrics
        self._placement = PlacementChecks(path, matcher, node_blocklist_threshold)
        self._jobs = JobChanges(
            path, self._metrics, matcher, self.progressive_renderer, self._placement
        )
        self._failures = JobFailures(self._jobs, self._placement, max_job_errors)
        self._nodes = NodeChanges(path, self._jobs, self._failures, self._metrics)
        self._clients = ClientChanges(path)
        self._shots = self._jobs.shots = ShotChanges(path, self._jobs)
        self._cycle = SchedulingCycle(
            path,
            self._jobs,
            self._metrics,
            self.scheduler,
            self.resource_manager,
            self.energy_optimizer,
            self.progressive_renderer,
        )
        path.edit_handler = EditRouter(
            self._jobs, self._nodes, self._clients, self._free_node_for, matcher.speeds_edited
        )
        self.resource_allocations: dict[str, ResourceAllocation] = {}
        self.progressive_output_config: ProgressiveOutputConfig = (
            self.progressive_renderer.default_config
        )
        self.last_cycle_plan: CyclePlan | None = None
        """What the latest scheduling cycle decided (placements, preemptions, deferrals)."""
        self._forecast: tuple[tuple[int, datetime], dict[str, datetime]] | None = None
        self.forecast_max_age_seconds = 1.0
        """A forecast of an unchanged farm is reused for this long (status reads by the
        hundred need not each walk the queue)."""
        self._jobs_by_client: dict[str, int] = {}

    @property
    def max_job_errors(self) -> int:
        """Failures after which a job is failed for good."""
        return self._failures.max_job_errors

    @max_job_errors.setter
    def max_job_errors(self, value: int) -> None:
        self._failures.max_job_errors = whole_number(value, "max_job_errors")

    @property
    def node_blocklist_threshold(self) -> int:
        """Failures of one job on one node after which the node is blocklisted for it."""
        return self._placement.node_blocklist_threshold

    @node_blocklist_threshold.setter
    def node_blocklist_threshold(self, value: int) -> None:
        self._placement.node_blocklist_threshold = whole_number(value, "node_blocklist_threshold")

    # ------------------------------------------------------------------------------------------
    # Lookups
    # ------------------------------------------------------------------------------------------

    def _job(self, job_id: Any) -> RenderJob | None:
        return self.jobs.get(identifier(job_id, "job_id"))

    def _known_job(self, job_id: Any) -> RenderJob:
        job = self._job(job_id)
        if job is None:
            raise UnknownJobError(job_id)
        return job

    def _node(self, node_id: Any) -> RenderNode:
        node = self.nodes.get(identifier(node_id, "node_id"))
        if node is None:
            raise UnknownNodeError(node_id)
        return node

    def _free_node_for(self, job: RenderJob) -> RenderNode | None:
        """The best free node for ``job`` now, as the matcher ranks them."""
        free = [n for n in self.nodes.values() if fits(job, n)]
        node_id = self.node_specializer.match_job_to_node(job, free) if free else None
        return self.nodes.get(node_id) if node_id is not None else None

    # ------------------------------------------------------------------------------------------
    # Clients and nodes
    # ------------------------------------------------------------------------------------------

    def add_client(self, client: AnyClient) -> None:
        with self._path.change() as tx:
            self._clients.add(client)
            tx.after_commit(lambda: self.resource_manager.add_client(client))

    def remove_client(self, client_id: str) -> bool:
        """Unregister a client; False if unknown. Raises :class:`ClientInUseError` while it has
        unfinished jobs."""
        with self._path.change() as tx:
            client = self.clients.get(identifier(client_id, "client_id"))
            if client is None:
                return False
            self._clients.remove(client)
            tx.pop_item(self.resource_allocations, client_id)
            tx.after_commit(lambda: self.resource_manager.remove_client(client_id))
            return True

    def update_client_tier(self, client_id: str, tier: ServiceTier | str) -> bool:
        with self._path.change():
            client = self.clients.get(identifier(client_id, "client_id"))
            new_tier = choice(ServiceTier, tier, "tier", str(client_id))
            if client is None:
                return False
            self._clients.set_tier(client, new_tier)
            return True

    def add_node(self, node: RenderNode) -> None:
        """Register a node (also mid-flight: it takes work from the next cycle; a node of a known
        hardware class starts with that class's learned speeds)."""
        with self._path.change() as tx:
            self._nodes.add(node)
            tx.after_commit(lambda: self.resource_manager.add_node(node))

    def remove_node(self, node_id: str) -> bool:
        """Unregister a node; its job, if any, goes back to the queue. False if unknown."""
        with self._path.change() as tx:
            node = self.nodes.get(identifier(node_id, "node_id"))
            if node is None:
                return False
            self._nodes.remove(node)
            tx.after_commit(lambda: self.resource_manager.remove_node(node_id))
            return True

    def set_node_online(self, node_id: str, online: bool = True, reason: str | None = None) -> bool:
        """Bring a node online, or take it offline (its job goes back to the queue).
        ``reason`` is recorded in the audit log (e.g. why the power plan put it to sleep)."""
        with self._path.change():
            node = self._node(node_id)
            status = NodeStatus.ONLINE if flag(online, "online", node_id) else NodeStatus.OFFLINE
            why = f"set {status.value}" if reason is None else text(reason, "reason", node_id)
            self._nodes.set_status(node, status, why)
            return True

    def set_node_maintenance(self, node_id: str, drain: bool = True) -> bool:
        """Take a node out for maintenance. With ``drain`` it finishes its current job first
        (taking no new one); without, its job goes back to the queue at once."""
        with self._path.change():
            node = self._node(node_id)
            if flag(drain, "drain", node_id):
                self._nodes.drain(node)
            else:
                self._nodes.set_status(node, NodeStatus.MAINTENANCE, "maintenance")
            return True

    def drain_node(self, node_id: str) -> bool:
        return self.set_node_maintenance(node_id, drain=True)

    def handle_node_failure(self, node_id: str, error: str = "node failure") -> list[str]:
        """A node died: it goes to ``error``; its job returns to the queue (keeping checkpointed
        progress) or fails at the error threshold. Returns the affected job ids."""
        started = _time.perf_counter()
        with self._path.change():
            node = self._node(node_id)
            affected = self._nodes.fail(node, text(error, "error", node_id))
        self.performance_monitor.record_operation_time(
            "handle_node_failure", _time.perf_counter() - started
        )
        return affected

    def report_render_error(
        self,
        job_id: str,
        error: str,
        node_id: str | None = None,
        corrupt_scene: bool = False,
        failure: RenderFailure | str = RenderFailure.NODE,
    ) -> str:
        """A renderer reported an error on a running job. A corrupt scene (``corrupt_scene`` or
        ``failure="scene"``) fails the job at once (no node can render it); a missing licence
        (``"licence"``) requeues it without counting; out of memory (``"out_of_memory"``)
        requeues it with its memory requirement raised above that node's; other errors
        (``"node"``) count towards the error threshold and the job is requeued. The node stays
        online. Returns ``failed`` or ``requeued``."""
        kind = choice(RenderFailure, failure, "failure", str(job_id))
        with self._path.change():
            job = self._known_job(job_id)
            message = text(error, "error", job_id)
            corrupt = flag(corrupt_scene, "corrupt_scene", job_id)
            if node_id is not None and identifier(node_id, "node_id") != job.assigned_node_id:
                from render_farm_manager.core.errors import NodeMismatchError

                raise NodeMismatchError(job_id, node_id, job.assigned_node_id)
            return self._failures.render_error(job, message, corrupt, kind)

    # ------------------------------------------------------------------------------------------
    # Jobs
    # ------------------------------------------------------------------------------------------

    def _check_job_argument(self, job: Any, method: str) -> RenderJob:
        if not isinstance(job, RenderJob):
            raise InvalidInputError(
                f"{method}() takes a RenderJob, got {type(job).__name__}", field="job"
            )
        return job

    def _submit(self, job: RenderJob, emergency: bool) -> None:
        tx = self._path.tx
        self._jobs.submit(job, emergency=emergency)
        count = self._jobs_by_client.get(job.client_id, 0) + 1
        tx.set_item(self._jobs_by_client, job.client_id, count)
        self._path.measure("update_client_job_count", job.client_id, count)

    def submit_job(self, job: RenderJob) -> str:
        """Accept a job. A job closing a dependency cycle is stored as failed (reason in the audit
        log); an unknown client or a duplicate id raises and stores nothing. The deadline is
        checked against the farm at once (``deadline_feasible``), and a job no node can run says
        so (``placement_warning``)."""
        started = _time.perf_counter()
        if not isinstance(job, RenderJob):
            self._check_job_argument(job, "submit_job")
        with self._path.change():
            self._submit(job, emergency=False)
        self.performance_monitor.record_operation_time("submit_job", _time.perf_counter() - started)
        return job.id

    def submit_emergency_job(self, job: RenderJob) -> str:
        """Submit a job that runs before everything else (critical, emergency), preempting if it
        must, and run a scheduling cycle at once so it starts now. Refused: nothing changes, not
        even the job given."""
        self._check_job_argument(job, "submit_emergency_job")
        with self._path.change():
            self._submit(job, emergency=True)
            self._run_cycle()
        return job.id

    def start_job(self, job_id: str, node_id: str | None = None) -> bool:
        """Start a waiting job now, on ``node_id`` or on the best free node that fits it (an
        operator's placement; the scheduler's rules are not asked). Raises
        :class:`NodeUnavailableError` when the node cannot take it."""
        with self._path.change():
            job = self._known_job(job_id)
            node = self._node(node_id) if node_id is not None else self._free_node_for(job)
            if node is None:
                raise NodeUnavailableError(job.id, "(none)", "no free online node fits it now")
            held_back = self._cycle.limit_book().problem(job)
            if held_back is not None and job.status != S.RUNNING:
                raise NodeUnavailableError(job.id, node.id, held_back)
            self._nodes.move_job(job, node)
            return True

    def cancel_job(self, job_id: str) -> bool:
        """Cancel; the node is freed, ``assigned_node_id`` kept for the record. False if unknown
        or already finished."""
        with self._path.change():
            job = self._job(job_id)
            if job is None or job.status in FINISHED_STATUSES:
                return False
            self._jobs.cancel(job)
            return True

    def pause_job(self, job_id: str) -> bool:
        """Hold a job (a running one leaves its node; checkpointed progress is kept). False if
        unknown or not pausable."""
        with self._path.change():
            job = self._job(job_id)
            if job is None or not can_transition(job.status, S.PAUSED):
                return False
            self._jobs.pause(job)
            return True

    def resume_job(self, job_id: str) -> bool:
        """A paused job goes back to the queue. False if unknown or not paused."""
        with self._path.change():
            job = self._job(job_id)
            if job is None or job.status != S.PAUSED:
                return False
            self._jobs.resume(job)
            return True

    def retry_job(self, job_id: str) -> bool:
        """Put a failed job back in the queue with a clean error count. False if unknown or not
        failed; raises :class:`UnknownClientError` when its client was removed and
        :class:`DependencyCycleError` when its dependencies would close a cycle."""
        with self._path.change():
            job = self._job(job_id)
            if job is None or job.status != S.FAILED:
                return False
            self._jobs.retry(job)
            return True

    def update_job_priority(self, job_id: str, priority: JobPriority | str) -> bool:
        """False if unknown or finished; an unknown priority raises InvalidInputError."""
        with self._path.change():
            job = self._job(job_id)
            new = choice(JobPriority, priority, "priority", str(job_id))
            if job is None or job.status in FINISHED_STATUSES:
                return False
            self._jobs.set_priority(job, new)
            return True

    def update_job_progress(self, job_id: str, progress: float) -> bool:
        """Record progress (clamped to 0-100); 100 completes the job. For a running job that
        checkpoints, each report is a checkpoint. False if unknown or finished."""
        with self._path.change():
            job = self._job(job_id)
            if job is None or job.status in FINISHED_STATUSES:
                return False
            self._jobs.set_progress(job, progress)
            return True

    def complete_job(self, job_id: str, render_time_hours: float | None = None) -> bool:
        """Complete a job: progress 100, node freed, metrics and turnaround recorded, the node's
        learned speed updated (from ``render_time_hours`` when given, else the time since it
        started). False if unknown or already finished."""
        started = _time.perf_counter()
        with self._path.change():
            job = self._job(job_id)
            if job is None or job.status in FINISHED_STATUSES:
                return False
            self._jobs.complete(job, render_time_hours)
        self.performance_monitor.record_operation_time(
            "complete_job", _time.perf_counter() - started
        )
        return True

    # ------------------------------------------------------------------------------------------
    # The scheduling cycle
    # ------------------------------------------------------------------------------------------

    def _run_cycle(self) -> dict[str, Any]:
        outcome = self._cycle.run(self.progressive_output_config)
        tx = self._path.tx
        tx.set_attr(self, "resource_allocations", outcome.allocations)
        tx.set_attr(self, "last_cycle_plan", outcome.plan)
        return outcome.summary()

    def run_scheduling_cycle(self) -> dict[str, Any]:
        """Decide and apply one round of placements, preemptions and previews: all of it, or,
        if anything raises, none of it."""
        started = _time.perf_counter()
        with self._path.change():
            result = self._run_cycle()
        self.performance_monitor.update_scheduling_cycle_time(
            _time.perf_counter() - started, result["jobs_scheduled"]
        )
        return result

    def process_due_previews(self) -> dict[str, str]:
        """Produce the previews due now for running jobs (also done by every cycle); returns
        job id → preview path."""
        with self._path.change():
            running = list(self._path.index.running_by_node.values())
            now = self._path.now()
            due = self.progressive_renderer.due_outputs(
                running,  # type: ignore[arg-type]
                self.progressive_output_config,
                now,
            )
            self._cycle.record_previews(due, now)
        return {
            job.id: self.progressive_renderer.get_latest_progressive_output(job.id) or ""
            for job, _ in due
        }

    # ------------------------------------------------------------------------------------------
    # Settings
    # ------------------------------------------------------------------------------------------

    def set_progressive_output_config(self, config: ProgressiveOutputConfig) -> None:
        """Use ``config`` (a ProgressiveOutputConfig, or a dict of its fields) from now on."""
        if isinstance(config, dict):
            config = ProgressiveOutputConfig.model_validate(config)
        if not isinstance(config, ProgressiveOutputConfig):
            raise InvalidInputError(
                "set_progressive_output_config() takes a ProgressiveOutputConfig (or a dict of "
                f"its fields), got {type(config).__name__}",
                field="config",
            )
        with self._path.change() as tx:
            tx.set_attr(self, "progressive_output_config", config)
            tx.set_attr(self.progressive_renderer, "default_config", config)
            self._path.log(
                "log_event",
                "progressive_config_changed",
                "Progressive output configuration changed",
                config=config.model_dump(),
            )

    def set_energy_mode(self, mode: EnergyMode | str) -> None:
        new_mode = choice(EnergyMode, mode, "mode", "the farm")
        with self._path.change() as tx:
            old_mode = EnergyMode(self.energy_optimizer.current_energy_mode)
            tx.changed = True
            tx.after_commit(lambda: self.energy_optimizer.set_energy_mode(new_mode))
            self._path.log(
                "log_energy_mode_changed", old_mode=old_mode.value, new_mode=new_mode.value
            )

    def set_energy_tariff(self, tariff: TimeOfUseTariff) -> None:
        """Price electricity by ``tariff`` from now on (deferral, placement and accounting read
        it; the cost already accounted stays). Raises :class:`InvalidInputError` for anything
        but a :class:`TimeOfUseTariff`, or a farm whose energy optimizer has no tariff."""
        if not isinstance(tariff, TimeOfUseTariff):
            raise InvalidInputError(
                f"set_energy_tariff() takes a TimeOfUseTariff, got {type(tariff).__name__}",
                field="tariff",
            )
        if not hasattr(self.energy_optimizer, "tariff"):
            raise InvalidInputError(
                "this farm's energy optimizer takes no tariff", field="energy_optimizer"
            )
        with self._path.change() as tx:
            tx.set_attr(self.energy_optimizer, "tariff", tariff)
            self._path.log(
                "log_event",
                "energy_tariff_changed",
                f"Electricity tariff changed: {tariff.min_price:g}-{tariff.max_price:g} per kWh",
                periods=[
                    [p.start.isoformat(), p.end.isoformat(), p.price_per_kwh]
                    for p in tariff.periods
                ],
                default_price=tariff.default_price,
            )

    # ------------------------------------------------------------------------------------------
    # Reports
    # ------------------------------------------------------------------------------------------

    def forecast(self) -> dict[str, datetime]:
        """Expected finish time of every running and eligible waiting job (cached until the
        state changes, or for ``forecast_max_age_seconds`` of clock time, 1 s by default)."""
        with self._path.lock:
            now = self._path.now()
            key = (self._path.version, now)
            cached = self._forecast
            if cached is not None and cached[0][0] == key[0]:
                age = (now - cached[0][1]).total_seconds()
                if 0 <= age <= self.forecast_max_age_seconds:
                    return cached[1]  # nothing changed since, and it is fresh enough
            if self._forecast is None or self._forecast[0] != key:
                self._path.index.flush()
                finish = self.scheduler.forecast(
                    queue=self._path.index.queue,
                    jobs=self.jobs,
                    nodes=self.nodes.values(),
                    running_by_node=self._path.index.running_by_node,
                    now=now,
                )
                self._forecast = (key, finish)
            return self._forecast[1]

    def effective_priority(self, job_id: str) -> JobPriority | None:
        with self._path.lock:
            job = self._job(job_id)
            if job is None:
                return None
            self._path.index.flush()
            return self.scheduler.effective_priority(
                job, self._path.index.inheritance, self._path.now()
            )

    def get_job_status(self, job_id: str) -> dict[str, Any] | None:
        with self._path.lock:
            job = self._job(job_id)
            if job is None:
                return None
            forecast = self.forecast()

            def best_speed(work: RenderJob) -> float | None:
                return self._placement.best_speed(work, online_only=True)

            status = status_reports.job_status(
                self._path,
                job,
                forecast=forecast,
                scheduler=self.scheduler,
                previews=self.progressive_renderer,
                best_speed=best_speed,
            )
            if isinstance(job, RenderTask):
                status.update(shot_status.task_fields(job))
            elif job.is_shot:
                now = self._path.now()
                nodes = self._path.nodes
                status.update(
                    shot_status.shot_fields(job, self._shots, forecast, now, best_speed, nodes)
                )
            return status

    def get_client_status(self, client_id: str) -> dict[str, Any] | None:
        with self._path.lock:
            client = self.clients.get(identifier(client_id, "client_id"))
            if client is None:
                return None
            allocation = self.resource_allocations.get(client.id)
            return status_reports.client_status(self._path, client, allocation)

    def get_farm_status(self) -> dict[str, Any]:
        with self._path.lock:
            return status_reports.farm_status(
                self._path, energy=self.energy_optimizer, metrics=self.performance_metrics
            )

    @property
    def state_version(self) -> int:
        """Changes whenever the farm's state does (every committed change): a caller that saw
        the same version has nothing new to look at."""
        return self._path.version

    @property
    def queue_length(self) -> int:
        """Jobs eligible to run now and waiting for a node."""
        return len(self._path.index.queue)

    def waiting_job_ids(self) -> list[str]:
        """Ids of the eligible waiting jobs, in no particular order (cheaper than
        :meth:`waiting_jobs`, which sorts them)."""
        with self._path.lock:
            return self._path.index.queue.ids()

    def waiting_by_client(self) -> dict[str, int]:
        """Eligible waiting jobs per client."""
        with self._path.lock:
            return dict(self._path.index.queue.waiting_by_client)

    def waiting_jobs(self) -> list[RenderJob]:
        """Eligible waiting jobs in the order the scheduler would take them now."""
        with self._path.lock:
            self._path.index.flush()
            order = self._path.index.queue.in_order(
                self._path.now().timestamp(), self.scheduler.margin_seconds
            )
            return [self.jobs[job_id] for job_id in order]


__all__ = ["RenderFarmError", "RenderFarmManager", "UnknownClientError"]
