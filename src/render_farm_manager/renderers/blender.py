"""Blender (``blender -b``): one command renders a contiguous run of frames.

Command, for frames 1-3::

    blender -b scene.blend [extra...] -o <out>/frame.#### -F PNG -x 1 -s 1 -e 3 -a [-- extra...]

* Blender runs its arguments in order, so the output, format and range come before ``-a``;
  arguments of ``extra`` up to a ``--`` go before them, the rest (after ``--``, for Python
  scripts and Cycles, such as ``--cycles-device CPU``) after ``-a``. ``BlenderAdapter(
  cycles_device="CPU")`` adds ``-- --cycles-device CPU`` itself.
* ``####`` is replaced by the frame number padded to four digits (``frame.0012.png``, and
  ``frame.12345.png`` past 9999); ``-x 1`` adds the ``.png`` extension.
* The resolution is the .blend file's own: Blender has no command-line option for it (only
  Python), so the request's width and height are not used.
* Blender cannot render negative frames from the command line (``-s -5`` means five frames
  before the scene's start): they are refused.
* Resume: Blender has no resume of its own; ``resume`` changes nothing. Frames already done
  are not in the request (the executor never renders a reported frame again).

Output read by :meth:`BlenderAdapter.parse_line` (formats of Blender 2.8-4.x):

* ``Fra:12 Mem:31.54M (Peak 32.11M) | Time:00:01.25 | ... | Sample 16/64`` (Cycles),
  ``... | Rendering 5 / 64 samples`` (Eevee), ``... | Path Tracing Tile 3/16, Sample 10/10``
  (Cycles before 3.0, progress by tiles) — progress of frame 12.
* ``Saved: '/out/frame.0012.png'`` — frame 12 was written: the number the file name ends with
  (Blender numbers every file of an animation), else the frame of the last ``Fra:`` line.
* ``Error: Cannot read file "/scenes/shot.blend": No such file or directory``, ``Error: File
  format is not supported in file '...'`` → :attr:`FailureKind.SCENE`.
* ``System is out of GPU memory``, ``System is out of GPU and shared host memory``, ``CUDA
  error: Out of memory in cuMemAlloc(...)``, ``Out of memory in cuStreamCreate(...)``,
  ``Error: Malloc returns null ...`` → :attr:`FailureKind.OUT_OF_MEMORY`.
* ``Unable to open a display`` (Eevee on a node without a display) and ``Writing: /tmp/
  shot.crash.txt`` (Blender crashed) → :attr:`FailureKind.NODE`.
* ``Error: Not freed memory blocks: 4, total unfreed memory 0.001 MB`` is reported as an error
  but is only a leak report at exit, not a failure kind.
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
    merge,
    percent,
    require_non_negative,
    segments,
)

_FRAME = re.compile(r"^Fra:\s*(-?\d+)\b")
_SAMPLES = re.compile(r"\bSample (\d+)/(\d+)")
_EEVEE_SAMPLES = re.compile(r"\bRendering (\d+) / (\d+) samples")
_TILES = re.compile(r"\b(?:Path Tracing Tile|Rendered) (\d+)/(\d+)(?: Tiles)?")
_SAVED = re.compile(r"^Saved: ['\"](.+?)['\"]")
_ERROR = re.compile(r"^Error: (.*)")

_OUT_OF_MEMORY = (
    re.compile(r"out of (?:gpu |device |host )?memory", re.IGNORECASE),
    re.compile(r"out of gpu and shared host memory", re.IGNORECASE),
    re.compile(r"(?:malloc|calloc|mallocn?) returns null", re.IGNORECASE),
    re.compile(r"bad_alloc"),
)
_SCENE = (
    re.compile(r"Cannot read file"),
    re.compile(r"File format is not supported"),
    re.compile(r"Failed to read blend file"),
    re.compile(r"Unable to open ['\"].*\.blend['\"]"),
)
_NODE = (
    re.compile(r"Unable to open a display"),
    re.compile(r"^Writing: .*\.crash\.txt"),
)
_RULES = ((FailureKind.OUT_OF_MEMORY, _OUT_OF_MEMORY), (FailureKind.SCENE, _SCENE))


class BlenderAdapter(RendererAdapter):
    """Blender in background mode (see the module documentation for the command and output).

    :meth:`parse_line` remembers the frame of the last ``Fra:`` line for the progress it reads;
    use one adapter per run (:func:`~render_farm_manager.renderers.registry.adapter_for` gives a
    new one each time)."""

    name = "blender"

    def __init__(self, executable: str = "blender", cycles_device: str | None = None) -> None:
        self.executable = executable
        self.cycles_device = cycles_device
        self._frame: int | None = None

    def commands(self, request: RenderRequest) -> list[list[str]]:
        require_non_negative(request.frames, "Blender")
        extra = list(request.extra)
        before, after = extra, []
        if "--" in extra:
            split = extra.index("--")
            before, after = extra[:split], extra[split:]
        if self.cycles_device:
            after = ["--", *after[1:], "--cycles-device", self.cycles_device]
        commands = []
        for start, end in frame_runs(request.frames):
            commands.append(
                [
                    self.executable,
                    "-b",
                    str(request.scene),
                    *before,
                    "-o",
                    str(request.output_dir / "frame.####"),
                    "-F",
                    "PNG",
                    "-x",
                    "1",
                    "-s",
                    str(start),
                    "-e",
                    str(end),
                    "-a",
                    *after,
                ]
            )
        return commands

    def frame_path(self, request: RenderRequest, frame: int) -> Path:
        return request.output_dir / f"frame.{frame:04d}.png"

    def parse_line(self, line: str) -> OutputLine:
        return merge(self._parse_piece(piece.strip()) for piece in segments(line))

    def _parse_piece(self, piece: str) -> OutputLine:
        if match := _SAVED.match(piece):
            frame = frame_in_name(match.group(1))
            frame = self._frame if frame is None else frame
            return OutputLine(frame_done=frame) if frame is not None else NOTHING
        for patterns, kind in (
            (_OUT_OF_MEMORY, FailureKind.OUT_OF_MEMORY),
            (_SCENE, FailureKind.SCENE),
            (_NODE, FailureKind.NODE),
        ):
            if any(pattern.search(piece) for pattern in patterns):
                return OutputLine(error=_message(piece), failure=kind)
        if match := _ERROR.match(piece):
            return OutputLine(error=match.group(1).strip())
        if match := _FRAME.match(piece):
            self._frame = int(match.group(1))
            return OutputLine(frame_progress=_progress(piece))
        return NOTHING

    def classify(self, returncode: int, output_tail: Sequence[str]) -> FailureKind:
        """Out of memory, then scene errors; anything else (crashes, no display) is the node's."""
        return classify_tail(output_tail, _RULES)


def _message(piece: str) -> str:
    """The message of an error line: Blender's ``Error: `` prefix and the status-line fields
    before the last ``|`` dropped."""
    text = piece.rsplit("| ", 1)[-1] if piece.startswith("Fra:") else piece
    return text.removeprefix("Error: ").strip()


def _progress(piece: str) -> float | None:
    """Progress of the frame from a ``Fra:`` status line, ``None`` when it gives none (scene
    synchronisation, BVH building, compositing)."""
    if match := _TILES.search(piece):
        return percent(int(match.group(1)), int(match.group(2)))
    if match := _SAMPLES.search(piece) or _EEVEE_SAMPLES.search(piece):
        return percent(int(match.group(1)), int(match.group(2)))
    return None
