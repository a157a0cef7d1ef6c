"""The renderers the farm knows: an adapter by name, and which renderer a command line runs."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from render_farm_manager.renderers.arnold import ArnoldAdapter
from render_farm_manager.renderers.base import RendererAdapter
from render_farm_manager.renderers.blender import BlenderAdapter
from render_farm_manager.renderers.povray import POVRayAdapter
from render_farm_manager.renderers.prman import PRManAdapter
from render_farm_manager.renderers.vray import VRayAdapter

_ADAPTERS: dict[str, Callable[[], RendererAdapter]] = {
    "arnold": ArnoldAdapter,
    "blender": BlenderAdapter,
    "kick": ArnoldAdapter,
    "povray": POVRayAdapter,
    "prman": PRManAdapter,
    "vray": VRayAdapter,
}

KNOWN_RENDERERS = tuple(sorted(_ADAPTERS))
"""Every name :func:`adapter_for` accepts (``kick`` is Arnold's command-line renderer)."""

# Executable names, without directory and ".exe", and the renderer they run. Versioned names
# (``povray3.7``, ``blender-4.2``) and V-Ray's Linux binary (``vray.bin``) count too.
_EXECUTABLES = (
    (re.compile(r"povray[\d.]*"), "povray"),
    (re.compile(r"pvengine(64)?"), "povray"),
    (re.compile(r"blender([-_]?[\d.]+)?"), "blender"),
    (re.compile(r"kick"), "arnold"),
    (re.compile(r"vray(\.bin)?"), "vray"),
    (re.compile(r"prman"), "prman"),
)


def adapter_for(name: str) -> RendererAdapter:
    """A new adapter for the renderer called ``name`` (case does not matter). Each call gives a
    fresh adapter: some read a run's output with state of their own.

    Raises :class:`ValueError` naming the known renderers for any other name."""
    factory = _ADAPTERS.get(name.strip().lower()) if isinstance(name, str) else None
    if factory is None:
        raise ValueError(
            f"unknown renderer {name!r}; known renderers: {', '.join(KNOWN_RENDERERS)}"
        )
    return factory()


def guess_renderer(argv: Sequence[str]) -> str | None:
    """The renderer a command line runs, from its executable's name (``/opt/bin/kick`` →
    ``"arnold"``, ``C:\\Program Files\\Blender\\blender.exe`` → ``"blender"``), or ``None``
    when it is not one the farm knows (wrappers such as ``env`` or ``bash -c`` included)."""
    if isinstance(argv, str) or not argv:
        return None
    executable = str(argv[0]).strip()
    base = executable[max(executable.rfind("/"), executable.rfind("\\")) + 1 :].lower()
    if base.endswith(".exe"):
        base = base[: -len(".exe")]
    for pattern, renderer in _EXECUTABLES:
        if pattern.fullmatch(base):
            return renderer
    return None
