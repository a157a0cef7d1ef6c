"""POV-Ray adapter: its commands, its reading of recorded POV-Ray output, and (when POV-Ray is
installed; always in CI) a real render with its commands."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from test_renderer_logs import load_log, read, tail

from render_farm_manager.renderers.base import FailureKind, RenderRequest
from render_farm_manager.renderers.povray import POVRayAdapter

SCENE = Path("/scenes/shot/anim.pov")
OUT = Path("/renders/shot")


def request(frames: list[int], **values: object) -> RenderRequest:
    return RenderRequest(scene=SCENE, frames=frames, output_dir=OUT, **values)  # type: ignore[arg-type]


# -- commands ----------------------------------------------------------------------------------


def test_a_contiguous_run_is_one_command() -> None:
    [command] = POVRayAdapter().commands(request([1, 2, 3], width=32, height=24))
    assert command == [
        "povray",
        '+I"/scenes/shot/anim.pov"',
        '+L"/scenes/shot"',
        '+O"/renders/shot/frame.png"',
        "+W32",
        "+H24",
        "+FN",
        "-D",
        "+V",
        "+KFI1",
        "+KFF3",
        "+SF1",
        "+EF3",
    ]


def test_each_contiguous_run_is_a_command_of_the_same_animation() -> None:
    commands = POVRayAdapter().commands(request([12, 7, 1, 2, 3, 8, 2]))
    assert [command[-2:] for command in commands] == [
        ["+SF1", "+EF3"],
        ["+SF7", "+EF8"],
        ["+SF12", "+EF12"],
    ]
    # one animation range for all of them: the same clock and the same file names
    assert all(command[-4:-2] == ["+KFI1", "+KFF12"] for command in commands)
    assert all(isinstance(argument, str) for command in commands for argument in command)


def test_a_single_frame_is_the_first_of_a_two_frame_animation() -> None:
    # +KFI5 +KFF5 would make clock 0/0 (NaN); +KFI1 +KFF1 would be no animation at all
    adapter = POVRayAdapter()
    [command] = adapter.commands(request([5]))
    assert command[-4:] == ["+KFI5", "+KFF6", "+SF5", "+EF5"]
    assert adapter.frame_path(request([5]), 5) == OUT / "frame5.png"
    [command] = adapter.commands(request([9]))
    assert command[-4:] == ["+KFI9", "+KFF10", "+SF9", "+EF9"]
    assert adapter.frame_path(request([9]), 9) == OUT / "frame09.png"


@pytest.mark.parametrize(
    ("frames", "frame", "name"),
    [
        ([1, 2, 3], 2, "frame2.png"),
        ([1, 9], 9, "frame9.png"),
        ([1, 12], 1, "frame01.png"),
        ([99, 100], 99, "frame099.png"),
        ([0, 1, 2], 0, "frame0.png"),
        ([998, 1001], 1001, "frame1001.png"),
    ],
)
def test_frame_files_are_padded_to_the_digits_of_the_final_frame(
    frames: list[int], frame: int, name: str
) -> None:
    assert POVRayAdapter().frame_path(request(frames), frame) == OUT / name


def test_the_shot_range_in_extra_pins_clock_and_names_for_every_chunk() -> None:
    adapter = POVRayAdapter()
    chunk = request([5, 6], extra=["+KFI1", "+KFF240", "+A0.3", "+WT2"])
    [command] = adapter.commands(chunk)
    assert command[-4:] == ["+KFI1", "+KFF240", "+SF5", "+EF6"]
    assert [c for c in command if c.upper().startswith(("+KFI", "+KFF"))] == ["+KFI1", "+KFF240"]
    # extra comes before the adapter's options, which POV-Ray lets win
    assert command.index("+A0.3") < command.index('+O"/renders/shot/frame.png"')
    assert "+WT2" in command
    assert adapter.frame_path(chunk, 5) == OUT / "frame005.png"
    with pytest.raises(ValueError, match="outside the animation range"):
        adapter.commands(request([239, 240, 241], extra=["+KFI1", "+KFF240"]))


def test_resume_continues_the_trace() -> None:
    adapter = POVRayAdapter()
    commands = adapter.commands(request([1, 2, 3, 5], resume=True))
    assert all(command[-1] == "+C" for command in commands)
    assert not any("+C" in command for command in adapter.commands(request([1, 2, 3, 5])))


def test_paths_are_quoted_inside_the_argument() -> None:
    # POV-Ray splits option strings at spaces: +O/renders/shot 1/frame.png would not work
    spaced = RenderRequest(Path("/scenes/shot 1/a.pov"), [1], Path("/renders/shot 1"))
    command = POVRayAdapter().commands(spaced)[0]
    assert '+I"/scenes/shot 1/a.pov"' in command
    assert '+O"/renders/shot 1/frame.png"' in command
    with pytest.raises(ValueError, match="containing"):
        POVRayAdapter().commands(RenderRequest(Path('/scenes/"a".pov'), [1], OUT))


@pytest.mark.parametrize(
    ("frames", "extra", "message"),
    [
        ([], (), "at least one frame"),
        ([-2, -1], (), "negative"),
        ([1, 2], ("+KC",), "cyclic"),
    ],
)
def test_requests_povray_cannot_render_are_refused(
    frames: list[int], extra: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        POVRayAdapter().commands(request(frames, extra=extra))


def test_the_executable_can_be_named() -> None:
    command = POVRayAdapter("/opt/povray/bin/povray").commands(request([1]))[0]
    assert command[0] == "/opt/povray/bin/povray"


# -- recorded output ---------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [False, True], ids=["text-pipe", "raw"])
def test_a_three_frame_animation(raw: bool) -> None:
    log = load_log("povray_animation.log")
    assert log.exit_status == 0
    reading = read(POVRayAdapter(), log.raw_lines if raw else log.lines)
    assert reading.frames_done == [1, 2, 3]
    assert reading.errors == []
    assert reading.failures == []
    assert reading.progress, "progress is read"
    assert all(0.0 <= value <= 100.0 for value in reading.progress)
    assert reading.progress[-1] == 100.0
    if not raw:
        # 160x120: 19200 pixels a frame, progress every 1024 pixels, 100 % at the end of each
        assert reading.progress[0] == pytest.approx(100 * 1024 / 19200)
        assert reading.progress[1] == pytest.approx(100 * 2048 / 19200)
        assert reading.progress.count(100.0) == 3


def test_a_frame_is_done_only_when_the_next_starts_or_povray_finishes() -> None:
    """POV-Ray writes a frame's image after its statistics: "Rendered N of N pixels (100%)"
    and the statistics do not mean the file is there yet."""
    log = load_log("povray_animation.log")
    adapter = POVRayAdapter()
    seen: list[tuple[int, str]] = []
    for line in log.lines:
        said = adapter.parse_line(line)
        if said.frame_done is not None:
            seen.append((said.frame_done, line.strip()))
    assert seen == [
        (1, "Rendering frame 2 of 3"),
        (2, "Rendering frame 3 of 3"),
        (3, "POV-Ray finished"),
    ]


def test_a_syntax_error_is_a_scene_failure() -> None:
    log = load_log("povray_parse_error.log")
    adapter = POVRayAdapter()
    reading = read(adapter, log.lines)
    assert reading.frames_done == []
    assert reading.failures == [FailureKind.SCENE, FailureKind.SCENE]
    message, kind = reading.errors[-1]
    assert kind is FailureKind.SCENE
    # the message POV-Ray wraps at 80 columns is read whole
    assert message.endswith("line 6: Parse Error: No matching } in 'sphere', plane found instead")
    assert log.exit_status == 1
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.SCENE


def test_a_missing_include_file_is_a_scene_failure() -> None:
    log = load_log("povray_missing_include.log")
    adapter = POVRayAdapter()
    reading = read(adapter, log.lines)
    possible, cause = reading.errors[0], reading.errors[-1]
    # "Possible Parse Error" alone is a warning (POV-Ray prints it for scenes that render)
    assert "Possible Parse Error: Cannot find file 'props.inc'" in possible[0]
    assert possible[1] is None
    assert "Parse Error: Cannot open include file props.inc." in cause[0]
    assert cause[1] is FailureKind.SCENE
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.SCENE


def test_a_missing_scene_file_is_a_scene_failure() -> None:
    log = load_log("povray_missing_scene.log")
    adapter = POVRayAdapter()
    reading = read(adapter, log.lines)
    assert reading.errors[-1] == ("Parse Error: Cannot open input file.", FailureKind.SCENE)
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.SCENE


def test_an_error_on_frame_two_keeps_frame_one() -> None:
    log = load_log("povray_error_on_frame_2.log")
    adapter = POVRayAdapter()
    reading = read(adapter, log.lines)
    assert reading.frames_done == [1]
    assert reading.errors[-1][1] is FailureKind.SCENE
    assert "prop cache for frame 2 is missing" in reading.errors[-1][0]
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.SCENE


def test_running_out_of_memory_while_parsing_is_not_a_scene_failure() -> None:
    log = load_log("povray_out_of_memory_parse.log")
    adapter = POVRayAdapter()
    reading = read(adapter, log.lines)
    # "Parse Error: std::bad_alloc", then "Fatal error in parser: Cannot parse input."
    assert reading.failures == [FailureKind.OUT_OF_MEMORY, FailureKind.OUT_OF_MEMORY]
    assert reading.errors[-1][0].endswith("Parse Error: std::bad_alloc")
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.OUT_OF_MEMORY


@pytest.mark.parametrize("raw", [False, True], ids=["text-pipe", "raw"])
def test_running_out_of_memory_while_rendering(raw: bool) -> None:
    log = load_log("povray_out_of_memory_render.log")
    adapter = POVRayAdapter()
    reading = read(adapter, log.raw_lines if raw else log.lines)
    assert reading.frames_done == []
    assert reading.progress[-1] < 100
    assert reading.errors[-1] == (
        "Memory allocation failure exception thrown at base/povmscpp.cpp line 1849.",
        FailureKind.OUT_OF_MEMORY,
    )
    assert set(reading.failures) == {FailureKind.OUT_OF_MEMORY}
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.OUT_OF_MEMORY


def test_an_interrupted_run_keeps_its_finished_frames_and_is_no_scene_failure() -> None:
    log = load_log("povray_interrupted.log")
    adapter = POVRayAdapter()
    reading = read(adapter, log.lines)
    assert log.exit_status == 2
    assert reading.frames_done == [1]
    assert reading.failures == []
    assert reading.errors == [("Fatal error in renderer: Frontend halted render.", None)]
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.NODE


def test_a_resumed_run_reports_the_skipped_frame_as_done() -> None:
    log = load_log("povray_resumed.log")
    assert any("+C" in line for line in log.header if line.startswith("# Command"))
    lines = log.lines
    assert any("File already rendered and continue requested; skipping." in x for x in lines)
    reading = read(POVRayAdapter(), lines)
    assert reading.frames_done == [1, 2, 3]
    assert reading.failures == []


def test_a_long_output_path_wrapped_at_80_columns_is_joined() -> None:
    adapter = POVRayAdapter()
    lines = [
        "Rendering frame 1 of 2\n",
        "  Output file........../tmp/povwork/a_very_long_directory_name_for_testing_wrapp\n",
        "ing/another_long_component_here/out/frame7.png, 24 bpp PNG\n",
        "  Dithering............Off\n",
        "Rendering frame 2 of 2\n",
    ]
    assert read(adapter, lines).frames_done == [7]


def test_povrays_banner_starts_a_new_run() -> None:
    adapter = POVRayAdapter()
    # the first run is cut off while frame 2 renders ...
    assert read(adapter, load_log("povray_interrupted.log").lines).frames_done == [1]
    # ... and the next one's "Rendering frame 1 of 3" does not finish that frame 2
    assert read(adapter, load_log("povray_animation.log").lines).frames_done == [1, 2, 3]


def test_warnings_in_the_tail_of_a_failed_run_are_not_scene_failures() -> None:
    tail_lines = [
        "Possible Parse Error: assumed_gamma not specified in this POV-Ray 3.7 or later",
        " scene. Future versions of POV-Ray may consider this a fatal error.",
        "Rendered 2048 of 19200 pixels (10%)",
        "Fatal error in renderer: Frontend halted render.",
        "Render cancelled by user",
    ]
    assert POVRayAdapter().classify(2, tail_lines) is FailureKind.NODE
    assert POVRayAdapter().classify(-9, []) is FailureKind.NODE


# -- a real render -----------------------------------------------------------------------------

ANIMATED_SCENE = """#version 3.7;
global_settings { assumed_gamma 1.0 }
camera { location <0, 1, -4> look_at <0, 0, 0> }
light_source { <2, 4, -3> color rgb 1 }
sphere { <clock * 2 - 1, 0, 0>, 0.5 pigment { color rgb <1, 0.3, 0.2> } }
plane { y, -0.5 pigment { checker color rgb 1 color rgb 0.2 } }
"""
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def require_povray() -> str:
    povray = shutil.which("povray")
    if povray is None:
        if os.environ.get("CI"):
            pytest.fail("POV-Ray must be installed in CI (.ci/run installs it)")
        pytest.skip("POV-Ray is not installed here (apt-get install povray); CI requires it")
    return povray


def test_without_povray_ci_fails_and_a_local_run_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="must be installed in CI"):
        require_povray()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        require_povray()


def render(adapter: POVRayAdapter, job: RenderRequest, cwd: Path) -> list[str]:
    """Run the adapter's commands as the local executor does; the output's lines."""
    lines: list[str] = []
    for argv in adapter.commands(job):
        done = subprocess.run(
            argv,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-2000:]
        lines += done.stdout.splitlines(keepends=True)
    return lines


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path.name} is a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_povray_renders_the_frames_where_the_adapter_says(tmp_path: Path) -> None:
    povray = require_povray()
    (tmp_path / "anim.pov").write_text(ANIMATED_SCENE)
    # scene and images in the working directory: POV-Ray's default I/O restrictions allow it
    job = RenderRequest(tmp_path / "anim.pov", [1, 2, 3], tmp_path, width=32, height=24)
    adapter = POVRayAdapter(povray)
    lines = render(adapter, job, tmp_path)
    for frame in (1, 2, 3):
        path = adapter.frame_path(job, frame)
        assert path.exists(), f"frame {frame} at {path.name}"
        assert png_size(path) == (32, 24)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "frame1.png",
        "frame2.png",
        "frame3.png",
    ]
    # the sphere moves with clock: the frames differ
    assert len({adapter.frame_path(job, f).read_bytes() for f in (1, 2, 3)}) == 3
    reading = read(POVRayAdapter(), lines)
    assert reading.frames_done == [1, 2, 3]
    assert reading.failures == []


def test_povray_pads_frame_numbers_and_renders_runs_apart(tmp_path: Path) -> None:
    povray = require_povray()
    (tmp_path / "anim.pov").write_text(ANIMATED_SCENE)
    job = RenderRequest(tmp_path / "anim.pov", [8, 10], tmp_path, width=16, height=12)
    adapter = POVRayAdapter(povray)
    assert len(adapter.commands(job)) == 2
    lines = render(adapter, job, tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["frame08.png", "frame10.png"]
    assert [adapter.frame_path(job, f).name for f in (8, 10)] == ["frame08.png", "frame10.png"]
    assert read(POVRayAdapter(), lines).frames_done == [8, 10]


def test_a_still_has_no_frame_number() -> None:
    # a job's own command without +KFI/+KFF: POV-Ray writes frame.png, no animation frame
    lines = [
        "  Output file........../renders/still/frame.png, 24 bpp PNG\n",
        "  Dithering............Off\n",
        "POV-Ray finished\n",
    ]
    assert read(POVRayAdapter(), lines).frames_done == []


def test_an_output_directory_that_does_not_exist_counts_against_the_node() -> None:
    # what POV-Ray 3.7 prints when +O names a directory that does not exist
    lines = [
        "Cannot create render state output file.\n",
        "Cannot create render state output file.\n",
        "\n",
        "Render failed\n",
    ]
    adapter = POVRayAdapter()
    reading = read(adapter, lines)
    assert reading.errors[-1] == ("Cannot create render state output file.", None)
    assert adapter.classify(1, [line.rstrip("\n") for line in lines]) is FailureKind.NODE


def test_an_option_povray_does_not_know_is_a_scene_failure() -> None:
    # an option of the job's extra arguments that POV-Ray refuses fails on every node alike
    lines = [
        "Problem with option setting\n",
        "povray +Ia.pov +Zoom2 +Oout/frame.png\n",
        "Failed to parse command-line option\n",
    ]
    assert POVRayAdapter().classify(1, [line.rstrip("\n") for line in lines]) is FailureKind.SCENE


def test_a_preview_command_is_the_same_render_smaller_without_antialiasing(tmp_path) -> None:
    from render_farm_manager.renderers.povray import POVRayAdapter

    argv = ["povray", "+Iscene.pov", f"+O{tmp_path}/out/shot_.png", "+W640", "+H360",
            "+A0.3", "+KFI1", "+KFF48", "+SF7", "+EF7", "-D"]  # fmt: skip
    made = POVRayAdapter().preview_command(argv, 0.25)
    assert made is not None
    command, directory = made
    assert directory == tmp_path / "out" / "preview"
    assert command == ["povray", "+Iscene.pov", f"+O{directory}/shot_.png", "+W160", "+H90",
                       "+KFI1", "+KFF48", "+SF7", "+EF7", "-D", "-A"]  # fmt: skip


def test_no_preview_command_without_an_output_name() -> None:
    from render_farm_manager.renderers.povray import POVRayAdapter

    assert POVRayAdapter().preview_command(["povray", "+Iscene.pov", "+W64"], 0.5) is None
