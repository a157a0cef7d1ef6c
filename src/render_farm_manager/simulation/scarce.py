"""Scarce hardware put to the wrong use: GPU and large-memory nodes busy with work that needs
neither while work that needs them waits (the measure of how well a policy protects them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from render_farm_manager.core.models import NodeStatus, RenderJob, RenderNode


def misused_nodes(
    nodes: Iterable[RenderNode],
    jobs: Mapping[str, RenderJob],
    waiting_ids: Iterable[str],
    deferred: Iterable[str] = (),
) -> int:
    """How many scarce nodes run work that does not need what makes them scarce while as many
    waiting jobs (not held back for cheaper power) need it: GPU nodes for work without a GPU,
    large-memory nodes (twice the median memory of the online nodes or more, as the scheduler
    counts them by default) for work that fits elsewhere."""
    online = [node for node in nodes if node.status == NodeStatus.ONLINE]
    memories = sorted(float(n.capabilities.memory_gb) for n in online)
    large_memory = 2.0 * memories[(len(memories) - 1) // 2] if memories else 0.0
    normal_memory = max((m for m in memories if m < large_memory), default=0.0)

    gpu_busy = big_busy = 0
    for node in online:
        job = jobs.get(node.current_job_id) if node.current_job_id else None
        if job is None:
            continue
        caps = node.capabilities
        gpu_busy += int(caps.gpu_count > 0 and not job.requires_gpu)
        big_busy += int(
            caps.memory_gb >= large_memory and job.memory_requirements_gb <= normal_memory
        )
    if not gpu_busy and not big_busy:
        return 0
    held = set(deferred)
    gpu_waiting = big_waiting = 0
    for job_id in waiting_ids:
        if job_id in held:
            continue
        job = jobs[job_id]
        gpu_waiting += int(job.requires_gpu)
        big_waiting += int(job.memory_requirements_gb > normal_memory)
    return min(gpu_busy, gpu_waiting) + min(big_busy, big_waiting)
