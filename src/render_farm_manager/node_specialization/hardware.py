"""Hardware classes: nodes with the same hardware render at the same speed.

A node's class is derived from its capabilities, so a new node of a known class inherits what the
farm has learned about that class at once.
"""

from __future__ import annotations

from render_farm_manager.core.models import NodeCapabilities, NodeType, RenderNode

_names: dict[tuple[int, int, int, str | None, float], str] = {}


def hardware_class(node: RenderNode) -> str:
    """A stable, readable key for the node's hardware: ``gpu:2xRTX 4090@8.9/32c/128g``."""
    caps = node.capabilities
    key = (
        caps.cpu_cores,
        caps.memory_gb,
        caps.gpu_count,
        caps.gpu_model,
        caps.gpu_compute_capability,
    )
    name = _names.get(key)
    if name is None:
        name = _names[key] = _name(caps)
    return name


def _name(caps: NodeCapabilities) -> str:
    if caps.gpu_count > 0:
        gpu = f"{caps.gpu_count}x{caps.gpu_model or 'gpu'}@{caps.gpu_compute_capability:g}"
        return f"gpu:{gpu}/{caps.cpu_cores}c/{caps.memory_gb}g"
    return f"cpu:{caps.cpu_cores}c/{caps.memory_gb}g"


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
