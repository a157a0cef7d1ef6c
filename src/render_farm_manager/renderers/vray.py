"""V-Ray Standalone (``vray``): one command renders a contiguous run of a .vrscene's frames.

Command, for frames 1-3::

    vray [extra...] -sceneFile=/scenes/shot.vrscene -frames=1-3 -imgFile=<out>/frame.png
         -imgWidth=320 -imgHeight=240 -display=0 -autoClose=1 -progressUseCR=0
         -progressUseColor=0 -verboseLevel=3 [-resume=1]

* Each option is one argument (``-sceneFile=<path>``), so paths need no quoting.
* With ``-frames`` V-Ray numbers the image files: ``frame.png`` becomes ``frame.0001.png``, four
  digits before the extension (longer numbers in full). V-Ray could take all runs in one
  ``-frames=1-3;7-8`` but a command per run keeps failures and progress to one piece of frames.
* ``-display=0 -autoClose=1``: no frame buffer window, nothing waits for a user.
  ``-progressUseCR=0``: progress on lines of their own instead of redrawn with ``\\r``;
  ``-progressUseColor=0``: no colour codes in the log.
* Negative frames are refused (``-frames=-5--1`` cannot be written unambiguously).
* Resume: ``-resume=1``: a frame with a resumable file continues from it, finished frames are
  skipped.
* ``extra`` comes first, before the adapter's options.

Output (``[2024/Mar/5|10:15:02] [1250 MB] message``; older versions print no memory field)
read by :meth:`VRayAdapter.parse_line`:

* ``Rendering image...: 45.00% [ 0h  0m  3.5s] [ 0h  0m  4.3s est]`` — progress;
  ``Rendering image...: done`` — 100 %.
* ``Successfully written image file "/out/frame.0002.png"`` — frame 2 was written (the number
  the file name ends with).
* ``error: Could not obtain a license (-200)`` and other licence errors →
  :attr:`FailureKind.LICENCE`.
* ``error: Out of memory``, ``Memory allocation failure``, ``std::bad_alloc`` →
  :attr:`FailureKind.OUT_OF_MEMORY`.
* ``error: Error loading scene ...``, ``No file "..." exists``, ``Error parsing ...`` →
  :attr:`FailureKind.SCENE`.
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
    kind_of,
    merge,
    require_non_negative,
    segments,
)

_PREFIX = re.compile(
    r"^\[\d{4}/\w{3}/\d{1,2}\|\d\d:\d\d:\d\d\]\s*(?:\[\s*[\d.]+\s*[KMG]?B\]\s*)?(?:V-Ray:\s*)?"
)
_PROGRESS = re.compile(r"^Rendering image\.\.\.:\s*(?:(\d+(?:\.\d+)?)\s*%|(done))")
_WRITTEN = re.compile(r"^Successfully written image file \"(.+?)\"")
_ERROR = re.compile(r"^error:\s*(.*)", re.IGNORECASE)
_WARNING = re.compile(r"^warning:", re.IGNORECASE)

_RULES: Rules = (
    (
        FailureKind.LICENCE,
        (re.compile(r"Could not obtain a licen[cs]e", re.IGNORECASE),),
        (re.compile(r"licen[cs]e", re.IGNORECASE),),
    ),
    (
        FailureKind.OUT_OF_MEMORY,
        (re.compile(r"memory allocation failure", re.IGNORECASE), re.compile(r"bad_alloc")),
        (
            re.compile(r"out of (?:gpu |device |host )?memory", re.IGNORECASE),
            re.compile(r"not enough memory", re.IGNORECASE),
        ),
    ),
    (
        FailureKind.SCENE,
        (
            re.compile(r"Error loading scene", re.IGNORECASE),
            re.compile(r"No file \".*\" exists"),
            re.compile(r"Error parsing", re.IGNORECASE),
        ),
        (
            re.compile(r"failed to (?:load|parse|open|read)", re.IGNORECASE),
            re.compile(r"can(?:no|')t (?:open|read|load)", re.IGNORECASE),
        ),
    ),
)


class VRayAdapter(RendererAdapter):
    """V-Ray Standalone (see the module documentation for the command and its output)."""

    name = "vray"

    def __init__(self, executable: str = "vray", image_format: str = "png") -> None:
        self.executable = executable
        self.image_format = image_format

    def commands(self, request: RenderRequest) -> list[list[str]]:
        require_non_negative(request.frames, "V-Ray")
        commands = []
        for start, end in frame_runs(request.frames):
            command = [
                self.executable,
                *request.extra,
                f"-sceneFile={request.scene}",
                f"-frames={start}" if start == end else f"-frames={start}-{end}",
                f"-imgFile={request.output_dir / ('frame.' + self.image_format)}",
                f"-imgWidth={request.width}",
                f"-imgHeight={request.height}",
                "-display=0",
                "-autoClose=1",
                "-progressUseCR=0",
                "-progressUseColor=0",
                "-verboseLevel=3",
            ]
            if request.resume:
                command.append("-resume=1")
            commands.append(command)
        return commands

    def frame_path(self, request: RenderRequest, frame: int) -> Path:
        return request.output_dir / f"frame.{frame:04d}.{self.image_format}"

    def parse_line(self, line: str) -> OutputLine:
        return merge(_parse_piece(piece) for piece in segments(line))

    def classify(self, returncode: int, output_tail: Sequence[str]) -> FailureKind:
        """Licence, then out of memory, then scene errors; anything else is the node's.
        Warnings do not count (a licence server that warns of its expiry did render)."""
        messages = [_message(piece) for line in output_tail for piece in segments(line)]
        return classify_messages(
            [(text, is_error) for text, is_error, is_warning in messages if not is_warning],
            _RULES,
        )


def _message(piece: str) -> tuple[str, bool, bool]:
    """A line's message without V-Ray's time and memory prefix, whether it is an error, and
    whether it is a warning."""
    message = _PREFIX.sub("", piece.strip(), count=1)
    return message, bool(_ERROR.match(message)), bool(_WARNING.match(message))


def _parse_piece(piece: str) -> OutputLine:
    message, is_error, is_warning = _message(piece)
    if match := _PROGRESS.match(message):
        return OutputLine(frame_progress=100.0 if match.group(2) else float(match.group(1)))
    if match := _WRITTEN.match(message):
        frame = frame_in_name(match.group(1))
        return OutputLine(frame_done=frame) if frame is not None else NOTHING
    if is_warning:
        return NOTHING
    kind = kind_of(message, is_error, _RULES)
    if kind is None and not is_error:
        return NOTHING
    error = _ERROR.match(message)
    return OutputLine(error=error.group(1) if error else message, failure=kind)
