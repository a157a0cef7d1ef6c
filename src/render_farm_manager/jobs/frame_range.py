"""Frame ranges in the Open Job Description range syntax, parsed by ``openjd-model``.

``1001-1240`` (inclusive), ``1-100:5`` (every fifth), ``1,3,10-20`` (lists of ranges), ``10-1:-1``
(descending). Bounded: a shot has at most :data:`MAX_FRAMES` frames.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from openjd.model import IntRangeExpr

from render_farm_manager.core.errors import InvalidInputError
from render_farm_manager.core.models import MAX_FRAMES

MAX_FRAME_NUMBER = 10**9


def parse_frames(expression: str, field: str = "frames") -> list[int]:
    """Every frame of ``expression``, ascending, each once; raises
    :class:`InvalidInputError` naming the expression and what is wrong with it."""
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidInputError(
            f"{field} must be a frame range such as '1001-1240', got {expression!r}", field=field
        )
    text = expression.strip()
    try:
        ranges = IntRangeExpr.from_str(text)
    except OverflowError as error:
        raise InvalidInputError(
            f"{field} {text!r} has more than {MAX_FRAMES} frames, the most a shot may have",
            field=field,
        ) from error
    except (ValueError, TypeError) as error:
        raise InvalidInputError(
            f"{field} {text!r} is not a frame range: {error}", field=field
        ) from error
    try:
        count = len(ranges)
    except OverflowError:
        count = MAX_FRAMES + 1
    if count > MAX_FRAMES:
        raise InvalidInputError(
            f"{field} {text!r} has more than {MAX_FRAMES} frames, the most a shot may have",
            field=field,
        )
    frames = list(ranges)
    if any(abs(frame) > MAX_FRAME_NUMBER for frame in frames):
        raise InvalidInputError(
            f"{field} {text!r} has frame numbers beyond ±{MAX_FRAME_NUMBER}", field=field
        )
    seen: set[int] = set()
    repeated = sorted({frame for frame in frames if frame in seen or seen.add(frame)})  # type: ignore[func-returns-value]
    if repeated:
        raise InvalidInputError(
            f"{field} {text!r} names frame {repeated[0]} more than once", field=field
        )
    return frames


def format_frames(frames: Iterable[int]) -> str:
    """The shortest range expression for ``frames`` (``[1, 2, 3, 5]`` → ``1-3,5``)."""
    ordered = sorted(set(frames))
    if not ordered:
        return ""
    return str(IntRangeExpr.from_list(ordered))


def frames_label(frames: Sequence[int]) -> str:
    """A short label for a task's frames: ``1001``, ``1001-1005``, else the range expression."""
    if not frames:
        return ""
    first, last = frames[0], frames[-1]
    if len(frames) == 1:
        return str(first)
    if last - first + 1 == len(frames) and frames == sorted(frames):
        return f"{first}-{last}"
    return format_frames(frames)
