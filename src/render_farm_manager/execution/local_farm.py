"""This machine as a farm: nodes that are render slots on it."""

from __future__ import annotations

import os
import platform

from render_farm_manager.core.models import NodeCapabilities, RenderNode


def machine_memory_gb() -> int:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):  # pragma: no cover - not POSIX
        return 8
    return max(1, int(pages * size / 1024**3))


def local_nodes(count: int, prefix: str = "local") -> list[RenderNode]:
    """``count`` render slots on this machine. Each advertises the whole machine (its cores,
    memory and OS): the slots share it, so ``count`` is how many renders run at once."""
    system = platform.system().lower()
    os_family = {"darwin": "macos"}.get(system, system) or None
    return [
        RenderNode(
            id=f"{prefix}-{index + 1}",
            name=f"{platform.node() or 'this machine'} slot {index + 1}",
            capabilities=NodeCapabilities(
                cpu_cores=os.cpu_count() or 1,
                memory_gb=machine_memory_gb(),
                os=os_family,
            ),
        )
        for index in range(count)
    ]
