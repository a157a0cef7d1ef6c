"""V-Ray Standalone adapter: commands and the reading of V-Ray's log (hand-written logs: V-Ray is
not installed where these tests were written)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_renderer_logs import load_log, read, tail

from render_farm_manager.renderers.base import FailureKind, RenderRequest
from render_farm_manager.renderers.vray import VRayAdapter

SCENE = Path("/scenes/shot.vrscene")
OUT = Path("/renders/shot")


def request(frames: list[int], **values: object) -> RenderRequest:
    return RenderRequest(scene=SCENE, frames=frames, output_dir=OUT, **values)  # type: ignore[arg-type]


def test_a_contiguous_run_is_one_command() -> None:
    [command] = VRayAdapter().commands(request([1, 2, 3], width=640, height=360))
    assert command == [
        "vray",
        "-sceneFile=/scenes/shot.vrscene",
        "-frames=1-3",
        "-imgFile=/renders/shot/frame.png",
        "-imgWidth=640",
        "-imgHeight=360",
        "-display=0",
        "-autoClose=1",
        "-progressUseCR=0",
        "-progressUseColor=0",
        "-verboseLevel=3",
    ]


def test_each_contiguous_run_is_a_command() -> None:
    commands = VRayAdapter().commands(request([9, 1, 2, 3, 5]))
    assert [c[2] for c in commands] == ["-frames=1-3", "-frames=5", "-frames=9"]


def test_resume() -> None:
    commands = VRayAdapter().commands(request([1, 2, 4], resume=True))
    assert all(command[-1] == "-resume=1" for command in commands)
    assert not any("-resume=1" in c for c in VRayAdapter().commands(request([1, 2, 4])))


def test_paths_with_spaces_are_one_argument_each() -> None:
    job = RenderRequest(Path("/scenes/shot 1.vrscene"), [1], Path("/renders/shot 1"))
    command = VRayAdapter().commands(job)[0]
    assert "-sceneFile=/scenes/shot 1.vrscene" in command
    assert "-imgFile=/renders/shot 1/frame.png" in command


def test_extra_comes_first() -> None:
    [command] = VRayAdapter().commands(request([1], extra=["-numThreads=8"]))
    assert command[:2] == ["vray", "-numThreads=8"]


def test_frame_files_and_refused_frames() -> None:
    assert VRayAdapter().frame_path(request([7]), 7) == OUT / "frame.0007.png"
    assert VRayAdapter(image_format="exr").frame_path(request([7]), 7) == OUT / "frame.0007.exr"
    with pytest.raises(ValueError, match="negative"):
        VRayAdapter().commands(request([-1, 0]))


def test_three_frames_render() -> None:
    log = load_log("vray_animation.log")
    reading = read(VRayAdapter(), log.lines)
    assert reading.frames_done == [1, 2, 3]
    assert reading.progress == [0.0, 37.5, 81.25, 100.0, 0.0, 50.0, 100.0, 0.0, 62.5, 100.0]
    # "Using license server at localhost:30304" is information, not a licence failure
    assert reading.errors == []
    assert reading.failures == []


def test_no_licence_is_a_licence_failure() -> None:
    log = load_log("vray_no_license.log")
    adapter = VRayAdapter()
    reading = read(adapter, log.lines)
    assert reading.errors[0] == (
        "Could not obtain a license (-200). Check the license server settings.",
        FailureKind.LICENCE,
    )
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.LICENCE


def test_running_out_of_memory() -> None:
    log = load_log("vray_out_of_memory.log")
    adapter = VRayAdapter()
    reading = read(adapter, log.lines)
    assert reading.progress == [0.0, 12.5]
    assert set(reading.failures) == {FailureKind.OUT_OF_MEMORY}
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.OUT_OF_MEMORY


def test_a_missing_scene_is_a_scene_failure() -> None:
    log = load_log("vray_scene_error.log")
    adapter = VRayAdapter()
    reading = read(adapter, log.lines)
    assert reading.errors == [
        ('No file "/scenes/missing.vrscene" exists', FailureKind.SCENE),
        ('Error loading scene file "/scenes/missing.vrscene"', FailureKind.SCENE),
    ]
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.SCENE


def test_a_crash_keeps_the_frames_written_and_counts_against_the_node() -> None:
    log = load_log("vray_crash.log")
    adapter = VRayAdapter()
    reading = read(adapter, log.lines)
    assert reading.frames_done == [1]
    assert reading.failures == []
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.NODE


def test_warnings_never_classify() -> None:
    lines = [
        "[2024/Mar/5|10:15:02] [16 MB] warning: license server will expire in 3 days",
        "[2024/Mar/5|10:15:07] [76 MB] error: Unhandled exception in render thread 12",
    ]
    assert VRayAdapter().parse_line(lines[0]).error is None
    assert VRayAdapter().classify(-11, lines) is FailureKind.NODE


def test_carriage_return_progress_of_older_command_lines() -> None:
    # without -progressUseCR=0 V-Ray redraws its progress with carriage returns
    line = "Rendering image...: 10.00% [ 0h  0m  0.4s]\rRendering image...: 20.00% [ 0h  0m  0.8s]"
    assert VRayAdapter().parse_line(line).frame_progress == 20.0
