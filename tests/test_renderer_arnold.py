"""Arnold (kick) adapter: commands and the reading of Arnold's log (hand-written logs: Arnold is
not installed where these tests were written)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_renderer_logs import load_log, read, tail

from render_farm_manager.renderers.arnold import ArnoldAdapter
from render_farm_manager.renderers.base import FailureKind, RenderRequest

SCENE = Path("/scenes/shot.####.ass")
OUT = Path("/renders/shot")


def request(frames: list[int], **values: object) -> RenderRequest:
    return RenderRequest(scene=SCENE, frames=frames, output_dir=OUT, **values)  # type: ignore[arg-type]


def test_one_command_per_frame_of_a_contiguous_run() -> None:
    commands = ArnoldAdapter().commands(request([11, 12], width=640, height=360))
    assert commands[1] == [
        "kick",
        "-i",
        "/scenes/shot.0012.ass",
        "-o",
        "/renders/shot/frame.0012.png",
        "-r",
        "640",
        "360",
        "-dw",
        "-dp",
        "-v",
        "2",
        "-set",
        "options.abort_on_license_fail",
        "true",
    ]
    assert [c[c.index("-i") + 1] for c in commands] == [
        "/scenes/shot.0011.ass",
        "/scenes/shot.0012.ass",
    ]


def test_non_contiguous_frames_in_order() -> None:
    commands = ArnoldAdapter().commands(request([30, 1, 2]))
    assert [c[c.index("-o") + 1] for c in commands] == [
        "/renders/shot/frame.0001.png",
        "/renders/shot/frame.0002.png",
        "/renders/shot/frame.0030.png",
    ]


@pytest.mark.parametrize(
    ("scene", "expected"),
    [
        ("/scenes/shot.%04d.ass", "/scenes/shot.0007.ass"),
        ("/scenes/shot_%d.ass", "/scenes/shot_7.ass"),
        ("/scenes/take#2/shot.##.ass", "/scenes/take#2/shot.07.ass"),
        ("/scenes/shot.#.ass", "/scenes/shot.7.ass"),
    ],
)
def test_frame_placeholders(scene: str, expected: str) -> None:
    job = RenderRequest(Path(scene), [7], OUT)
    assert ArnoldAdapter().commands(job)[0][2] == expected


def test_a_scene_without_placeholder_renders_one_frame_only() -> None:
    still = RenderRequest(Path("/scenes/still.ass"), [1], OUT)
    assert ArnoldAdapter().commands(still)[0][2] == "/scenes/still.ass"
    with pytest.raises(ValueError, match="placeholder"):
        ArnoldAdapter().commands(RenderRequest(Path("/scenes/still.ass"), [1, 2], OUT))


def test_extra_comes_first_and_cannot_drop_the_licence_abort() -> None:
    [command] = ArnoldAdapter().commands(request([3], extra=["-t", "8"]))
    assert command[:3] == ["kick", "-t", "8"]
    assert command[-3:] == ["-set", "options.abort_on_license_fail", "true"]


def test_arnold_has_no_resume() -> None:
    adapter = ArnoldAdapter()
    assert adapter.commands(request([1, 2], resume=True)) == adapter.commands(request([1, 2]))


def test_frame_path_and_image_format() -> None:
    assert ArnoldAdapter().frame_path(request([5]), 5) == OUT / "frame.0005.png"
    exr = ArnoldAdapter(image_format="exr")
    assert exr.frame_path(request([5]), 5) == OUT / "frame.0005.exr"
    assert exr.commands(request([5]))[0][4] == "/renders/shot/frame.0005.exr"


def test_a_frame_renders() -> None:
    log = load_log("arnold_render.log")
    reading = read(ArnoldAdapter(), log.lines)
    assert reading.frames_done == [12]
    assert reading.progress == [0.0, 25.0, 50.0, 75.0, 100.0]
    # "[license] checking out an Arnold license ... success" is information, not an error
    assert reading.errors == []


def test_no_licence_is_a_licence_failure() -> None:
    log = load_log("arnold_no_license.log")
    adapter = ArnoldAdapter()
    reading = read(adapter, log.lines)
    assert set(reading.failures) == {FailureKind.LICENCE}
    assert reading.errors[-1] == (
        "aborting render because the abort_on_license_fail option was enabled",
        FailureKind.LICENCE,
    )
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.LICENCE


def test_running_out_of_memory() -> None:
    log = load_log("arnold_out_of_memory.log")
    adapter = ArnoldAdapter()
    reading = read(adapter, log.lines)
    assert reading.progress == [0.0, 5.0]
    assert reading.errors[0] == ("[arnold] out of memory", FailureKind.OUT_OF_MEMORY)
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.OUT_OF_MEMORY


def test_an_error_in_the_ass_file_is_a_scene_failure() -> None:
    log = load_log("arnold_scene_error.log")
    adapter = ArnoldAdapter()
    reading = read(adapter, log.lines)
    assert reading.errors[0] == (
        '[ass] line 131: node "ai_ocean_samplelayers" is not installed',
        FailureKind.SCENE,
    )
    assert set(reading.failures) == {FailureKind.SCENE}
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.SCENE


def test_a_crash_counts_against_the_node_whatever_the_warnings_said() -> None:
    log = load_log("arnold_crash.log")
    adapter = ArnoldAdapter()
    reading = read(adapter, log.lines)
    # the ignored missing texture is a warning: neither an error nor a scene failure
    assert reading.errors == [("signal caught: SIGSEGV -- Invalid memory reference", None)]
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.NODE


def test_a_licence_information_line_in_a_failed_run_is_no_licence_failure() -> None:
    lines = [
        "00:00:01   240MB         | [license] checking out an Arnold license ... success",
        "00:00:02   311MB ERROR   | signal caught: SIGSEGV -- Invalid memory reference",
    ]
    assert ArnoldAdapter().classify(-11, lines) is FailureKind.NODE


def test_the_watermark_warning_alone_is_a_licence_problem() -> None:
    line = (
        "00:00:00   315MB WARNING | rendering with watermarks because ARNOLD_LICENSE_ORDER = none"
    )
    said = ArnoldAdapter().parse_line(line)
    assert said.failure is FailureKind.LICENCE
    # a render that failed after it was watermarked would not have been delivered anyway
    assert ArnoldAdapter().classify(1, [line]) is FailureKind.LICENCE
