"""How fast could a job go at best, and can the farm run it at all?

The fastest expected speed of any node whose hardware fits a job, over one node of each kind
(cached per job shape until nodes change or a speed is learned), and a plain-words account of why
no node fits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from render_farm_manager.core.models import NodeStatus, RenderNode
from render_farm_manager.core.work import UnitOfWork
from render_farm_manager.node_specialization.fit import HardwareNeeds, hardware_misfit, host_misfit
from render_farm_manager.scheduling.node_pools import pool_key

Shape = tuple[object, ...]


def job_shape(job: UnitOfWork) -> Shape:
    """Jobs with equal shapes fit the same nodes at the same speeds."""
    return (job.job_type, *hardware_shape(job))


def hardware_shape(job: HardwareNeeds) -> Shape:
    """Everything :func:`hardware_misfit` looks at in a piece of work: work with equal
    hardware shapes fits the same nodes."""
    attributes = getattr(job, "required_attributes", None)
    return (
        job.requires_gpu,
        job.memory_requirements_gb,
        job.cpu_requirements,
        getattr(job, "gpu_count", 0),
        getattr(job, "gpu_memory_gb", 0.0),
        getattr(job, "os", None),
        tuple(sorted((k, tuple(v)) for k, v in attributes.items())) if attributes else (),
    )


class FastestFit:
    """Best expected speed per job shape over the farm's node kinds."""

    def __init__(self, speed_of: Callable[[RenderNode, str], float]) -> None:
        self._speed_of = speed_of
        self._key: tuple[int, int] | None = None
        self._kinds: dict[bool, list[RenderNode]] = {}
        self._best: dict[tuple[Shape, bool], float | None] = {}

    def best_speed(
        self,
        job: UnitOfWork,
        nodes: Iterable[RenderNode],
        version: tuple[int, int],
        online_only: bool = False,
    ) -> float | None:
        """The fastest expected speed for ``job`` on a fitting node (only online nodes when
        asked), or None when no node fits. ``version`` changes whenever nodes or learned
        speeds change."""
        if version != self._key:
            node_list = list(nodes)
            self._key = version
            self._kinds = {
                False: list({pool_key(n): n for n in node_list}.values()),
                True: list(
                    {pool_key(n): n for n in node_list if n.status == NodeStatus.ONLINE}.values()
                ),
            }
            self._best.clear()
        key = (job_shape(job), online_only)
        if key not in self._best:
            speeds = [
                self._speed_of(node, job.job_type)
                for node in self._kinds[online_only]
                if hardware_misfit(job, node.capabilities) is None
            ]
            self._best[key] = max(speeds) if speeds else None
        return self._best[key]


def why_nothing_fits(job: UnitOfWork, nodes: Iterable[RenderNode]) -> str:
    """Why no node of ``nodes`` can run ``job``, against the largest node of the farm."""
    node_list = list(nodes)
    if not node_list:
        return "no node is registered in the farm"
    needs = [f"{job.memory_requirements_gb:g} GB memory", f"{job.cpu_requirements} cores"]
    if job.requires_gpu:
        needs.append("a GPU")
    most_memory = max(n.capabilities.memory_gb for n in node_list)
    most_cores = max(n.capabilities.cpu_cores for n in node_list)
    gpus = sum(1 for n in node_list if n.capabilities.gpu_count > 0)
    # the decisive reason: on nodes big enough, what else is missing (an OS, an attribute)
    big_enough = [n.capabilities for n in node_list if _basic_fit(job, n)]
    reasons = Counter(host_misfit(job, caps) for caps in big_enough) or Counter(
        hardware_misfit(job, n.capabilities) for n in node_list
    )
    commonest, count = reasons.most_common(1)[0]
    return (
        f"no node in the farm can run it: it needs {', '.join(needs)}; the largest nodes have "
        f"{most_memory} GB memory and {most_cores} cores, {gpus} node(s) have a GPU; "
        f"on {count} of {len(node_list)} nodes: {commonest}"
    )


def _basic_fit(job: UnitOfWork, node: RenderNode) -> bool:
    caps = node.capabilities
    return (
        (not job.requires_gpu or caps.gpu_count > 0)
        and caps.memory_gb >= job.memory_requirements_gb
        and caps.cpu_cores >= job.cpu_requirements
    )
