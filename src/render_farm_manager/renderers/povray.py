"""POV-Ray 3.7 (``povray``): one command renders a contiguous run of an animation's frames.

Command, for frames 8-10 of a request for frames 1-12::

    povray +I"scene.pov" +L"<scene dir>" [extra...] +O"<out>/frame.png" +W320 +H240 +FN -D +V
           +KFI1 +KFF12 +SF8 +EF10 [+C]

* POV-Ray re-reads each argument as an option string, so paths are quoted inside the argument
  (``+O"/renders/shot 1/frame.png"``); a path containing ``"`` cannot be passed and is refused.
* ``+L`` adds the scene's directory to the include path: POV-Ray 3.7 looks for ``#include`` files
  in the working directory and its library paths only, not next to the scene.
* ``+KFI``/``+KFF`` are the animation's initial and final frame, ``+SF``/``+EF`` the run to
  render. The animation range decides ``clock`` (``clock`` runs from 0 at the initial frame to 1
  at the final one) and the zero padding of the file names, so every command of one request uses
  the same range: the request's first and last frame. Chunks of one shot sent as separate
  requests get the same ``clock`` and names only when the job pins the shot's range: pass
  ``+KFI<first>`` and ``+KFF<last>`` in ``extra`` and the adapter uses them (and checks that the
  requested frames lie inside). ``frame_number`` in the scene is the frame number either way.
* A single frame is rendered as the first frame of a two-frame animation (``+KFF`` one higher):
  with ``+KFI`` equal to ``+KFF`` POV-Ray computes ``clock`` as 0/0 (NaN), and ``+KFI1 +KFF1`` is
  no animation at all (the file is then called ``frame.png``).
* POV-Ray cannot number negative frames (it clamps them to 0): they are refused.
* Threads: left at POV-Ray's default, one render thread per CPU the node reports, like the other
  adapters. A job that shares a node with others passes ``+WT<n>`` in ``extra``.
* ``extra`` comes before the adapter's own options, so it cannot change the output name, format,
  size or verbosity the adapter relies on (POV-Ray lets later options win). ``+KC`` (cyclic
  animation) is refused: it changes the frame numbering.
* Resume: ``+C`` (continue trace). Frames whose image is complete are skipped ("File already
  rendered and continue requested; skipping."), a frame interrupted mid-render continues from
  its ``frameNN.pov-state`` file.
* POV-Ray does not create the output directory ("Cannot create render state output file.",
  then "Render failed"): the executor creates it.

File names: ``+O<out>/frame.png`` becomes ``<out>/frame<N>.png`` with ``N`` zero-padded to the
number of digits of the final frame (``+KFF``): ``frame1.png``-``frame9.png`` for ``+KFF9``,
``frame01.png`` for ``+KFF12``, ``frame099.png`` for ``+KFF100``.

Output (all of it on stderr) read by :meth:`POVRayAdapter.parse_line`:

* ``Rendering frame 2 of 3`` — the next frame of the run starts; the counts are positions in the
  run, not frame numbers, and the first one is printed twice. It also means the previous frame's
  image was written: POV-Ray writes a frame's file after its render statistics and before it
  starts the next frame.
* ``  Output file........../out/frame02.png, 24 bpp PNG`` — which frame is being rendered (the
  line is wrapped at 80 columns when the path is long; the pieces are joined).
* ``Rendered 12288 of 19200 pixels (64%)`` — progress, redrawn with ``\\r``.
* ``File already rendered and continue requested; skipping.`` — the frame is done already.
* ``POV-Ray finished`` — the last frame was written.
* ``File 'scene.pov' line 6: Parse Error: ...``, ``Parse Error: Cannot open input file.`` →
  :attr:`FailureKind.SCENE`; ``Possible Parse Error: ...`` is reported but is only a warning
  (POV-Ray prints it for scenes that render fine, such as a missing ``assumed_gamma``).
* ``Fatal error in renderer: Out of memory.``, ``Memory allocation failure exception thrown
  at ...`` and ``Parse Error: std::bad_alloc`` → :attr:`FailureKind.OUT_OF_MEMORY`.
* ``Failed to parse command-line option`` (an option of ``extra`` POV-Ray does not know) →
  :attr:`FailureKind.SCENE`: every node would fail the same way.
* ``Fatal error in parser: Cannot parse input.`` / ``Render failed`` close a failed run; exit
  status 1 for errors, 2 when interrupted (``Render cancelled by user``). Anything without a
  kind of its own (interrupted, crashed, output not writable) counts against the node.

The same lines come from commands that are not the adapter's (a job's own ``povray`` command):
``-V`` only drops the progress lines, the ``Output file`` line is printed regardless.

Messages are wrapped at 80 columns (continuation lines start with a space); an error is
reported once its last piece has been read, on the line after it.
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
    frame_runs,
    merge,
    percent,
    require_non_negative,
    segments,
)

_KFI = re.compile(r"^[+-]KFI(-?\d+)$", re.IGNORECASE)
_KFF = re.compile(r"^[+-]KFF(-?\d+)$", re.IGNORECASE)
_CYCLIC = re.compile(r"^[+]KC$|^Cyclic_Animation\s*=\s*(on|true|yes|1)", re.IGNORECASE)

_BANNER = re.compile(r"^Persistence of Vision\(tm\) Ray Tracer")
_FRAME_START = re.compile(r"^Rendering frame (\d+) of (\d+)")
_OUTPUT_FILE = re.compile(r"^  Output file\.+")
_OUTPUT_NAME = re.compile(r"(\d+)\.[A-Za-z0-9]+, \d+ bpp")
_OUTPUT_END = re.compile(r", \d+ bpp")
_PROGRESS = re.compile(r"^Rendered (\d+) of (\d+) pixels \((\d+)%\)")
_SKIPPED = re.compile(r"^File already rendered and continue requested; skipping\.")
_FINISHED = re.compile(r"^POV-Ray finished")
_ERROR_START = re.compile(
    r"^(?:File '.*' line \d+: )?(?:Possible )?Parse Error:"
    r"|^Fatal error in \w+:"
    r"|^Memory allocation failure"
    r"|^Problem with option setting"
    r"|^Failed to parse command-line option"
    r"|^Cannot (?:create|open|write) .*file"
)

_OUT_OF_MEMORY = (
    re.compile(r"Out of memory", re.IGNORECASE),
    re.compile(r"bad_alloc"),
    re.compile(r"Memory allocation failure"),
)
_SCENE = (
    re.compile(r"(?<!Possible )Parse Error:"),
    re.compile(r"Fatal error in parser: Cannot parse input"),
    re.compile(r"Failed to parse command-line option"),
)
_RULES = ((FailureKind.OUT_OF_MEMORY, _OUT_OF_MEMORY), (FailureKind.SCENE, _SCENE))


def _quoted(path: Path | str, what: str) -> str:
    text = str(path)
    if '"' in text:
        raise ValueError(f"POV-Ray cannot be given a {what} path containing '\"': {text!r}")
    return f'"{text}"'


class POVRayAdapter(RendererAdapter):
    """POV-Ray 3.7 animations (see the module documentation for the command and its output).

    :meth:`parse_line` follows the run: feed it one run's lines in order. It starts afresh at
    POV-Ray's banner, so one adapter can read several runs one after another; :meth:`reset`
    does the same by hand."""

    name = "povray"

    def __init__(self, executable: str = "povray") -> None:
        self.executable = executable
        self.reset()

    # -- commands -------------------------------------------------------------------------

    def animation_range(self, request: RenderRequest) -> tuple[int, int]:
        """The ``+KFI``/``+KFF`` animation range the request is rendered with."""
        require_non_negative(request.frames, "POV-Ray")
        runs = frame_runs(request.frames)
        initial: int | None = None
        final: int | None = None
        for option in request.extra:
            if match := _KFI.match(option):
                initial = int(match.group(1))
            elif match := _KFF.match(option):
                final = int(match.group(1))
        first, last = runs[0][0], runs[-1][1]
        initial = first if initial is None else initial
        final = last if final is None else final
        if initial < 0 or final < initial:
            raise ValueError(f"POV-Ray animation range +KFI{initial} +KFF{final} is not valid")
        if first < initial or last > final:
            raise ValueError(
                f"frames {first}-{last} are outside the animation range "
                f"+KFI{initial} +KFF{final} given in extra"
            )
        if final == initial:
            final += 1
        return initial, final

    def commands(self, request: RenderRequest) -> list[list[str]]:
        initial, final = self.animation_range(request)
        extra = [
            option for option in request.extra if not (_KFI.match(option) or _KFF.match(option))
        ]
        for option in extra:
            if _CYCLIC.match(option):
                raise ValueError("cyclic animation (+KC) changes POV-Ray's frame numbering")
        scene_dir = request.scene.parent
        head = [
            self.executable,
            f"+I{_quoted(request.scene, 'scene')}",
            f"+L{_quoted(scene_dir, 'scene directory')}",
            *extra,
            f"+O{_quoted(request.output_dir / 'frame.png', 'output')}",
            f"+W{request.width}",
            f"+H{request.height}",
            "+FN",
            "-D",
            "+V",
            f"+KFI{initial}",
            f"+KFF{final}",
        ]
        commands = []
        for start, end in frame_runs(request.frames):
            command = [*head, f"+SF{start}", f"+EF{end}"]
            if request.resume:
                command.append("+C")
            commands.append(command)
        return commands

    def frame_path(self, request: RenderRequest, frame: int) -> Path:
        _, final = self.animation_range(request)
        digits = len(str(final))
        return request.output_dir / f"frame{frame:0{digits}d}.png"

    # -- output ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the run read so far."""
        self._current: int | None = None
        self._output_parts: list[str] | None = None
        self._error_parts: list[str] | None = None
        self._failure: FailureKind | None = None

    def parse_line(self, line: str) -> OutputLine:
        if (
            line.startswith("Rendered ")  # a progress line, by far the most frequent
            and self._output_parts is None
            and self._error_parts is None
            and "\r" not in line
            and (match := _PROGRESS.match(line))
        ):
            return OutputLine(frame_progress=percent(int(match.group(1)), int(match.group(2))))
        pieces = segments(line)
        if len(pieces) == 1:  # most lines (a progress line redrawn with \r is read as one)
            return self._parse_piece(pieces[0])
        return merge(self._parse_piece(piece) for piece in pieces)

    def _parse_piece(self, piece: str) -> OutputLine:
        if self._output_parts is not None:
            self._output_parts.append(piece)
            joined = "".join(self._output_parts)
            if _OUTPUT_END.search(joined) or len(self._output_parts) > 8:
                # "frame.png, 24 bpp PNG" (no number) is a still, not a frame of an animation
                match = _OUTPUT_NAME.search(joined)
                self._current = int(match.group(1)) if match else None
                self._output_parts = None
            return NOTHING
        finished_error: OutputLine = NOTHING
        if self._error_parts is not None:
            if piece.startswith(" ") and not piece.startswith("  "):
                self._error_parts.append(piece)
                return NOTHING
            finished_error = self._error_line("".join(self._error_parts))
            self._error_parts = None
        said = self._interpret(piece)
        return said if finished_error is NOTHING else merge((finished_error, said))

    def _interpret(self, piece: str) -> OutputLine:
        if _BANNER.match(piece):
            self.reset()
            return NOTHING
        if match := _PROGRESS.match(piece):
            return OutputLine(frame_progress=percent(int(match.group(1)), int(match.group(2))))
        if _OUTPUT_FILE.match(piece):
            self._output_parts = [piece]
            return self._parse_piece("")
        if _FRAME_START.match(piece) or _SKIPPED.match(piece) or _FINISHED.match(piece):
            done, self._current = self._current, None
            return OutputLine(frame_done=done) if done is not None else NOTHING
        if _ERROR_START.match(piece):
            self._error_parts = [piece]
        return NOTHING

    def _error_line(self, message: str) -> OutputLine:
        """What a complete (unwrapped) error message says.

        The fatal line that ends a failed run ("Fatal error in parser: Cannot parse input.") is a
        consequence: when an error of a known kind came before it, it takes that kind (after
        ``Parse Error: std::bad_alloc`` it is out of memory, not a scene error) and adds no
        message of its own, so that the last error reported is the one that says what went
        wrong."""
        text = " ".join(message.split())
        kind: FailureKind | None = None
        if any(pattern.search(text) for pattern in _OUT_OF_MEMORY):
            kind = FailureKind.OUT_OF_MEMORY
        elif any(pattern.search(text) for pattern in _SCENE):
            kind = FailureKind.SCENE
        elif text.startswith("Fatal error in") and "Frontend halted render" not in text:
            kind = FailureKind.NODE
        if text.startswith("Fatal error in") and self._failure is not None:
            return OutputLine(failure=self._failure)
        if self._failure is None:
            self._failure = kind
        return OutputLine(error=text, failure=kind)

    def preview_command(self, argv: Sequence[str], scale: float) -> tuple[list[str], Path] | None:
        """The same frames at ``scale`` of the width and height, without anti-aliasing, written
        under ``preview/`` beside the frames (``+O`` must name the output)."""
        out: list[str] = []
        directory: Path | None = None
        for arg in argv:
            head = arg[:2].upper()
            if head in ("+W", "+H") and arg[2:].isdigit():
                out.append(f"{arg[:2]}{max(1, round(int(arg[2:]) * scale))}")
            elif head == "+O" and len(arg) > 2:
                target = Path(arg[2:].strip('"'))
                directory = target.parent / "preview"
                out.append(f"+O{directory / target.name}")
            elif head in ("+A", "-A"):
                continue
            else:
                out.append(arg)
        if directory is None:
            return None
        return [*out, "-A"], directory

    def resume_arguments(self) -> list[str]:
        """``+C``: frames already written are skipped, a half-rendered one continues from its
        ``.pov-state`` file."""
        return ["+C"]

    def classify(self, returncode: int, output_tail: Sequence[str]) -> FailureKind:
        """Out of memory (including ``std::bad_alloc`` while parsing) before scene errors;
        anything else — interrupted runs, crashes, unwritable output — counts against the
        node."""
        return classify_tail(output_tail, _RULES)
