"""Helpers the renderer adapters share: frame runs, output segments, frame numbers in names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from render_farm_manager.renderers.base import FailureKind, OutputLine

NOTHING = OutputLine()
"""What a line of noise says."""


def frame_runs(frames: Sequence[int]) -> list[tuple[int, int]]:
    """The frames as ascending runs of consecutive numbers, ``(first, last)`` inclusive.

    ``[5, 1, 2, 3, 7, 8]`` → ``[(1, 3), (5, 5), (7, 8)]``; repeated frames count once. Raises
    :class:`ValueError` for no frames, so that a request never turns into no command at all."""
    ordered = sorted(set(frames))
    if not ordered:
        raise ValueError("a render request needs at least one frame")
    runs: list[tuple[int, int]] = []
    start = previous = ordered[0]
    for frame in ordered[1:]:
        if frame != previous + 1:
            runs.append((start, previous))
            start = frame
        previous = frame
    runs.append((start, previous))
    return runs


def require_non_negative(frames: Sequence[int], renderer: str) -> None:
    """Raise :class:`ValueError` when a renderer that cannot render negative frames is asked to."""
    negative = sorted(frame for frame in set(frames) if frame < 0)
    if negative:
        raise ValueError(
            f"{renderer} cannot render negative frame numbers, got frame {negative[0]}"
        )


def segments(line: str) -> list[str]:
    """The pieces of one line of output that a terminal would show one after another.

    Renderers redraw progress with carriage returns, so a "line" read up to ``\\n`` can hold many
    updates (``Rendered 1024 of 4800 pixels (21%)\\rRendered 2048 ...``); each is read alone."""
    pieces = line.rstrip("\n").split("\r")
    return [piece for piece in pieces if piece.strip()]


def merge(outputs: Iterable[OutputLine]) -> OutputLine:
    """One :class:`OutputLine` saying what several pieces of a line said: the last value of each
    field wins, errors are joined."""
    frame_done: int | None = None
    progress: float | None = None
    errors: list[str] = []
    failure: FailureKind | None = None
    for output in outputs:
        if output.frame_done is not None:
            frame_done = output.frame_done
        if output.frame_progress is not None:
            progress = output.frame_progress
        if output.error is not None:
            errors.append(output.error)
        if output.failure is not None:
            failure = output.failure
    return OutputLine(
        frame_done=frame_done,
        frame_progress=progress,
        error="; ".join(errors) if errors else None,
        failure=failure,
    )


def percent(done: float, total: float) -> float | None:
    """``done`` of ``total`` as a percentage in [0, 100]; ``None`` unless ``total`` > 0."""
    if total <= 0:
        return None
    return max(0.0, min(100.0, 100.0 * done / total))


_HASHES = re.compile(r"#+")
_PRINTF = re.compile(r"%(0?)(\d*)d")


def _name_start(pattern: str) -> int:
    """Where the file name starts in ``pattern`` (after the last ``/`` or ``\\``)."""
    return max(pattern.rfind("/"), pattern.rfind("\\")) + 1


def has_frame_placeholder(pattern: str) -> bool:
    """Whether a per-frame file name pattern has a frame placeholder (``####`` or ``%04d``) in
    its file name."""
    name = pattern[_name_start(pattern) :]
    return bool(_HASHES.search(name) or _PRINTF.search(name))


def substitute_frame(pattern: str, frame: int) -> str:
    """``pattern`` with the frame placeholder of its file name replaced by ``frame``.

    ``####`` pads to as many digits as there are hashes, ``%04d`` as printf would (``-001`` for
    frame -1); numbers longer than the padding are written in full. Only the last placeholder of
    the file name is replaced, and directories are left alone (``take#2/shot.####.ass``)."""
    start = _name_start(pattern)
    name = pattern[start:]
    matches = list(_HASHES.finditer(name)) + list(_PRINTF.finditer(name))
    if not matches:
        raise ValueError(f"{pattern!r} has no frame placeholder such as '####' or '%04d'")
    last = max(matches, key=lambda match: match.start())
    if last.group(0).startswith("#"):
        width = len(last.group(0))
    else:
        width = int(last.group(2)) if last.group(2) else 0
    number = f"{frame:0{width}d}" if width else str(frame)
    return pattern[:start] + name[: last.start()] + number + name[last.end() :]


def frame_in_name(path: str) -> int | None:
    """The frame number at the end of an image file's name, just before the extension
    (``/out/frame.0012.png`` → ``12``, ``C:\\out\\shot_0012.exr`` → ``12``), or ``None``.

    Renderers print the files they write; the frame a file holds is the number its name ends
    with, whatever the job called its files (commands of the job's own, not the adapter's, are
    read too). Render passes written next to the image end with the same number."""
    text = path.strip()
    name = text[_name_start(text) :]
    match = re.search(r"(\d+)\.[A-Za-z0-9]+$", name)
    return int(match.group(1)) if match else None


def first_match(patterns: Sequence[re.Pattern[str]], lines: Iterable[str]) -> bool:
    """Whether any of ``lines`` (carriage-return pieces included) matches any pattern."""
    return any(
        pattern.search(piece) for line in lines for piece in segments(line) for pattern in patterns
    )


def classify_tail(
    output_tail: Sequence[str],
    rules: Sequence[tuple[FailureKind, Sequence[re.Pattern[str]]]],
) -> FailureKind:
    """The first kind in ``rules`` whose patterns match the tail; :attr:`FailureKind.NODE`
    otherwise. Rules are in priority order."""
    for kind, patterns in rules:
        if first_match(patterns, output_tail):
            return kind
    return FailureKind.NODE


Rules = Sequence[tuple[FailureKind, Sequence[re.Pattern[str]], Sequence[re.Pattern[str]]]]
"""Per kind, in priority order: patterns that say so on any line, and patterns that say so only
on a line the renderer marks as an error (a generic word such as "licence" is news in an error
and noise in a progress or information line)."""


def kind_of(message: str, is_error: bool, rules: Rules) -> FailureKind | None:
    """The first kind of ``rules`` one message says, ``None`` if none."""
    for kind, anywhere, in_errors in rules:
        if any(pattern.search(message) for pattern in anywhere):
            return kind
        if is_error and any(pattern.search(message) for pattern in in_errors):
            return kind
    return None


def classify_messages(messages: Sequence[tuple[str, bool]], rules: Rules) -> FailureKind:
    """The first kind of ``rules`` that any of ``messages`` (text, is it an error) says;
    :attr:`FailureKind.NODE` when none does."""
    for kind, anywhere, in_errors in rules:
        for message, is_error in messages:
            if any(pattern.search(message) for pattern in anywhere) or (
                is_error and any(pattern.search(message) for pattern in in_errors)
            ):
                return kind
    return FailureKind.NODE
