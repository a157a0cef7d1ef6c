"""Hard filters: can this node run this job at all, and if not, why not.

"Doesn't fit" is a normal answer with reasons, never an exception.
"""

from __future__ import annotations

from typing import Protocol

from render_farm_manager.core.models import NodeStatus, RenderNode
from render_farm_manager.core.work import UnitOfWork


class HardwareNeeds(Protocol):
    """What a piece of work needs from hardware."""

    @property
    def requires_gpu(self) -> bool: ...
    @property
    def memory_requirements_gb(self) -> float: ...
    @property
    def cpu_requirements(self) -> int: ...


class HardwareOffer(Protocol):
    """What a machine (or a class of machines) offers."""

    @property
    def gpu_count(self) -> int: ...
    @property
    def memory_gb(self) -> int: ...
    @property
    def cpu_cores(self) -> int: ...


def hardware_misfit(job: HardwareNeeds, caps: HardwareOffer) -> str | None:
    """Why the node's hardware cannot run the job, or None when it can."""
    # GPU renders need at least one GPU.
    if job.requires_gpu and caps.gpu_count <= 0:
        return "job needs a GPU and the node has none"
    # The scene must fit in memory.
    if caps.memory_gb < job.memory_requirements_gb:
        return f"job needs {job.memory_requirements_gb:g} GB memory, node has {caps.memory_gb} GB"
    # Enough cores for the renderer's thread count.
    if caps.cpu_cores < job.cpu_requirements:
        return f"job needs {job.cpu_requirements} cores, node has {caps.cpu_cores}"
    return host_misfit(job, caps)


def host_misfit(job: object, caps: object) -> str | None:
    """Host requirements beyond the seed's three (job files ask for them): GPU count and
    memory, operating system, custom attributes. Work without them fits any host."""
    gpus_needed: int = getattr(job, "gpu_count", 0)
    if gpus_needed > getattr(caps, "gpu_count", 0):
        return f"job needs {gpus_needed} GPUs, node has {getattr(caps, 'gpu_count', 0)}"
    gpu_memory: float = getattr(job, "gpu_memory_gb", 0.0)
    if gpu_memory > 0 and getattr(caps, "gpu_memory_gb", 0.0) < gpu_memory:
        return (
            f"job needs {gpu_memory:g} GB of GPU memory, node has "
            f"{getattr(caps, 'gpu_memory_gb', 0.0):g} GB"
        )
    os_needed: str | None = getattr(job, "os", None)
    if os_needed is not None and (getattr(caps, "os", None) or "").lower() != os_needed.lower():
        return f"job needs {os_needed}, node runs {getattr(caps, 'os', None) or 'an unknown OS'}"
    needed: dict[str, list[str]] = getattr(job, "required_attributes", None) or {}
    if needed:
        offered: dict[str, str] = getattr(caps, "attributes", None) or {}
        for name, values in needed.items():
            # a node may offer several values of one attribute, comma-separated (the pools it
            # is in, its tags): any one of the values asked for will do
            has = {part.strip() for part in offered.get(name, "").split(",") if part.strip()}
            if not has.intersection(values):
                return f"job needs {name} in {values}, node has {offered.get(name)!r}"
    return None


def schedulable(node: RenderNode) -> bool:
    """Does the node take new work (online and not draining)? The farm that is scheduled and
    partitioned among clients is these nodes."""
    return node.status == NodeStatus.ONLINE and not node.draining


def availability_misfit(job: UnitOfWork, node: RenderNode) -> str | None:
    """Why the node cannot take the job right now, or None when it can."""
    # Only online nodes receive work.
    if node.status != NodeStatus.ONLINE:
        return f"node is {NodeStatus(node.status).value}"
    # A draining node finishes its current job and takes no new one.
    if node.draining:
        return "node is draining for maintenance"
    # One job per node.
    if node.current_job_id is not None:
        return f"node is busy with job {node.current_job_id}"
    # Nodes that failed this job repeatedly are blocklisted for it.
    if node.id in job.excluded_node_ids:
        return "node failed this job repeatedly and is blocklisted for it"
    return None


def misfit(job: UnitOfWork, node: RenderNode) -> str | None:
    """Why ``node`` cannot run ``job`` now (availability first), or None when it can."""
    return availability_misfit(job, node) or hardware_misfit(job, node.capabilities)


def fits(job: UnitOfWork, node: RenderNode) -> bool:
    return misfit(job, node) is None
