"""Soft preferences: each scorer returns 0-100; the weighted blend ranks fitting nodes.

The scores a job gets on a node depend on the job's type and GPU need (the *base* score, which is
the same for every node of a hardware class and can be cached per class) plus a small bonus for a
snug fit of memory and cores (so large nodes stay free for large scenes).
"""

from __future__ import annotations

import math

from render_farm_manager.core.models import NodeCapabilities, RenderNode

FIT_BONUS_MAX = 10.0
"""The most a snug fit adds to a base score, in points (base scores run 0-100)."""

DEFAULT_JOB_TYPE_SPECIALIZATIONS: dict[str, list[str]] = {
    "animation": ["animation", "character-animation", "path-tracing"],
    "vfx": ["vfx", "fluid-simulation", "particle-systems", "path-tracing"],
    "simulation": ["simulation", "fluid-simulation", "physics", "particle-systems"],
    "fluid-simulation": ["fluid-simulation", "simulation"],
    "lighting": ["lighting", "path-tracing", "ray-tracing"],
    "compositing": ["compositing", "image-processing"],
    "scene-assembly": ["scene-assembly", "high-memory"],
    "feature-film": ["path-tracing", "fluid-simulation", "high-memory"],
    "architectural": ["architectural", "path-tracing", "ray-tracing"],
    "product-visualization": ["product-visualization", "ray-tracing"],
    "gpu-rendering": ["gpu-rendering", "path-tracing"],
}


def specialization_score(
    job_type: str, caps: NodeCapabilities, specializations: dict[str, list[str]]
) -> float:
    """100 when the node is specialised for the job type, 0 otherwise."""
    tags = set(caps.specialized_for)
    if not tags:
        return 0.0
    if job_type in tags:
        return 100.0
    wanted = specializations.get(job_type, ())
    return 100.0 if any(tag in tags for tag in wanted) else 0.0


def gpu_score(requires_gpu: bool, caps: NodeCapabilities) -> float:
    """GPU jobs prefer more capable GPUs; CPU jobs prefer nodes whose GPUs they would not waste."""
    if not requires_gpu:
        return 100.0 if caps.gpu_count == 0 else 25.0
    capability = min(1.0, caps.gpu_compute_capability / 9.0)
    memory = min(1.0, caps.gpu_memory_gb / 48.0)
    count = min(1.0, caps.gpu_count / 8.0)
    return 100.0 * (0.5 * capability + 0.3 * memory + 0.2 * count)


def speed_score(speed: float) -> float:
    """Log scale: speed 1.0 (the estimate) scores 50, each doubling adds 20 (4x scores 90,
    8x scores 100), each halving takes 20 away."""
    return max(0.0, min(100.0, 50.0 + 20.0 * math.log2(max(speed, 1e-6))))


def fit_bonus(memory_gb: float, cores: int, caps: NodeCapabilities) -> float:
    """Up to :data:`FIT_BONUS_MAX` points for a node that the job fills well."""
    memory_use = min(1.0, memory_gb / caps.memory_gb)
    core_use = min(1.0, cores / caps.cpu_cores)
    return FIT_BONUS_MAX * (0.5 * memory_use + 0.5 * core_use)


def history_confidence(history_weight: float, samples: int, full_at: int = 10) -> float:
    """Weight of learned speed against the hardware prior: ``history_weight`` with no evidence,
    rising linearly to 1 once ``full_at`` renders of that kind have been observed."""
    return history_weight + (1.0 - history_weight) * min(1.0, samples / full_at)


def blend_base_score(
    *,
    specialization: float,
    gpu: float,
    speed: float,
    efficiency: float,
    history_weight: float,
    energy_weight: float,
) -> float:
    """The weighted base score: hardware capability, learned history and energy efficiency."""
    capability = 0.5 * specialization + 0.5 * gpu
    score = (1.0 - history_weight) * capability + history_weight * speed
    return with_efficiency(score, efficiency, energy_weight)


def with_efficiency(score: float, efficiency: float, energy_weight: float) -> float:
    """A score without energy (``energy_weight`` 0) blended with a node's efficiency: nodes
    that differ only in their rating differ only in this step."""
    return (1.0 - energy_weight) * score + energy_weight * efficiency


def efficiency_score(node: RenderNode) -> float:
    return float(node.power_efficiency_rating)
