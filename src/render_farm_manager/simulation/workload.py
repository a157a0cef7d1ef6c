"""A workload: the farm, the clients, the jobs and the ground truth the scheduler never sees.

The hidden world (each node's true speed, noise and declared hardware) is described in
:mod:`render_farm_manager.simulation.world`.

Most jobs are *shots*: a frame range (``frames`` frames from ``first_frame``) that the manager
splits into tasks, in one to three steps (:data:`SHOT_STEPS`): render; render then composite
(frame by frame); or a simulation (one task) then render then composite. A shot's estimate is
its whole work, shared over its steps by :data:`STEP_SHARES`; each task's true duration is its
share of the estimate, times the shot's noise, over the speed of its node on the task's type.

Workloads round-trip through JSON (everything) and CSV (the jobs), so a studio can replay its
own history.
"""

from __future__ import annotations

import csv
import math
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from render_farm_manager.core.errors import RenderFarmError
from render_farm_manager.core.models import JobPriority, JobStep, RenderJob, RenderNode
from render_farm_manager.node_specialization.fit import HardwareNeeds, hardware_misfit
from render_farm_manager.simulation.world import NodeTraits as NodeTraits
from render_farm_manager.simulation.world import World
from render_farm_manager.simulation.world import node_id_of as node_id_of


class WorkloadError(RenderFarmError, ValueError):
    """A workload file or parameter is not usable."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClientSpec(_Spec):
    id: str
    name: str
    sla_tier: str = "standard"
    guaranteed_resources: float = Field(default=0, ge=0, le=100)
    max_resources: float = Field(default=100, ge=0, le=100)


class NodeClassSpec(_Spec):
    name: str
    count: int = Field(ge=0)
    cpu_cores: int = Field(gt=0)
    memory_gb: int = Field(gt=0)
    gpu_count: int = Field(default=0, ge=0)
    gpu_model: str | None = None
    gpu_memory_gb: float = 0
    gpu_compute_capability: float = 0
    specialized_for: list[str] = Field(default_factory=list)
    power_efficiency_rating: float = Field(default=60, ge=0, le=100)
    idle_watts: float = Field(gt=0)
    busy_watts: float = Field(gt=0)
    sleep_watts: float = Field(ge=0)
    wake_up_minutes: float = Field(default=5, ge=0)
    mtbf_hours: float = Field(default=2000, gt=0)
    mttr_hours: float = Field(default=4, gt=0)
    arrives_at_hours: float = Field(default=0, ge=0)
    retires_at_hours: float | None = None
    speed_by_job_type: dict[str, float] = Field(default_factory=dict)
    """Hidden: true speed relative to the estimate (2.0 renders in half the estimated time)."""
    default_speed: float = Field(default=1.0, gt=0)
    # Nodes of the class differ (every default: they are all the class, as in older files).
    speed_spread: float = Field(default=0, ge=0, le=0.5)
    """Hidden: log-sigma of each node's own speed factor (0.04: a few percent either way)."""
    outlier_share: float = Field(default=0, ge=0, le=1)
    """Hidden: share of nodes that are slow outliers (a thermal-throttled box)."""
    outlier_speed: float = Field(default=0.7, gt=0, le=1)
    """Hidden: an outlier's speed factor, within 15% of this (0.7: 0.6-0.8)."""
    capped_share: float = Field(default=0, ge=0, le=1)
    """Hidden: the last nodes of the class (this share of them) are a power-capped batch: the
    same declared hardware, at ``capped_speed`` times the speed."""
    capped_speed: float = Field(default=1.0, gt=0, le=1)
    run_noise_sigma: float = Field(default=0, ge=0, le=1)
    """Hidden: typical log-sigma of a node's run-to-run noise; each node's lies between half
    and twice this (log-uniform), so some nodes are noisier than others."""
    wrong_tag_share: float = Field(default=0, ge=0, le=1)
    """Share of nodes whose declared specialisation tags are wrong: one of the class's tags is
    missing, or a job type the class is slower at than the average class is declared."""
    upgraded_memory_share: float = Field(default=0, ge=0, le=1)
    """Share of nodes with upgraded memory (``upgraded_memory_gb``): declared, so the manager
    sees another hardware class, and real (bigger scenes fit), but no faster."""
    upgraded_memory_gb: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _upgrade_adds_memory(self) -> NodeClassSpec:
        if self.upgraded_memory_share > 0 and (self.upgraded_memory_gb or 0) <= self.memory_gb:
            raise ValueError(
                f"node class {self.name!r}: upgraded_memory_gb must exceed memory_gb "
                f"({self.memory_gb}) when upgraded_memory_share > 0"
            )
        return self

    def speed(self, job_type: str) -> float:
        """The class's true speed on ``job_type`` (a node's is this times its speed factor)."""
        return self.speed_by_job_type.get(job_type, self.default_speed)

    def capped_count(self) -> int:
        """How many nodes (the last ones) are the power-capped batch."""
        return round(self.count * self.capped_share)

    def mean_speed_factor(self) -> float:
        """Expected speed factor of the class's nodes (spread, outliers, capped batch)."""
        spread = math.exp(self.speed_spread**2 / 2)
        uncapped = (1 - self.outlier_share) * spread + self.outlier_share * self.outlier_speed
        capped = self.capped_count() / self.count if self.count else 0.0
        return uncapped * (1 - capped * (1 - self.capped_speed))

    def fits(self, job: HardwareNeeds) -> bool:
        """Can this class's hardware run the job or task (GPU, memory, cores)?"""
        return hardware_misfit(job, self) is None


class JobSpec(_Spec):
    id: str
    client_id: str
    job_type: str
    submit_at_hours: float = Field(ge=0)
    estimated_duration_hours: float = Field(gt=0)
    deadline_after_hours: float = Field(gt=0)
    """Deadline, counted from submission."""
    priority: str = "medium"
    requires_gpu: bool = False
    memory_requirements_gb: float = Field(default=16, gt=0)
    cpu_requirements: int = Field(default=8, gt=0)
    dependencies: list[str] = Field(default_factory=list)
    emergency: bool = False
    supports_checkpoint: bool = False
    supports_progressive_output: bool = False
    energy_intensive: bool = False
    can_be_preempted: bool = True
    noise: float = Field(default=1.0, gt=0)
    """Hidden: true duration multiplier of this particular job."""
    scene_load_minutes: float = Field(default=0.0, ge=0, le=600)
    """Hidden: what a node spends loading the job's scene (per step of a shot) before its
    first frame, unless the node's last work was of the same shot and step (a warm start)."""
    # Shots (all defaults: a single-task job, as in workloads saved before shots existed).
    frames: int = Field(default=0, ge=0, le=100_000)
    """Frames of the shot; 0: a single-task job."""
    first_frame: int = Field(default=1001, ge=-1_000_000, le=1_000_000)
    steps: int = Field(default=1, ge=1, le=3)
    """1: render; 2: render, then composite frame by frame; 3: a simulation (one task), then
    render, then composite."""
    chunk_size: int | None = Field(default=None, ge=1)
    """Frames per render task, fixed by the submitter (the composite's chunk is scaled so its
    tasks last about as long)."""
    target_task_hours: float | None = Field(default=None, gt=0)
    """Or: the manager sizes chunks so that tasks last about this long."""

    @model_validator(mode="after")
    def _shot_fields_need_frames(self) -> JobSpec:
        if self.frames == 0 and (
            self.steps != 1 or self.chunk_size is not None or self.target_task_hours is not None
        ):
            raise ValueError(
                f"job {self.id!r}: steps, chunk_size and target_task_hours are for shots "
                "(frames > 0)"
            )
        return self

    @property
    def is_shot(self) -> bool:
        return self.frames > 0

    @property
    def frame_range(self) -> str:
        """The shot's frames in Open Job Description syntax (``1001-1100``)."""
        return f"{self.first_frame}-{self.first_frame + self.frames - 1}"

    def step_hours(self) -> dict[str, float]:
        """Estimated hours of each step of the shot (the whole estimate for a job)."""
        shares = STEP_SHARES[self.steps] if self.is_shot else {"main": 1.0}
        return {name: share * self.estimated_duration_hours for name, share in shares.items()}

    def render_job(self, start: datetime) -> RenderJob:
        """The job as submitted to the manager, ``start`` being hour 0 of the workload."""
        submitted = start + timedelta(hours=self.submit_at_hours)
        fields: dict[str, Any] = {}
        if self.is_shot:
            fields = self._shot_fields()
        return RenderJob(
            id=self.id,
            name=self.id,
            client_id=self.client_id,
            job_type=self.job_type,
            priority=JobPriority(self.priority),
            submission_time=submitted,
            deadline=submitted + timedelta(hours=self.deadline_after_hours),
            estimated_duration_hours=self.estimated_duration_hours,
            requires_gpu=self.requires_gpu,
            memory_requirements_gb=self.memory_requirements_gb,
            cpu_requirements=self.cpu_requirements,
            dependencies=list(self.dependencies),
            supports_checkpoint=self.supports_checkpoint,
            supports_progressive_output=self.supports_progressive_output,
            energy_intensive=self.energy_intensive,
            can_be_preempted=self.can_be_preempted,
            output_path=f"/renders/{self.client_id}/{self.id}",
            **fields,
        )

    def _shot_fields(self) -> dict[str, Any]:
        target = None if self.target_task_hours is None else self.target_task_hours * 3600.0
        if self.steps == 1:
            return {
                "frames": self.frame_range,
                "chunk_size": self.chunk_size,
                "target_task_seconds": target,
            }
        hours = self.step_hours()
        frames = self.frame_range
        render_per_frame = hours["render"] / self.frames
        comp_per_frame = hours["comp"] / self.frames
        comp_chunk = None
        if self.chunk_size is not None:  # composite tasks about as long as render tasks
            scale = render_per_frame / comp_per_frame
            comp_chunk = min(self.frames, max(1, round(self.chunk_size * scale)))
        steps = []
        if self.steps == 3:
            steps.append(
                JobStep(
                    name="sim",
                    frames=None,  # one task for the whole shot
                    estimated_hours_per_frame=hours["sim"],
                    job_type="simulation",
                    requires_gpu=False,
                    gpu_count=0,
                    memory_requirements_gb=max(64.0, self.memory_requirements_gb),
                )
            )
        steps.append(
            JobStep(
                name="render",
                frames=frames,
                chunk_size=self.chunk_size,
                target_task_seconds=target,
                depends_on=["sim"] if self.steps == 3 else [],
                estimated_hours_per_frame=render_per_frame,
            )
        )
        steps.append(
            JobStep(
                name="comp",
                frames=frames,
                chunk_size=comp_chunk,
                target_task_seconds=target,
                depends_on=["render"],
                frame_by_frame=True,
                estimated_hours_per_frame=comp_per_frame,
                job_type="compositing",
                requires_gpu=False,
                gpu_count=0,
                cpu_requirements=8,
                memory_requirements_gb=16.0,
            )
        )
        return {"steps": steps}


STEP_SHARES: dict[int, dict[str, float]] = {
    1: {"main": 1.0},
    2: {"render": 0.9, "comp": 0.1},
    3: {"sim": 0.15, "render": 0.77, "comp": 0.08},
}
"""Share of a shot's estimate each of its steps takes, by number of steps."""
SHOT_STEPS = {1: "render", 2: "render -> comp", 3: "sim -> render -> comp"}


class MaintenanceSpec(_Spec):
    node_class: str
    node_index: int = Field(ge=0)
    start_hours: float = Field(ge=0)
    duration_hours: float = Field(gt=0)


class TariffPeriodSpec(_Spec):
    start: time
    end: time
    price_per_kwh: float = Field(ge=0)


class Workload(_Spec):
    scenario: str
    seed: int
    start: datetime
    days: float = Field(gt=0)
    clients: list[ClientSpec]
    node_classes: list[NodeClassSpec]
    jobs: list[JobSpec]
    maintenance: list[MaintenanceSpec] = Field(default_factory=list)
    tariff: list[TariffPeriodSpec]
    failure_storm: tuple[float, float, float] | None = None
    """(start hour, end hour, MTBF divisor) of a period of much more frequent failures."""

    @model_validator(mode="after")
    def _consistent(self) -> Workload:
        client_ids = {c.id for c in self.clients}
        job_ids: set[str] = set()
        for job in self.jobs:
            if job.client_id not in client_ids:
                raise ValueError(f"job {job.id!r} names unknown client {job.client_id!r}")
            if job.id in job_ids:
                raise ValueError(f"job id {job.id!r} appears twice")
            job_ids.add(job.id)
        classes = {c.name for c in self.node_classes}
        for window in self.maintenance:
            if window.node_class not in classes:
                raise ValueError(f"maintenance names unknown node class {window.node_class!r}")
        return self

    _world: World = PrivateAttr(default_factory=lambda: World([], 0))
    """Replaced by the farm's own world when first asked (see :meth:`_fresh_world`)."""

    @property
    def hours(self) -> float:
        return self.days * 24.0

    def node_class(self, name: str) -> NodeClassSpec:
        for spec in self.node_classes:
            if spec.name == name:
                return spec
        raise WorkloadError(f"no node class named {name!r}")

    # -- the nodes' ground truth -----------------------------------------------------------------
    # Derived from the farm once and cached: a workload is a value, not to be changed in place
    # once its nodes have been asked about (a copy with other node classes starts afresh).

    def node_ids(self) -> list[str]:
        """Every node of the farm, class by class (``cpu-gen1-000``, ``cpu-gen1-001``, ...)."""
        return self._fresh_world().node_ids()

    def node_traits(self, node_id: str) -> NodeTraits:
        """The node's own speed factor and noise, and what it declares to the manager."""
        return self._fresh_world().node_traits(node_id)

    def declared_node(self, node_id: str) -> RenderNode:
        """The node as it declares itself to the manager (own memory and tags, maybe wrong)."""
        return self._fresh_world().declared_node(node_id)

    def node_speed(self, node_id: str, job_type: str) -> float:
        """True speed of the node on ``job_type``: its class's times its own factor."""
        return self._fresh_world().node_speed(node_id, job_type)

    def run_noise(self, work_id: str, node_id: str, attempt: int) -> float:
        """True duration multiplier of one attempt of a job or task on a node: lognormal with
        the node's sigma and mean 1 (1.0 on a node without run-to-run noise)."""
        return self._fresh_world().run_noise(work_id, node_id, attempt)

    def best_speed(self, job: HardwareNeeds, job_type: str) -> float | None:
        """True speed on ``job_type`` of the fastest node of the whole farm whose declared
        hardware fits the work (None when none does)."""
        return self._fresh_world().best_speed(job, job_type)

    def _fresh_world(self) -> World:
        if self._world.node_classes is not self.node_classes:
            self._world = World(self.node_classes, self.seed)
        return self._world

    # -- files ---------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the whole workload as JSON, or only its jobs as CSV (by the file's suffix)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".json":
            path.write_text(self.model_dump_json(indent=1), encoding="utf-8")
        elif path.suffix == ".csv":
            write_jobs_csv(self.jobs, path)
        else:
            raise WorkloadError(f"unknown workload format {path.suffix!r}: use .json or .csv")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Workload:
        path = Path(path)
        if not path.exists():
            raise WorkloadError(f"workload file {str(path)!r} does not exist")
        if path.suffix != ".json":
            raise WorkloadError(
                f"{str(path)!r}: a whole workload is loaded from .json; jobs alone from .csv "
                "with Workload.with_jobs_from_csv()"
            )
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise WorkloadError(f"{str(path)!r} is not a valid workload: {error}") from error

    def with_jobs_from_csv(self, path: str | Path) -> Workload:
        """This workload's farm and clients with the jobs recorded in a CSV file."""
        data = self.model_dump()
        data["jobs"] = [job.model_dump() for job in read_jobs_csv(Path(path))]
        try:
            return Workload.model_validate(data)
        except ValueError as error:
            raise WorkloadError(f"{str(path)!r}: {error}") from error


_CSV_FIELDS = list(JobSpec.model_fields)


def write_jobs_csv(jobs: list[JobSpec], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=_CSV_FIELDS)
        writer.writeheader()
        for job in jobs:
            row = job.model_dump()
            row["dependencies"] = ";".join(job.dependencies)
            writer.writerow(row)


def read_jobs_csv(path: Path) -> list[JobSpec]:
    if not path.exists():
        raise WorkloadError(f"job file {str(path)!r} does not exist")
    jobs = []
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            row = {k: v for k, v in row.items() if v not in (None, "")}
            row["dependencies"] = [d for d in row.get("dependencies", "").split(";") if d]
            try:
                jobs.append(JobSpec.model_validate(row))
            except ValueError as error:
                raise WorkloadError(f"{str(path)!r} line {line}: {error}") from error
    return jobs
