"""Pixar's RenderMan, ``prman``: one command per frame, each frame its own RIB file.

Command, for frame 12 of ``/scenes/shot.####.rib``::

    prman [extra...] -Progress -cwd <out> -checkpoint 10m [-recover 1] /scenes/shot.0012.rib

* The scene path names the per-frame RIB files with a frame placeholder (``####`` or
  ``%04d``); without one only a single frame can be rendered.
* Where the image goes is the RIB's ``Display`` line, not the command line. ``-cwd <out>`` makes
  relative display names land in the output directory; :meth:`PRManAdapter.frame_path` is
  ``<out>/frame.0012.exr``, the name a RIB written for the farm gives (``Display
  "frame.0012.exr" "openexr" "rgba"``). Because ``-cwd`` changes the working directory, the RIB
  path must be absolute.
* ``-Progress``: a progress line per update (``-progress`` redraws one line). ``-checkpoint
  10m`` writes the image every ten minutes so that an interrupted frame can be recovered;
  resume adds ``-recover 1``, which continues from the checkpointed image.
* The resolution is the RIB's (``Format``): the request's width and height are not used.
* ``extra`` comes first (options before the RIB file).

Output read by :meth:`PRManAdapter.parse_line` (RenderMan messages are ``<code> {SEVERITY}
message`` or ``Severity: <code> message``; the letter of the code is the subsystem):

* ``R90000  45%`` (``R90000 PROGRESS: 45%`` in older versions) — progress.
* ``... "/out/frame.0012.exr" (mode = rgba, type = openexr)`` — the image was written.
* ``L....`` codes and licence messages (``Error: R50005 License error``) →
  :attr:`FailureKind.LICENCE`.
* ``out of memory`` / ``memory allocation failed`` → :attr:`FailureKind.OUT_OF_MEMORY`.
* RIB parse errors (``P`` codes, ``R56001``), files that cannot be opened (``T02001 Can't open
  texture``, ``cannot be opened by RiReadArchive``) → :attr:`FailureKind.SCENE`.
* Warnings (``{WARNING}``, ``Warning:``) are not errors.
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
    Rules,
    classify_messages,
    frame_in_name,
    frame_runs,
    has_frame_placeholder,
    kind_of,
    merge,
    segments,
    substitute_frame,
)

_PROGRESS = re.compile(r"\bR90000\s+(?:PROGRESS:\s*)?(\d+(?:\.\d+)?)\s*%")
_WRITTEN = re.compile(r"\"([^\"]+)\"\s*\(mode\s*=")
_SEVERITY = re.compile(
    r"\{(?P<braced>SEVERE|ERROR|WARNING|INFO|NOTICE)\}|^(?P<prefixed>Severe|Error|Warning|Info):",
    re.IGNORECASE,
)

_RULES: Rules = (
    (
        FailureKind.LICENCE,
        (re.compile(r"\bR50005\b"),),
        (re.compile(r"\bL\d{4,5}\b"), re.compile(r"licen[cs]e", re.IGNORECASE)),
    ),
    (
        FailureKind.OUT_OF_MEMORY,
        (re.compile(r"out of memory", re.IGNORECASE), re.compile(r"bad_alloc")),
        (re.compile(r"\bR50004\b"), re.compile(r"memory allocation fail", re.IGNORECASE)),
    ),
    (
        FailureKind.SCENE,
        (re.compile(r"RiReadArchive"),),
        (
            re.compile(r"\bP\d{4,5}\b"),
            re.compile(r"\bR56001\b"),
            re.compile(r"\bT02001\b"),
            re.compile(r"can'?t open|cannot open|no such file", re.IGNORECASE),
            re.compile(r"syntax error|parse error", re.IGNORECASE),
        ),
    ),
)


class PRManAdapter(RendererAdapter):
    """RenderMan ``prman`` (see the module documentation for the command and its output)."""

    name = "prman"

    def __init__(
        self, executable: str = "prman", image_format: str = "exr", checkpoint: str = "10m"
    ) -> None:
        self.executable = executable
        self.image_format = image_format
        self.checkpoint = checkpoint

    def rib_for(self, request: RenderRequest, frame: int) -> str:
        """The RIB file of ``frame``."""
        pattern = str(request.scene)
        return substitute_frame(pattern, frame) if has_frame_placeholder(pattern) else pattern

    def commands(self, request: RenderRequest) -> list[list[str]]:
        if not request.scene.is_absolute():
            raise ValueError(
                f"prman runs with -cwd <output directory>: give the RIB as an absolute path, "
                f"not {str(request.scene)!r}"
            )
        frames = [
            frame for start, end in frame_runs(request.frames) for frame in range(start, end + 1)
        ]
        if len(frames) > 1 and not has_frame_placeholder(str(request.scene)):
            raise ValueError(
                f"prman renders one RIB file per frame: {request.scene} needs a frame "
                "placeholder such as 'shot.####.rib' to render several frames"
            )
        commands = []
        for frame in frames:
            command = [
                self.executable,
                *request.extra,
                "-Progress",
                "-cwd",
                str(request.output_dir),
                "-checkpoint",
                self.checkpoint,
            ]
            if request.resume:
                command += ["-recover", "1"]
            command.append(self.rib_for(request, frame))
            commands.append(command)
        return commands

    def frame_path(self, request: RenderRequest, frame: int) -> Path:
        return request.output_dir / f"frame.{frame:04d}.{self.image_format}"

    def parse_line(self, line: str) -> OutputLine:
        return merge(_parse_piece(piece.strip()) for piece in segments(line))

    def classify(self, returncode: int, output_tail: Sequence[str]) -> FailureKind:
        """Licence, then out of memory, then scene errors; anything else is the node's.
        Warnings and information messages do not count."""
        messages = [_severity(piece) for line in output_tail for piece in segments(line)]
        return classify_messages(
            [(text, severity == "error") for text, severity in messages if severity != "notice"],
            _RULES,
        )


def _severity(piece: str) -> tuple[str, str | None]:
    """The message and its severity: ``"error"`` (errors and severe errors), ``"notice"``
    (warnings and information) or ``None`` (no severity: progress, plain output)."""
    text = piece.strip()
    match = _SEVERITY.search(text)
    if match is None:
        return text, None
    severity = (match.group("braced") or match.group("prefixed")).upper()
    return text, "error" if severity in ("ERROR", "SEVERE") else "notice"


def _parse_piece(piece: str) -> OutputLine:
    if match := _PROGRESS.search(piece):
        return OutputLine(frame_progress=min(100.0, float(match.group(1))))
    if match := _WRITTEN.search(piece):
        frame = frame_in_name(match.group(1))
        return OutputLine(frame_done=frame) if frame is not None else NOTHING
    text, severity = _severity(piece)
    if severity == "notice":
        return NOTHING
    kind = kind_of(text, severity == "error", _RULES)
    if kind is None and severity != "error":
        return NOTHING
    return OutputLine(error=text, failure=kind)
