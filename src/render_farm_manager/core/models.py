"""The farm's data models (pydantic v2): mutable, validated on construction and on assignment.

Names and fields follow the seed API contract; fields added beyond it carry defaults, so every
seed example keeps working.
"""

from __future__ import annotations

import weakref
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from render_farm_manager.core.clock import to_naive_local

EARLIEST_TIME = datetime(1971, 1, 1)
LATEST_TIME = datetime(9000, 1, 1)
"""Times outside this range are refused: the farm adds and subtracts years of work to them."""
MAX_HOURS = 100_000.0
"""About 11 years: the longest render, deadline slack or uptime a model accepts."""
MAX_ID_LENGTH = 256
MAX_FRAMES = 100_000
"""The most frames one shot may have."""


class RenderJobStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobPriority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Numeric rank (low 0 … critical 3): compare priorities through this, never as text."""
        return PRIORITY_RANK[self]

    @classmethod
    def from_rank(cls, rank: int) -> JobPriority:
        return _PRIORITY_BY_RANK[max(0, min(3, rank))]


PRIORITY_RANK: dict[JobPriority, int] = {
    JobPriority.LOW: 0,
    JobPriority.MEDIUM: 1,
    JobPriority.HIGH: 2,
    JobPriority.CRITICAL: 3,
}
_PRIORITY_BY_RANK = {rank: priority for priority, rank in PRIORITY_RANK.items()}


class NodeStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    MAINTENANCE = "maintenance"
    ERROR = "error"
    STARTING = "starting"
    STOPPING = "stopping"


class EnergyMode(StrEnum):
    PERFORMANCE = "performance"
    BALANCED = "balanced"
    EFFICIENCY = "efficiency"
    NIGHT_SAVINGS = "night_savings"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class ServiceTier(StrEnum):
    BASIC = "basic"
    STANDARD = "standard"
    PREMIUM = "premium"


class NodeType(StrEnum):
    CPU = "cpu"
    GPU = "gpu"
    HYBRID = "hybrid"
    SPECIALIZED = "specialized"


class RenderFailure(StrEnum):
    """What kind of failure a render reported."""

    NODE = "node"
    """Anything else: counts against the node (retry, blocklist, error threshold)."""
    SCENE = "scene"
    """The scene or job is broken (parse error, missing file): fail the job at once."""
    LICENCE = "licence"
    """No licence: retry later, not the node's fault."""
    OUT_OF_MEMORY = "out_of_memory"
    """Retry on a node with more memory (the job's memory requirement is raised)."""


class EditObserver(Protocol):
    """Who holds a model and must see every edit of it (the manager's change path)."""

    def observes(self, model: FarmModel) -> bool:
        """Is ``model`` (this very object) one the observer holds?"""
        ...

    def edit(self, model: FarmModel, name: str, value: Any) -> None:
        """Apply ``model.name = value`` (already validated) as a change, or raise and change
        nothing."""
        ...


class FarmModel(BaseModel):
    """Base of every model: mutable, validated on assignment, ``.copy()`` without warnings.

    An assignment is validated on a copy first, so a refused value (a field out of range, or a
    rule across fields such as a ceiling below a guarantee) leaves the model as it was. When the
    model is held by a manager, the validated edit goes to the manager's change path instead of
    being written here: it is applied there as if the corresponding manager method had been
    called, or refused with the documented error.
    """

    model_config = ConfigDict(
        validate_assignment=True, use_enum_values=False, extra="forbid", allow_inf_nan=False
    )
    _held_by: weakref.ReferenceType[Any] | None = PrivateAttr(default=None)

    def copy(  # type: ignore[override]
        self, *, update: dict[str, Any] | None = None, deep: bool = False
    ) -> Any:
        """Same as :meth:`model_copy` (kept for the seed API)."""
        return self.model_copy(update=update, deep=deep)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in type(self).model_fields:
            super().__setattr__(name, value)
            return
        checked = self.checked_value(name, value)
        observer = self.holder()
        if observer is not None and observer.observes(self):
            observer.edit(self, name, checked)
            return
        self.__dict__[name] = checked
        self.__pydantic_fields_set__.add(name)

    def checked_value(self, name: str, value: Any) -> Any:
        """``value`` as the model would store it in ``name``; raises ``ValidationError`` (naming
        the field) and changes nothing when the model would refuse it."""
        trial = self.__copy__()
        BaseModel.__setattr__(trial, name, value)
        return trial.__dict__[name]

    def holder(self) -> EditObserver | None:
        """The change path holding this model, if any."""
        private = self.__pydantic_private__
        ref = private.get("_held_by") if private else None
        return ref() if ref is not None else None

    def hold(self, observer: EditObserver | None) -> None:
        """Route later edits of this model to ``observer`` (None: edits apply here again)."""
        private = self.__pydantic_private__
        if private is not None:
            private["_held_by"] = None if observer is None else weakref.ref(observer)

    def __copy__(self) -> Any:
        duplicate = super().__copy__()
        duplicate.hold(None)  # a copy is a new object: nobody holds it
        return duplicate

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Any:
        duplicate = super().__deepcopy__(memo)
        duplicate.hold(None)
        return duplicate

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        private = state.get("__pydantic_private__")
        if private:
            state["__pydantic_private__"] = {**private, "_held_by": None}
        return state


def _naive(value: datetime | None) -> datetime | None:
    """Aware times become naive local times; times the farm cannot compute with are refused."""
    if value is None:
        return None
    value = to_naive_local(value)
    if not EARLIEST_TIME <= value <= LATEST_TIME:
        raise ValueError(
            f"{value.isoformat()} is outside the times the farm accepts "
            f"({EARLIEST_TIME.year}-{LATEST_TIME.year})"
        )
    return value


class NodeCapabilities(FarmModel):
    cpu_cores: int = Field(gt=0, le=1_000_000)
    memory_gb: int = Field(gt=0, le=100_000_000)
    gpu_model: str | None = Field(default=None, max_length=MAX_ID_LENGTH)
    gpu_count: int = Field(default=0, ge=0, le=10_000)
    gpu_memory_gb: float = Field(default=0.0, ge=0, le=1_000_000)
    gpu_compute_capability: float = Field(default=0.0, ge=0, le=1_000)
    storage_gb: int = Field(default=1000, gt=0, le=1_000_000_000)
    specialized_for: list[str] = Field(default_factory=list, max_length=1_000)
    # Beyond the seed contract: what job host requirements may ask for.
    os: str | None = Field(default=None, max_length=64)
    """Operating system family (``linux``, ``windows``, ``macos``); None: not advertised."""
    attributes: dict[str, str] = Field(default_factory=dict, max_length=1_000)
    """Custom attributes a job may require (``{"renderer": "arnold-7"}``); several values of
    one attribute comma-separated (``{"pool": "gpu,lighting"}``: the node is in both pools)."""


class RenderNode(FarmModel):
    id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    name: str
    status: NodeStatus = NodeStatus.ONLINE
    capabilities: NodeCapabilities
    power_efficiency_rating: float = Field(default=50.0, ge=0, le=100)
    current_job_id: str | None = None
    performance_history: dict[str, float] = Field(default_factory=dict)
    last_error: str | None = None
    uptime_hours: float = Field(default=0.0, ge=0, le=10 * MAX_HOURS)
    # Beyond the seed contract.
    node_type: NodeType | None = None
    draining: bool = False
    """True while the node finishes its current job before going to maintenance."""
    idle_power_watts: float | None = Field(default=None, ge=0, le=10_000_000)
    busy_power_watts: float | None = Field(default=None, ge=0, le=10_000_000)

    @field_validator("performance_history")
    @classmethod
    def _speeds_are_positive(cls, history: dict[str, float]) -> dict[str, float]:
        for job_type, speed in history.items():
            if not 0 < speed <= 1_000:
                raise ValueError(
                    f"performance_history[{job_type!r}] is a speed relative to the estimate "
                    f"and must be within (0, 1000], got {speed}"
                )
        return history


class RenderJob(FarmModel):
    id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    name: str
    client_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    status: RenderJobStatus = RenderJobStatus.PENDING
    job_type: str = "generic"
    priority: JobPriority = JobPriority.MEDIUM
    submission_time: datetime | None = None
    deadline: datetime
    estimated_duration_hours: float = Field(gt=0, le=MAX_HOURS)
    progress: float = Field(default=0.0, ge=0, le=100)
    requires_gpu: bool = False
    memory_requirements_gb: float = Field(default=4.0, gt=0, le=100_000_000)
    cpu_requirements: int = Field(default=1, gt=0, le=1_000_000)
    scene_complexity: int = Field(default=5, ge=1, le=10)
    dependencies: list[str] = Field(default_factory=list)
    assigned_node_id: str | None = None
    output_path: str = ""
    error_count: int = Field(default=0, ge=0, le=1_000_000)
    can_be_preempted: bool = True
    supports_progressive_output: bool = False
    supports_checkpoint: bool = False
    last_checkpoint_time: datetime | None = None
    last_progressive_output_time: datetime | None = None
    energy_intensive: bool = False
    # Beyond the seed contract.
    emergency: bool = False
    """Submitted through ``submit_emergency_job``: runs before everything else."""
    started_at: datetime | None = None
    progress_reported_at: datetime | None = None
    """When the progress of the running job was last reported (its start, at first)."""
    completed_at: datetime | None = None
    deadline_feasible: bool | None = None
    """Set at submission: False when even an empty farm could not finish it in time."""
    blocked_reason: str | None = None
    """Why a pending job cannot start (a failed or cancelled dependency)."""
    failure_reason: str | None = None
    excluded_node_ids: list[str] = Field(default_factory=list)
    """Nodes that failed this job repeatedly; the job is not placed on them again (unless every
    node that could run it is among them: then the least-failing one is taken off the list and
    ``placement_warning`` says so)."""
    placement_warning: str | None = None
    """Why the job may wait forever or runs where it would rather not (no node in the farm can
    run it; every fitting node is blocklisted for it)."""
    # Shots: a frame range (or steps) that the manager expands into tasks.
    frames: str | None = Field(default=None, max_length=100_000)
    """Frame range in Open Job Description syntax (``1001-1240``, ``1-100:5``, ``1,3,10-20``).
    With frames (or ``steps``) the job is a *shot*: the manager splits it into tasks."""
    chunk_size: int | None = Field(default=None, ge=1, le=MAX_FRAMES)
    """Frames per task (default: one, or what ``target_task_seconds`` makes it)."""
    target_task_seconds: float | None = Field(default=None, gt=0, le=MAX_HOURS * 3600)
    """Aim for tasks of about this run time (chunk size from the learned per-frame time)."""
    steps: list[JobStep] = Field(default_factory=list, max_length=100)
    """Steps of a shot (simulate, render, composite), each with its own frames; empty: one
    step made of ``frames``."""
    preview_first: bool = True
    """Render the first, last and middle frames, then every ``preview_every``-th, first."""
    preview_every: int | None = Field(default=None, ge=2, le=MAX_FRAMES)
    """Stride of the coarse preview pass (default: about ten frames across the range)."""
    limits: dict[str, int] = Field(default_factory=dict, max_length=100)
    """Counted resources each task holds while it runs (``{"arnold": 1}``)."""
    machine_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    """At most this many nodes work on the job at once."""
    gpu_count: int = Field(default=0, ge=0, le=10_000)
    """At least this many GPUs (``requires_gpu`` alone means one)."""
    gpu_memory_gb: float = Field(default=0.0, ge=0, le=1_000_000)
    """At least this much memory per GPU."""
    os: str | None = Field(default=None, max_length=64)
    """Operating system family the job must run on."""
    required_attributes: dict[str, list[str]] = Field(default_factory=dict, max_length=100)
    """Node attributes the job needs: each name must have one of the listed values."""
    command: list[str] = Field(default_factory=list, max_length=10_000)
    """What a task runs (an argv list; ``{start}``, ``{end}``, ``{frames}`` are replaced)."""
    openjd_session: dict[str, Any] | None = None
    """For an Open Job Description job whose steps need more than a command line
    (environments, embedded files, timeouts, cancel methods, expressions): the template
    (``template``) and its resolved parameter values (``parameters``: name → ``{type,
    value}``). Its tasks then run as openjd-sessions sessions; ``command`` is informative."""
    preview_scale: float | None = Field(default=None, gt=0, lt=1)
    """Render each preview-first frame at this fraction of the resolution before its full
    render (where the renderer's adapter can), so a director sees the shot early."""

    @property
    def is_shot(self) -> bool:
        """Is this job split into tasks (it has frames or steps)?"""
        return self.frames is not None or bool(self.steps)

    @property
    def shot_id(self) -> str:
        """The job whose machine limit this work counts against (itself)."""
        return self.id

    def kept_progress(self) -> float:
        """Progress that survives losing the node without a checkpoint (none for a job)."""
        return 0.0

    _naive_times = field_validator(
        "submission_time",
        "deadline",
        "last_checkpoint_time",
        "last_progressive_output_time",
        "started_at",
        "progress_reported_at",
        "completed_at",
    )(_naive)


class JobStep(FarmModel):
    """One step of a shot: its frames, how they are chunked, and what it waits for."""

    name: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    frames: str | None = Field(default=None, max_length=100_000)
    """Frame range of the step (default: the shot's ``frames``; none at all: one task)."""
    chunk_size: int | None = Field(default=None, ge=1, le=MAX_FRAMES)
    target_task_seconds: float | None = Field(default=None, gt=0, le=MAX_HOURS * 3600)
    depends_on: list[str] = Field(default_factory=list, max_length=100)
    """Names of the steps this one waits for."""
    frame_by_frame: bool = False
    """Frame N of this step waits only for frame N of the steps it depends on."""
    estimated_hours_per_frame: float | None = Field(default=None, gt=0, le=MAX_HOURS)
    """Default: the job's estimate shared evenly over every frame of every step."""
    command: list[str] = Field(default_factory=list, max_length=10_000)
    job_type: str | None = None
    requires_gpu: bool | None = None
    cpu_requirements: int | None = Field(default=None, gt=0, le=1_000_000)
    memory_requirements_gb: float | None = Field(default=None, gt=0, le=100_000_000)
    gpu_count: int | None = Field(default=None, ge=0, le=10_000)
    gpu_memory_gb: float | None = Field(default=None, ge=0, le=1_000_000)
    limits: dict[str, int] | None = None
    os: str | None = Field(default=None, max_length=64)
    required_attributes: dict[str, list[str]] | None = None
    """Host requirements of this step (default: the job's)."""


RenderJob.model_rebuild()


class RenderTask(RenderJob):
    """One unit of work of a shot: a chunk of frames of one step, placed on one node.

    Created by the manager when a shot is submitted; it carries the shot's client, priority,
    deadline, requirements and flags. ``frames_done`` are never rendered again.
    """

    job_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    """The shot this task belongs to."""
    step: str = "main"
    task_frames: list[int] = Field(default_factory=list)
    frames_done: list[int] = Field(default_factory=list)
    shot_hours_per_node: float = Field(default=0.0, ge=0, le=MAX_HOURS)
    """The shot's work per node it can get: the task's deadline slack is the shot's."""
    preview: bool = False
    """One of the shot's preview-first frames: with ``preview_scale``, a low-resolution pass of
    it is rendered first."""
    first_look: bool = False
    """The shot's first preview frame: queued one level above the shot's priority (emergencies
    and work at risk still go first), so a shot can be checked soon after it is submitted."""

    @property
    def is_shot(self) -> bool:
        return False

    @property
    def shot_id(self) -> str:
        return self.job_id

    @property
    def frames_left(self) -> list[int]:
        """Frames still to render (completed ones are never rendered again)."""
        done = set(self.frames_done)
        return [frame for frame in self.task_frames if frame not in done]

    def kept_progress(self) -> float:
        """Completed frames are on disk: their share of the task survives any requeue."""
        if not self.task_frames:
            return 0.0
        return 100.0 * len(set(self.frames_done)) / len(self.task_frames)


class Client(FarmModel):
    id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    name: str
    sla_tier: ServiceTier = ServiceTier.STANDARD
    guaranteed_resources: float = Field(default=0.0, ge=0, le=100)
    max_resources: float = Field(default=100.0, ge=0, le=100)

    @model_validator(mode="after")
    def _ceiling_not_below_guarantee(self) -> Client:
        return _check_ceiling(self)  # type: ignore[no-any-return]


def _check_ceiling(client: Any) -> Any:
    if client.max_resources < client.guaranteed_resources:
        raise ValueError(
            f"max_resources ({client.max_resources}) must not be below "
            f"guaranteed_resources ({client.guaranteed_resources})"
        )
    return client


class RenderClient(FarmModel):
    """The older client shape; exposes ``id`` and ``sla_tier`` like :class:`Client`."""

    client_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    name: str
    service_tier: ServiceTier = ServiceTier.STANDARD
    guaranteed_resources: float = Field(default=0.0, ge=0, le=100)
    max_resources: float = Field(default=100.0, ge=0, le=100)

    @model_validator(mode="after")
    def _ceiling_not_below_guarantee(self) -> RenderClient:
        return _check_ceiling(self)  # type: ignore[no-any-return]

    @property
    def id(self) -> str:
        return self.client_id

    @property
    def sla_tier(self) -> ServiceTier:
        return self.service_tier

    @sla_tier.setter
    def sla_tier(self, value: ServiceTier | str) -> None:
        self.service_tier = ServiceTier(value)


AnyClient = Client | RenderClient


class ResourceAllocation(FarmModel):
    client_id: str
    allocated_percentage: float = Field(default=0.0, ge=0)
    allocated_nodes: list[str] = Field(default_factory=list)
    borrowed_percentage: float = Field(default=0.0, ge=0)
    borrowed_from: dict[str, float] = Field(default_factory=dict)
    lent_percentage: float = Field(default=0.0, ge=0)
    lent_to: dict[str, float] = Field(default_factory=dict)


class PerformanceMetrics(FarmModel):
    total_jobs_completed: int = 0
    jobs_completed_on_time: int = 0
    preemptions_count: int = 0
    node_failures_count: int = 0
    average_utilization_percentage: float = 0.0
    average_node_idle_percentage: float = 0.0
    energy_usage_kwh: float = 0.0
    average_job_turnaround_hours: float = 0.0
    optimization_improvement_percentage: float = 0.0


class AuditLogEntry(FarmModel):
    timestamp: datetime
    event_type: str
    job_id: str | None = None
    node_id: str | None = None
    client_id: str | None = None
    description: str
    details: dict[str, Any] = Field(default_factory=dict)
    log_level: LogLevel = LogLevel.INFO


class ProgressiveOutputConfig(FarmModel):
    enabled: bool = True
    interval_minutes: float = Field(default=30, gt=0, le=60 * MAX_HOURS)
    quality_levels: list[int] = Field(default_factory=lambda: [25, 50, 75], max_length=100)
    max_overhead_percentage: float = Field(default=5.0, ge=0, le=100)

    @field_validator("quality_levels")
    @classmethod
    def _levels_in_range(cls, levels: list[int]) -> list[int]:
        if not levels:
            raise ValueError("quality_levels needs at least one level")
        for level in levels:
            if not 1 <= level <= 100:
                raise ValueError(f"quality level {level} is outside 1-100")
        return sorted(levels)


FINISHED_STATUSES = frozenset(
    {RenderJobStatus.COMPLETED, RenderJobStatus.FAILED, RenderJobStatus.CANCELLED}
)
WAITING_STATUSES = frozenset({RenderJobStatus.PENDING, RenderJobStatus.QUEUED})
