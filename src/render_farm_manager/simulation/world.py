"""The hidden world of a workload: what each node truly is, which the scheduler never sees.

Ground truth: each node class renders each job type at a hidden speed, and each job has a hidden
noise factor; on top of that every node is a machine of its own (:class:`NodeTraits`). A unit
of work's true duration on a node is
``estimate * noise / (class speed on its type * node speed factor) * run noise``. Node classes
also carry their true power draw (idle, busy, asleep), their wake-up time and their failure
behaviour.

The world does not suit a learner by construction (every field of a node class for it defaults
to "no noise", so workloads saved before these fields existed load and behave as before):

- Nodes of a class differ in speed: each has its own factor (lognormal, ``speed_spread``), a few
  are slow outliers (``outlier_share`` of them at about ``outlier_speed``: a thermal-throttled
  box), and the last ``capped_share`` of a class may be a power-capped batch (``capped_speed``)
  that declares exactly the same hardware.
- Run-to-run noise depends on the node: each node's log-sigma lies between half and twice its
  class's ``run_noise_sigma``; every attempt (work id, node id, attempt number) draws its own
  multiplier, mean 1.
- Estimates are biased: a job's ``noise`` is drawn by the scenario (mostly optimistic estimates,
  by job type).
- Specialisation tags are sometimes wrong (``wrong_tag_share``): a node misses one of its
  class's tags, or declares a job type its class is slower at than the average class.
- The manager's hardware class (derived from declared capabilities) is not the simulator's:
  ``upgraded_memory_share`` of a class declare (and have) more memory at the same speed, and a
  power-capped batch declares the same hardware at a lower speed.

A node's traits depend only on the workload's seed, its node class and its id (``cpu-gen1-004``:
class name, index), so every policy meets the same world.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from render_farm_manager.core.models import NodeCapabilities, RenderNode
from render_farm_manager.node_specialization.fit import HardwareNeeds, hardware_misfit
from render_farm_manager.scheduling.feasibility import hardware_shape

if TYPE_CHECKING:
    from render_farm_manager.simulation.workload import NodeClassSpec


@dataclass(frozen=True)
class NodeTraits:
    """One node as a machine of its own: its hidden speed and noise, and what it declares."""

    speed_factor: float
    """Hidden: multiplies its class's speed on every job type."""
    run_noise_sigma: float
    """Hidden: log-sigma of its run-to-run noise (0: every run takes its true duration)."""
    specialized_for: list[str]
    """Specialisation tags it declares to the manager (sometimes wrong). Copy before changing."""
    memory_gb: int
    """Memory it declares (and has): its class's, unless upgraded."""


def node_id_of(class_name: str, index: int) -> str:
    """The id of a class's node: ``cpu-gen1-004``."""
    return f"{class_name}-{index:03d}"


class World:
    """The ground truth of a farm (its node classes, drawn from the workload's seed), derived on
    demand and cached: node traits, fastest speeds.

    Not part of a workload's value: any two worlds are equal, so equal workloads stay equal."""

    def __init__(self, node_classes: list[NodeClassSpec], seed: int) -> None:
        self.node_classes = node_classes
        self.seed = seed
        self._traits: dict[str, NodeTraits] = {}
        self._fastest: dict[tuple[object, ...], float | None] = {}
        self._offers: list[tuple[NodeClassSpec, NodeClassSpec, float]] = []

    def __eq__(self, other: object) -> bool:
        return isinstance(other, World)

    __hash__ = None  # type: ignore[assignment]

    def node_ids(self) -> list[str]:
        """Every node of the farm, class by class (``cpu-gen1-000``, ``cpu-gen1-001``, ...)."""
        return [node_id_of(c.name, i) for c in self.node_classes for i in range(c.count)]

    def node_traits(self, node_id: str) -> NodeTraits:
        """The node's own speed factor and noise, and what it declares to the manager."""
        traits = self._traits.get(node_id)
        if traits is None:
            spec, index = self._node(node_id)
            traits = _draw_traits(self.seed, spec, index, self._slower_types(spec))
            self._traits[node_id] = traits
        return traits

    def declared_node(self, node_id: str) -> RenderNode:
        """The node as it declares itself to the manager: its class's hardware with its own
        memory and tags (which may be wrong), and its class's rating and power draw."""
        spec, _ = self._node(node_id)
        traits = self.node_traits(node_id)
        return RenderNode(
            id=node_id,
            name=node_id,
            status="online",
            capabilities=NodeCapabilities(
                cpu_cores=spec.cpu_cores,
                memory_gb=traits.memory_gb,
                gpu_count=spec.gpu_count,
                gpu_model=spec.gpu_model,
                gpu_memory_gb=spec.gpu_memory_gb,
                gpu_compute_capability=spec.gpu_compute_capability,
                storage_gb=4000,
                specialized_for=list(traits.specialized_for),
            ),
            power_efficiency_rating=spec.power_efficiency_rating,
            idle_power_watts=spec.idle_watts,
            busy_power_watts=spec.busy_watts,
        )

    def node_speed(self, node_id: str, job_type: str) -> float:
        """True speed of the node on ``job_type``: its class's times its own factor."""
        spec, _ = self._node(node_id)
        return spec.speed(job_type) * self.node_traits(node_id).speed_factor

    def run_noise(self, work_id: str, node_id: str, attempt: int) -> float:
        """True duration multiplier of one attempt of a job or task on a node: lognormal with
        the node's sigma and mean 1 (1.0 on a node without run-to-run noise)."""
        sigma = self.node_traits(node_id).run_noise_sigma
        if sigma == 0:
            return 1.0
        rng = random.Random(f"{self.seed}:{work_id}:{node_id}:{attempt}:run")
        return rng.lognormvariate(-(sigma**2) / 2, sigma)

    def best_speed(self, job: HardwareNeeds, job_type: str) -> float | None:
        """True speed on ``job_type`` of the fastest node of the whole farm whose declared
        hardware fits the work (None when none does)."""
        key = (job_type, *hardware_shape(job))
        if key not in self._fastest:
            if not self._offers:
                self._offers = self._offers_by_kind()
            self._fastest[key] = max(
                (
                    spec.speed(job_type) * factor
                    for offer, spec, factor in self._offers
                    if hardware_misfit(job, offer) is None
                ),
                default=None,
            )
        return self._fastest[key]

    def _node(self, node_id: str) -> tuple[NodeClassSpec, int]:
        name, _, digits = node_id.rpartition("-")
        index = int(digits) if digits.isdigit() else -1
        for spec in self.node_classes:
            if spec.name == name and 0 <= index < spec.count and node_id == node_id_of(name, index):
                return spec, index
        # Imported here: the workload module builds its world from this one.
        from render_farm_manager.simulation.workload import WorkloadError

        raise WorkloadError(
            f"no node {node_id!r} in this workload: node ids are a class name and an index "
            f"below its count ({', '.join(node_id_of(c.name, 0) for c in self.node_classes)})"
        )

    def _slower_types(self, spec: NodeClassSpec) -> list[str]:
        """Job types the class renders more slowly than the average class (of those the farm's
        speeds name): tags a node of the class would be wrong to declare."""
        types = sorted({t for c in self.node_classes for t in c.speed_by_job_type})
        count = len(self.node_classes)
        return [
            t for t in types if spec.speed(t) < sum(c.speed(t) for c in self.node_classes) / count
        ]

    def _offers_by_kind(self) -> list[tuple[NodeClassSpec, NodeClassSpec, float]]:
        """(declared hardware, class, fastest speed factor) of each kind of node in the farm:
        a class's nodes differ in hardware only by their memory."""
        fastest: dict[tuple[str, int], float] = {}
        for node_id in self.node_ids():
            spec, _ = self._node(node_id)
            traits = self.node_traits(node_id)
            key = (spec.name, traits.memory_gb)
            fastest[key] = max(fastest.get(key, 0.0), traits.speed_factor)
        offers = []
        for (name, memory), factor in fastest.items():
            spec = next(c for c in self.node_classes if c.name == name)
            offers.append((spec.model_copy(update={"memory_gb": memory}), spec, factor))
        return offers


def _draw_traits(seed: int, spec: NodeClassSpec, index: int, slower: list[str]) -> NodeTraits:
    """A node's traits from its own seeded stream. Every draw is made whatever the settings,
    so turning one kind of variation on or off leaves the others' draws as they were."""
    rng = random.Random(f"{seed}:{node_id_of(spec.name, index)}:traits")
    spread = rng.gauss(0.0, 1.0)
    outlier, outlier_level = rng.random(), rng.uniform(0.85, 1.15)
    noisiness = rng.uniform(-1.0, 1.0)
    wrong, wrong_kind, wrong_pick = rng.random(), rng.random(), rng.random()
    upgraded = rng.random()

    if outlier < spec.outlier_share:
        factor = spec.outlier_speed * outlier_level
    else:
        factor = math.exp(spec.speed_spread * spread)
    if index >= spec.count - spec.capped_count():
        factor *= spec.capped_speed
    tags = list(spec.specialized_for)
    if wrong < spec.wrong_tag_share:
        spurious = [t for t in slower if t not in tags]
        # Miss a tag it has, or declare one it is slow at (either, when both are possible).
        if tags and (not spurious or wrong_kind < 0.5):
            del tags[int(wrong_pick * len(tags))]
        elif spurious:
            tags.append(spurious[int(wrong_pick * len(spurious))])
    memory = spec.memory_gb
    if upgraded < spec.upgraded_memory_share and spec.upgraded_memory_gb is not None:
        memory = spec.upgraded_memory_gb
    return NodeTraits(
        speed_factor=factor,
        run_noise_sigma=spec.run_noise_sigma * 2.0**noisiness,
        specialized_for=tags,
        memory_gb=memory,
    )
