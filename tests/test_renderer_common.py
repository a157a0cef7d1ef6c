"""Helpers the renderer adapters share."""

from __future__ import annotations

import pytest

from render_farm_manager.renderers.base import FailureKind, OutputLine
from render_farm_manager.renderers.common import (
    frame_in_name,
    frame_runs,
    has_frame_placeholder,
    merge,
    percent,
    segments,
    substitute_frame,
)


@pytest.mark.parametrize(
    ("frames", "runs"),
    [
        ([1, 2, 3], [(1, 3)]),
        ([3, 1, 2], [(1, 3)]),
        ([1, 2, 2, 3], [(1, 3)]),
        ([1, 3, 5], [(1, 1), (3, 3), (5, 5)]),
        ([10, 11, 1, 2, 20], [(1, 2), (10, 11), (20, 20)]),
        ([-2, -1, 0, 1], [(-2, 1)]),
        ([7], [(7, 7)]),
        (range(1001, 1241), [(1001, 1240)]),
    ],
)
def test_frame_runs(frames: list[int], runs: list[tuple[int, int]]) -> None:
    assert frame_runs(list(frames)) == runs


def test_no_frames_is_no_run() -> None:
    with pytest.raises(ValueError, match="at least one frame"):
        frame_runs([])


def test_segments_split_redrawn_progress() -> None:
    assert segments("a 10%\rb 20%\rc 30%\n") == ["a 10%", "b 20%", "c 30%"]
    assert segments("\r\n") == []
    assert segments("plain\n") == ["plain"]


def test_merge_keeps_the_last_of_each_field_and_every_error() -> None:
    merged = merge(
        [
            OutputLine(frame_progress=10.0),
            OutputLine(frame_done=3, error="first"),
            OutputLine(frame_progress=20.0, error="second", failure=FailureKind.SCENE),
        ]
    )
    assert merged == OutputLine(
        frame_done=3, frame_progress=20.0, error="first; second", failure=FailureKind.SCENE
    )
    assert merge([]) == OutputLine()


def test_percent() -> None:
    assert percent(1, 4) == 25.0
    assert percent(5, 4) == 100.0
    assert percent(1, 0) is None


@pytest.mark.parametrize(
    ("pattern", "frame", "expected"),
    [
        ("/s/shot.####.ass", 12, "/s/shot.0012.ass"),
        ("/s/shot.####.ass", 12345, "/s/shot.12345.ass"),
        ("/s/shot.%04d.rib", 12, "/s/shot.0012.rib"),
        ("/s/shot.%4d.rib", 12, "/s/shot.0012.rib"),
        ("/s/shot.%d.rib", 12, "/s/shot.12.rib"),
        ("/s/shot.####.ass", -1, "/s/shot.-001.ass"),
        ("/s/v#1/shot.###.ass", 7, "/s/v#1/shot.007.ass"),
        ("C:\\s\\v#1\\shot.##.ass", 7, "C:\\s\\v#1\\shot.07.ass"),
        ("shot_##_v###.ass", 7, "shot_##_v007.ass"),
    ],
)
def test_substitute_frame(pattern: str, frame: int, expected: str) -> None:
    assert has_frame_placeholder(pattern)
    assert substitute_frame(pattern, frame) == expected


def test_no_placeholder() -> None:
    assert not has_frame_placeholder("/s/take#2/shot.ass")
    with pytest.raises(ValueError, match="placeholder"):
        substitute_frame("/s/take#2/shot.ass", 1)


@pytest.mark.parametrize(
    ("path", "frame"),
    [
        ("/out/frame.0012.png", 12),
        ("/out/frame12.png", 12),
        ("C:\\out\\shot_v2_0040.exr", 40),
        ("/out/frame.0012.png ", 12),
        ("/out/still.png", None),
        ("/out/frame.0012", None),
    ],
)
def test_frame_in_name(path: str, frame: int | None) -> None:
    assert frame_in_name(path) == frame
