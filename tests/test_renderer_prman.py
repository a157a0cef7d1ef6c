"""RenderMan (prman) adapter: commands and the reading of prman's output (hand-written logs:
RenderMan is not installed where these tests were written)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_renderer_logs import load_log, read, tail

from render_farm_manager.renderers.base import FailureKind, RenderRequest
from render_farm_manager.renderers.prman import PRManAdapter

SCENE = Path("/scenes/shot.####.rib")
OUT = Path("/renders/shot")


def request(frames: list[int], **values: object) -> RenderRequest:
    return RenderRequest(scene=SCENE, frames=frames, output_dir=OUT, **values)  # type: ignore[arg-type]


def test_one_command_per_frame() -> None:
    commands = PRManAdapter().commands(request([12, 13]))
    assert commands[0] == [
        "prman",
        "-Progress",
        "-cwd",
        "/renders/shot",
        "-checkpoint",
        "10m",
        "/scenes/shot.0012.rib",
    ]
    assert commands[1][-1] == "/scenes/shot.0013.rib"


def test_non_contiguous_frames_in_order() -> None:
    commands = PRManAdapter().commands(request([40, 2, 1]))
    assert [c[-1] for c in commands] == [
        "/scenes/shot.0001.rib",
        "/scenes/shot.0002.rib",
        "/scenes/shot.0040.rib",
    ]


def test_resume_recovers_from_the_checkpoint() -> None:
    [command] = PRManAdapter(checkpoint="5m").commands(request([12], resume=True))
    assert command == [
        "prman",
        "-Progress",
        "-cwd",
        "/renders/shot",
        "-checkpoint",
        "5m",
        "-recover",
        "1",
        "/scenes/shot.0012.rib",
    ]


def test_extra_comes_before_the_rib() -> None:
    [command] = PRManAdapter().commands(request([1], extra=["-t:8"]))
    assert command[:2] == ["prman", "-t:8"]
    assert command[-1] == "/scenes/shot.0001.rib"


def test_requests_prman_cannot_take() -> None:
    # -cwd changes the working directory: a relative RIB would be looked for in the output
    with pytest.raises(ValueError, match="absolute"):
        PRManAdapter().commands(RenderRequest(Path("shot.####.rib"), [1], OUT))
    with pytest.raises(ValueError, match="placeholder"):
        PRManAdapter().commands(RenderRequest(Path("/scenes/still.rib"), [1, 2], OUT))
    assert PRManAdapter().commands(RenderRequest(Path("/scenes/still.rib"), [3], OUT))[0][-1] == (
        "/scenes/still.rib"
    )


def test_frame_path() -> None:
    assert PRManAdapter().frame_path(request([12]), 12) == OUT / "frame.0012.exr"
    assert PRManAdapter(image_format="tif").frame_path(request([1]), 1) == OUT / "frame.0001.tif"


def test_a_frame_renders() -> None:
    log = load_log("prman_render.log")
    reading = read(PRManAdapter(), log.lines)
    assert reading.progress == [0.0, 12.0, 37.0, 64.0, 88.0, 100.0]
    assert reading.frames_done == [12]
    assert reading.errors == []  # "{INFO} License checkout ... success" is no error


def test_older_progress_lines() -> None:
    assert PRManAdapter().parse_line("R90000 PROGRESS: 45%").frame_progress == 45.0


def test_no_licence_is_a_licence_failure() -> None:
    log = load_log("prman_no_license.log")
    adapter = PRManAdapter()
    reading = read(adapter, log.lines)
    assert set(reading.failures) == {FailureKind.LICENCE}
    assert reading.errors[-1] == (
        "Error: R50005 License error, rendering aborted",
        FailureKind.LICENCE,
    )
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.LICENCE


def test_running_out_of_memory() -> None:
    log = load_log("prman_out_of_memory.log")
    adapter = PRManAdapter()
    reading = read(adapter, log.lines)
    assert reading.progress == [0.0, 8.0]
    assert reading.failures == [FailureKind.OUT_OF_MEMORY]
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.OUT_OF_MEMORY


def test_a_rib_error_is_a_scene_failure() -> None:
    log = load_log("prman_rib_error.log")
    adapter = PRManAdapter()
    reading = read(adapter, log.lines)
    assert reading.failures == [FailureKind.SCENE, FailureKind.SCENE]
    assert "Syntax error at line 42" in reading.errors[0][0]
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.SCENE


def test_a_crash_counts_against_the_node() -> None:
    log = load_log("prman_crash.log")
    adapter = PRManAdapter()
    reading = read(adapter, log.lines)
    assert reading.failures == []
    assert len(reading.errors) == 1  # the warning about the texture is not an error
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.NODE


def test_a_missing_texture_is_a_scene_failure() -> None:
    line = "Error: T02001 Can't open texture /textures/bark.tex"
    assert PRManAdapter().parse_line(line).failure is FailureKind.SCENE
    assert PRManAdapter().classify(1, [line]) is FailureKind.SCENE
