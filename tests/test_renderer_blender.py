"""Blender adapter: commands and the reading of Blender's output (hand-written logs: Blender is
not installed where these tests were written)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_renderer_logs import load_log, read, tail

from render_farm_manager.renderers.base import FailureKind, RenderRequest
from render_farm_manager.renderers.blender import BlenderAdapter

SCENE = Path("/scenes/shot.blend")
OUT = Path("/renders/shot")


def request(frames: list[int], **values: object) -> RenderRequest:
    return RenderRequest(scene=SCENE, frames=frames, output_dir=OUT, **values)  # type: ignore[arg-type]


def test_a_contiguous_run_is_one_command() -> None:
    [command] = BlenderAdapter().commands(request([1, 2, 3]))
    assert command == [
        "blender",
        "-b",
        "/scenes/shot.blend",
        "-o",
        "/renders/shot/frame.####",
        "-F",
        "PNG",
        "-x",
        "1",
        "-s",
        "1",
        "-e",
        "3",
        "-a",
    ]


def test_each_contiguous_run_is_a_command() -> None:
    commands = BlenderAdapter().commands(request([20, 1, 2, 10, 11, 12]))
    assert [(c[c.index("-s") + 1], c[c.index("-e") + 1]) for c in commands] == [
        ("1", "2"),
        ("10", "12"),
        ("20", "20"),
    ]
    assert all(command[-1] == "-a" for command in commands)


def test_extra_goes_before_the_render_and_python_arguments_after_it() -> None:
    adapter = BlenderAdapter(cycles_device="CPU")
    [command] = adapter.commands(request([4], extra=["-E", "CYCLES", "--", "--cycles-print-stats"]))
    assert command[:5] == ["blender", "-b", "/scenes/shot.blend", "-E", "CYCLES"]
    assert command[command.index("-a") :] == [
        "-a",
        "--",
        "--cycles-print-stats",
        "--cycles-device",
        "CPU",
    ]
    [plain] = BlenderAdapter(cycles_device="CPU").commands(request([4]))
    assert plain[-4:] == ["-a", "--", "--cycles-device", "CPU"]


def test_blender_has_no_resume_of_its_own() -> None:
    adapter = BlenderAdapter()
    assert adapter.commands(request([1, 2], resume=True)) == adapter.commands(request([1, 2]))


def test_frame_files_are_padded_to_four_digits() -> None:
    adapter = BlenderAdapter()
    assert adapter.frame_path(request([7]), 7) == OUT / "frame.0007.png"
    assert adapter.frame_path(request([12345]), 12345) == OUT / "frame.12345.png"


def test_negative_frames_are_refused() -> None:
    # "-s -5" is five frames before the scene's start to Blender, not frame -5
    with pytest.raises(ValueError, match="negative"):
        BlenderAdapter().commands(request([-5, -4]))
    with pytest.raises(ValueError, match="at least one frame"):
        BlenderAdapter().commands(request([]))


def test_cycles_renders_three_frames() -> None:
    log = load_log("blender_cycles_animation.log")
    reading = read(BlenderAdapter(), log.lines)
    assert reading.frames_done == [1, 2, 3]
    assert reading.errors == []
    assert reading.progress == [0.0, 25.0, 50.0, 100.0, 0.0, 50.0, 100.0, 0.0, 25.0, 75.0, 100.0]


def test_eevee_renders_two_frames() -> None:
    log = load_log("blender_eevee_animation.log")
    reading = read(BlenderAdapter(), log.lines)
    assert reading.frames_done == [10, 11]
    assert reading.progress[:2] == [pytest.approx(100 / 64), 25.0]
    assert reading.progress[-1] == 100.0


def test_progress_by_tiles_of_older_cycles() -> None:
    adapter = BlenderAdapter()
    line = (
        "Fra:125 Mem:12.37M (0.00M, Peak 14.83M) | Time:00:00.13 | Remaining:00:00.14 | "
        "Mem:0.71M, Peak:1.20M | Background Lines, RenderLayer | Path Tracing Tile 4/16, "
        "Sample 10/10"
    )
    assert adapter.parse_line(line).frame_progress == 25.0
    building = "Fra:1 Mem:17765.97M (Peak 23433.50M) | Time:00:39.16 | Building BVH 54%"
    assert adapter.parse_line(building).frame_progress is None


def test_a_saved_file_of_another_name_is_the_frame_it_ends_with() -> None:
    # commands of the job's own: Blender numbers every file of an animation
    adapter = BlenderAdapter()
    assert adapter.parse_line("Saved: '/r/shot_v003_0042.exr'").frame_done == 42
    assert adapter.parse_line('Saved: "/r/frame.0043.png"').frame_done == 43
    adapter.parse_line("Fra:44 Mem:1.00M (Peak 1.00M) | Time:00:00.01 | Sample 1/1")
    assert adapter.parse_line("Saved: '/r/still.png'").frame_done == 44


def test_a_missing_blend_file_is_a_scene_failure() -> None:
    log = load_log("blender_missing_file.log")
    adapter = BlenderAdapter()
    reading = read(adapter, log.lines)
    assert reading.errors == [
        ('Cannot read file "/scenes/missing.blend": No such file or directory', FailureKind.SCENE)
    ]
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.SCENE


def test_running_out_of_gpu_memory() -> None:
    log = load_log("blender_gpu_out_of_memory.log")
    adapter = BlenderAdapter()
    reading = read(adapter, log.lines)
    assert reading.frames_done == []
    assert set(reading.failures) == {FailureKind.OUT_OF_MEMORY}
    assert ("System is out of GPU memory", FailureKind.OUT_OF_MEMORY) in reading.errors
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.OUT_OF_MEMORY


@pytest.mark.parametrize(
    "line",
    [
        "CUDA error: Out of memory in cuLaunchKernel(cuPathTrace, xblocks, yblocks, 1)",
        "System is out of GPU and shared host memory",
        "Error: Malloc returns null: len=2147483648 in CDDerivedMesh.c, total 8127393",
    ],
)
def test_other_out_of_memory_messages(line: str) -> None:
    assert BlenderAdapter().parse_line(line).failure is FailureKind.OUT_OF_MEMORY
    assert BlenderAdapter().classify(1, [line]) is FailureKind.OUT_OF_MEMORY


def test_no_display_counts_against_the_node() -> None:
    log = load_log("blender_no_display.log")
    adapter = BlenderAdapter()
    assert read(adapter, log.lines).errors == [("Unable to open a display", FailureKind.NODE)]
    assert adapter.classify(log.exit_status, tail(log)) is FailureKind.NODE


def test_unfreed_memory_at_exit_is_reported_but_no_failure_kind() -> None:
    said = BlenderAdapter().parse_line(
        "Error: Not freed memory blocks: 4, total unfreed memory 0.001 MB"
    )
    assert said.error == "Not freed memory blocks: 4, total unfreed memory 0.001 MB"
    assert said.failure is None
    assert BlenderAdapter().classify(1, [said.error]) is FailureKind.NODE
