"""What a render node advertises when it joins the farm: its hardware (cores, memory, GPUs from
``nvidia-smi`` where present, OS), the renderers installed on it, and what its operator adds
(tags, attributes, a power-efficiency rating). The manager turns the advert into a
:class:`~render_farm_manager.core.models.RenderNode`."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from render_farm_manager.core.errors import InvalidInputError
from render_farm_manager.core.models import NodeCapabilities, RenderNode
from render_farm_manager.execution.local_farm import machine_memory_gb

RENDERER_EXECUTABLES: dict[str, tuple[str, ...]] = {
    "povray": ("povray",),
    "blender": ("blender",),
    "arnold": ("kick",),
    "vray": ("vray", "vray.bin"),
    "prman": ("prman",),
}
"""Renderer name → executables whose presence on ``PATH`` means it is installed."""


def os_family() -> str | None:
    system = platform.system().lower()
    return {"darwin": "macos"}.get(system, system) or None


def installed_renderers() -> list[str]:
    return sorted(
        name
        for name, executables in RENDERER_EXECUTABLES.items()
        if any(shutil.which(executable) for executable in executables)
    )


def nvidia_gpus(timeout_seconds: float = 10.0) -> tuple[str | None, int, float]:
    """(model, count, memory of one in GB) from ``nvidia-smi``; (None, 0, 0.0) without one."""
    if shutil.which("nvidia-smi") is None:
        return None, 0, 0.0
    try:
        output = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=timeout_seconds,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, 0, 0.0
    return parse_nvidia_smi(output)


def parse_nvidia_smi(output: str) -> tuple[str | None, int, float]:
    """``name, memory MiB`` lines → (model of the first, count, smallest memory in GB)."""
    models: list[str] = []
    memories: list[float] = []
    for line in output.splitlines():
        name, _, memory = line.rpartition(",")
        try:
            mebibytes = float(memory.strip())
        except ValueError:
            continue
        models.append(name.strip())
        memories.append(round(mebibytes / 1024, 1))
    if not models:
        return None, 0, 0.0
    return models[0], len(models), min(memories)


def machine_advert(
    node_id: str,
    *,
    tags: list[str] | None = None,
    attributes: Mapping[str, str] | None = None,
    rating: float = 50.0,
    cores: int | None = None,
    memory_gb: int | None = None,
) -> dict[str, Any]:
    """This machine's advert as render node ``node_id`` (``cores``/``memory_gb`` override what
    is detected, e.g. to leave room for other work). Installed renderers are listed in the
    ``renderer`` attribute, so a job may require one."""
    gpu_model, gpu_count, gpu_memory = nvidia_gpus()
    merged = dict(attributes or {})
    renderers = installed_renderers()
    if renderers and "renderer" not in merged:
        merged["renderer"] = ",".join(renderers)
    capabilities = {
        "cpu_cores": cores if cores is not None else os.cpu_count() or 1,
        "memory_gb": memory_gb if memory_gb is not None else machine_memory_gb(),
        "gpu_model": gpu_model,
        "gpu_count": gpu_count,
        "gpu_memory_gb": gpu_memory,
        "specialized_for": list(tags or []),
        "os": os_family(),
        "attributes": merged,
    }
    return {
        "id": node_id,
        "name": platform.node() or node_id,
        "capabilities": capabilities,
        "power_efficiency_rating": rating,
    }


def node_from_advert(advert: Mapping[str, Any]) -> RenderNode:
    """The render node an advert describes; InvalidInputError naming the field if it is bad."""
    if not isinstance(advert, Mapping) or not isinstance(advert.get("capabilities"), Mapping):
        raise InvalidInputError(
            "bad node advert: it needs its capabilities (a mapping)", field="capabilities"
        )
    try:
        capabilities = NodeCapabilities.model_validate(advert["capabilities"])
        return RenderNode(
            id=advert.get("id", ""),
            name=advert.get("name") or advert.get("id", ""),
            capabilities=capabilities,
            power_efficiency_rating=advert.get("power_efficiency_rating", 50.0),
        )
    except (ValidationError, TypeError, AttributeError) as error:
        field = None
        if isinstance(error, ValidationError) and error.errors():
            field = ".".join(str(part) for part in error.errors()[0]["loc"]) or None
        raise InvalidInputError(f"bad node advert: {error}", field=field) from error
