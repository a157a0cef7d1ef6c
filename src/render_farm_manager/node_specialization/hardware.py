"""Hardware classes: nodes with the same hardware render at the same speed.

A node's class is derived from its capabilities, so a new node of a known class inherits what the
farm has learned about that class at once.
"""

from __future__ import annotations

import functools

from render_farm_manager.core.models import NodeCapabilities, NodeType, RenderNode


def hardware_class(node: RenderNode) -> str:
    """A stable, readable key for the node's hardware: ``gpu:2xRTX 4090@8.9/32c/128g``."""
    caps = node.capabilities
    return _name(
        caps.cpu_cores, caps.memory_gb, caps.gpu_count, caps.gpu_model, caps.gpu_compute_capability
    )


@functools.cache
def _name(cores: int, memory_gb: int, gpus: int, model: str | None, capability: float) -> str:
    if gpus > 0:
        return f"gpu:{gpus}x{model or 'gpu'}@{capability:g}/{cores}c/{memory_gb}g"
    return f"cpu:{cores}c/{memory_gb}g"


def node_type(node: RenderNode) -> NodeType:
    """The node's declared type, else one derived from its hardware."""
    if node.node_type is not None:
        return node.node_type
    caps: NodeCapabilities = node.capabilities
    if caps.specialized_for and caps.gpu_count == 0:
        return NodeType.SPECIALIZED
    if caps.gpu_count > 0:
        return NodeType.HYBRID if caps.cpu_cores >= 32 else NodeType.GPU
    return NodeType.CPU
