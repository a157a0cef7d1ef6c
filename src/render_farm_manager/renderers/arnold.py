"""Arnold's command-line renderer, ``kick``: one command per frame, each frame its own .ass file.

Command, for frame 12 of ``/scenes/shot.####.ass``::

    kick [extra...] -i /scenes/shot.0012.ass -o <out>/frame.0012.png -r 320 240 -dw -dp -v 2
         -set options.abort_on_license_fail true

* The scene path names the per-frame scene files with a frame placeholder: ``####`` (padded to
  as many digits as there are hashes) or ``%04d``. A scene without one can only be rendered for
  a single frame; more frames are refused (the same .ass would be rendered again and again).
* kick renders one .ass file per run, so a contiguous run of frames is still one command per
  frame.
* ``-o`` sets the image file (its extension chooses the driver), ``-r`` the resolution; ``-dw``
  no render window, ``-dp`` no progressive refinement passes, ``-v 2`` information messages,
  progress included.
* Licences: without a licence Arnold renders with a watermark and succeeds. ``-set
  options.abort_on_license_fail true`` makes it fail instead, so that the farm can retry later
  rather than deliver watermarked frames.
* ``extra`` comes first: the adapter's own options win where they overlap.
* Resume: Arnold has none; ``resume`` changes nothing.

Output (log lines ``HH:MM:SS  MEMORY  SEVERITY | message``) read by
:meth:`ArnoldAdapter.parse_line`:

* ``00:00:03   850MB         |    45% done - 9 rays/pixel`` — progress.
* ``00:00:05   860MB         | [driver_png] writing file `/out/frame.0012.png'`` — frame 12 was
  written (the number the file name ends with).
* ``... WARNING | rendering with watermarks because of failed authorization:`` and ``... ERROR |
  aborting render because the abort_on_license_fail option was enabled``, ``[license]`` and
  ``[clm]`` (Autodesk licensing) errors → :attr:`FailureKind.LICENCE`.
* ``... ERROR | [arnold] out of memory``, ``... out of device memory``, ``memory allocation
  failure``, ``std::bad_alloc`` → :attr:`FailureKind.OUT_OF_MEMORY`.
* ``... ERROR |  [ass] line 131: node "ai_ocean" is not installed``, ``[ass] can't open file``,
  ``[texturesys] ... Invalid image file`` → :attr:`FailureKind.SCENE`.
* Other ``ERROR`` lines are reported; a failed run that says nothing more specific counts
  against the node.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from render_farm_manager.renderers.base import (
    FailureKind,
    OutputLine,
    RendererAdapter,
    RenderRequest,
)
from render_farm_manager.renderers.common import (
    NOTHING,
    classify_tail,
    frame_in_name,
    frame_runs,
    has_frame_placeholder,
    merge,
    segments,
    substitute_frame,
)

_LOG_LINE = re.compile(
    r"^(?:\d+:\d\d:\d\d\s+)?(?:\d+MB\s+)?(?P<severity>ERROR|WARNING)?\s*\|\s?(?P<message>.*)$"
)
_PROGRESS = re.compile(r"^\s*(\d+(?:\.\d+)?)% done\b")
_WRITING = re.compile(r"\bwriting file [`'\"](.+?)['\"]")

_LICENCE = (
    re.compile(r"abort_on_license_fail", re.IGNORECASE),
    re.compile(r"rendering with watermarks", re.IGNORECASE),
    re.compile(r"\[(?:license|clm|rlm|adlm|nlm)\]", re.IGNORECASE),
    re.compile(
        r"licen[cs]e checkout failed|no licen[cs]e|failed to (?:get|obtain) a licen[cs]e", re.I
    ),
)
_OUT_OF_MEMORY = (
    re.compile(r"out of (?:device |gpu |host |system )?memory", re.IGNORECASE),
    re.compile(r"memory allocation fail", re.IGNORECASE),
    re.compile(r"bad_alloc"),
)
_SCENE = (
    re.compile(r"\[ass\]"),
    re.compile(r"\[texturesys\]"),
    re.compile(r"can'?t (?:open|read|find|load)", re.IGNORECASE),
    re.compile(r"no such file", re.IGNORECASE),
    re.compile(r"is not installed"),
)
_RULES = (
    (FailureKind.LICENCE, _LICENCE),
    (FailureKind.OUT_OF_MEMORY, _OUT_OF_MEMORY),
    (FailureKind.SCENE, _SCENE),
)


class ArnoldAdapter(RendererAdapter):
    """Arnold ``kick`` (see the module documentation for the command and its output)."""

    name = "arnold"

    def __init__(self, executable: str = "kick", image_format: str = "png") -> None:
        self.executable = executable
        self.image_format = image_format

    def scene_for(self, request: RenderRequest, frame: int) -> str:
        """The .ass file of ``frame``."""
        pattern = str(request.scene)
        if has_frame_placeholder(pattern):
            return substitute_frame(pattern, frame)
        return pattern

    def commands(self, request: RenderRequest) -> list[list[str]]:
        frames = [
            frame for start, end in frame_runs(request.frames) for frame in range(start, end + 1)
        ]
        if len(frames) > 1 and not has_frame_placeholder(str(request.scene)):
            raise ValueError(
                f"kick renders one .ass file per frame: {request.scene} needs a frame "
                "placeholder such as 'shot.####.ass' to render several frames"
            )
        return [
            [
                self.executable,
                *request.extra,
                "-i",
                self.scene_for(request, frame),
                "-o",
                str(self.frame_path(request, frame)),
                "-r",
                str(request.width),
                str(request.height),
                "-dw",
                "-dp",
                "-v",
                "2",
                "-set",
                "options.abort_on_license_fail",
                "true",
            ]
            for frame in frames
        ]

    def frame_path(self, request: RenderRequest, frame: int) -> Path:
        return request.output_dir / f"frame.{frame:04d}.{self.image_format}"

    def parse_line(self, line: str) -> OutputLine:
        return merge(_parse_piece(piece) for piece in segments(line))

    def classify(self, returncode: int, output_tail: Sequence[str]) -> FailureKind:
        """Licence first (with ``abort_on_license_fail`` a missing licence is what stops the
        render), then out of memory, then scene errors; anything else is the node's. Only
        ``ERROR`` lines, the watermark warning and lines outside Arnold's log format (a C++
        runtime's last words) count: not other warnings (a texture Arnold was told to ignore
        is not why a render failed) nor information (``[license] checking out ... success``).
        """
        errors = []
        for line in output_tail:
            for piece in segments(line):
                match = _LOG_LINE.match(piece)
                severity = match.group("severity") if match else "ERROR"
                if severity == "ERROR" or (
                    severity == "WARNING" and any(p.search(piece) for p in _LICENCE)
                ):
                    errors.append(piece)
        return classify_tail(errors, _RULES)


def _parse_piece(piece: str) -> OutputLine:
    match = _LOG_LINE.match(piece)
    if match is None:
        return NOTHING
    severity, message = match.group("severity"), match.group("message").strip()
    if progress := _PROGRESS.match(message):
        return OutputLine(frame_progress=min(100.0, float(progress.group(1))))
    if writing := _WRITING.search(message):
        frame = frame_in_name(writing.group(1))
        return OutputLine(frame_done=frame) if frame is not None else NOTHING
    if severity is None:
        return NOTHING
    if severity == "WARNING":
        # only the watermark warning matters: a missing texture Arnold is told to ignore is not
        # a failure
        if any(pattern.search(message) for pattern in _LICENCE):
            return OutputLine(error=message, failure=FailureKind.LICENCE)
        return NOTHING
    for kind, patterns in _RULES:
        if any(pattern.search(message) for pattern in patterns):
            return OutputLine(error=message, failure=kind)
    return OutputLine(error=message)
