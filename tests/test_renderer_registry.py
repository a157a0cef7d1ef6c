"""The renderer registry: adapters by name, and the renderer a command line runs."""

from __future__ import annotations

import pytest

from render_farm_manager.renderers.arnold import ArnoldAdapter
from render_farm_manager.renderers.base import RendererAdapter
from render_farm_manager.renderers.blender import BlenderAdapter
from render_farm_manager.renderers.povray import POVRayAdapter
from render_farm_manager.renderers.prman import PRManAdapter
from render_farm_manager.renderers.registry import KNOWN_RENDERERS, adapter_for, guess_renderer
from render_farm_manager.renderers.vray import VRayAdapter


@pytest.mark.parametrize(
    ("name", "kind", "adapter_name"),
    [
        ("povray", POVRayAdapter, "povray"),
        ("blender", BlenderAdapter, "blender"),
        ("arnold", ArnoldAdapter, "arnold"),
        ("kick", ArnoldAdapter, "arnold"),
        ("vray", VRayAdapter, "vray"),
        ("prman", PRManAdapter, "prman"),
        (" PoVRaY ", POVRayAdapter, "povray"),
    ],
)
def test_adapters_by_name(name: str, kind: type[RendererAdapter], adapter_name: str) -> None:
    adapter = adapter_for(name)
    assert isinstance(adapter, kind)
    assert adapter.name == adapter_name


def test_every_call_gives_a_fresh_adapter() -> None:
    # some adapters follow a run's output: two runs must not share one
    assert adapter_for("povray") is not adapter_for("povray")


def test_an_unknown_renderer_names_the_known_ones() -> None:
    with pytest.raises(ValueError) as error:
        adapter_for("mantra")
    message = str(error.value)
    assert "'mantra'" in message
    for name in ("arnold", "blender", "kick", "povray", "prman", "vray"):
        assert name in message
    assert set(KNOWN_RENDERERS) == {"arnold", "blender", "kick", "povray", "prman", "vray"}


@pytest.mark.parametrize(
    ("argv", "renderer"),
    [
        (["povray", "+Iscene.pov"], "povray"),
        (["/usr/bin/povray"], "povray"),
        (["povray3.7"], "povray"),
        (["C:\\Program Files\\POV-Ray\\v3.7\\bin\\pvengine64.exe", "/EXIT"], "povray"),
        (["blender", "-b", "shot.blend"], "blender"),
        (["/opt/blender-4.1.1-linux-x64/blender"], "blender"),
        (["blender-4.1"], "blender"),
        (["C:\\Program Files\\Blender Foundation\\Blender 4.1\\blender.exe"], "blender"),
        (["/opt/arnold/bin/kick", "-i", "a.ass"], "arnold"),
        (["kick.exe"], "arnold"),
        (["vray", "-sceneFile=a.vrscene"], "vray"),
        (["/opt/chaos/vray/bin/vray.bin"], "vray"),
        (["VRAY.EXE"], "vray"),
        (["/opt/pixar/RenderManProServer-25.2/bin/prman", "a.rib"], "prman"),
        (["env", "povray"], None),
        (["bash", "-c", "povray +Ia.pov"], None),
        (["mantra"], None),
        (["kicker"], None),
        (["blenderish"], None),
        ([], None),
    ],
)
def test_guess_renderer_from_the_executable(argv: list[str], renderer: str | None) -> None:
    assert guess_renderer(argv) == renderer


def test_a_guess_always_has_an_adapter() -> None:
    for argv in (["povray"], ["blender"], ["kick"], ["vray"], ["prman"]):
        renderer = guess_renderer(argv)
        assert renderer is not None
        assert adapter_for(renderer).name == renderer


def test_a_string_is_not_an_argv() -> None:
    assert guess_renderer("povray +Ia.pov") is None  # type: ignore[arg-type]
