"""Idle and busy power draw of a node, derived from its hardware and efficiency rating."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from render_farm_manager.core.models import RenderNode

WATTS_PER_CORE_BUSY = 6.0
WATTS_PER_GPU_BUSY = 300.0
WATTS_PER_GPU_IDLE = 25.0
WATTS_PER_GB_MEMORY = 0.4
BASE_WATTS_BUSY = 120.0
BASE_WATTS_IDLE = 60.0
IDLE_CORE_SHARE = 0.25
"""Idle cores draw about a quarter of their busy power."""


@dataclass(frozen=True)
class NodePower:
    idle_watts: float
    busy_watts: float


def efficiency_factor(rating: float) -> float:
    """Rating 100 draws 0.7x the nominal power, rating 0 draws 1.3x."""
    return 1.3 - 0.6 * (rating / 100.0)


def node_power(node: RenderNode) -> NodePower:
    """The node's power draw; explicit ``idle_power_watts`` / ``busy_power_watts`` win."""
    caps = node.capabilities
    return _power(
        caps.cpu_cores,
        caps.memory_gb,
        caps.gpu_count,
        node.power_efficiency_rating,
        node.idle_power_watts,
        node.busy_power_watts,
    )


@functools.cache
def _power(
    cores: int,
    memory_gb: int,
    gpus: int,
    rating: float,
    idle_override: float | None,
    busy_override: float | None,
) -> NodePower:
    factor = efficiency_factor(rating)
    memory = WATTS_PER_GB_MEMORY * memory_gb
    busy = BASE_WATTS_BUSY + WATTS_PER_CORE_BUSY * cores + memory + WATTS_PER_GPU_BUSY * gpus
    idle = BASE_WATTS_IDLE + IDLE_CORE_SHARE * WATTS_PER_CORE_BUSY * cores + memory
    idle += WATTS_PER_GPU_IDLE * gpus
    return NodePower(
        idle_watts=idle_override if idle_override is not None else idle * factor,
        busy_watts=busy_override if busy_override is not None else busy * factor,
    )
