"""What every renderer adapter provides.

An adapter turns a chunk of frames into argv lists (never a shell string) and reads the
renderer's output line by line: which frames are done, how far the current frame is, and, when
the render fails, what kind of failure it is. The executor runs the commands and turns what the
adapter reads into events for the manager.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from render_farm_manager.core.models import RenderFailure

FailureKind = RenderFailure
"""What kind of failure a render reported (the manager's :class:`RenderFailure`)."""


@dataclass(frozen=True)
class OutputLine:
    """What one line of the renderer's output says (every field optional)."""

    frame_done: int | None = None
    """A frame was written completely."""
    frame_progress: float | None = None
    """Percent of the current frame rendered."""
    error: str | None = None
    """An error message worth reporting."""
    failure: FailureKind | None = None
    """What kind of failure the error is, when the line says."""


@dataclass(frozen=True)
class RenderRequest:
    """A chunk of frames to render."""

    scene: Path
    frames: Sequence[int]
    output_dir: Path
    width: int = 320
    height: int = 240
    extra: Sequence[str] = ()
    resume: bool = False
    """Continue an interrupted render from the renderer's own state where it can."""


class RendererAdapter(ABC):
    """One renderer: its name, its command lines, and how to read its output."""

    name: str

    @abstractmethod
    def commands(self, request: RenderRequest) -> list[list[str]]:
        """The argv lists that render ``request.frames`` (several when the frames are not one
        contiguous run)."""

    @abstractmethod
    def parse_line(self, line: str) -> OutputLine:
        """What one line of output (stdout or stderr) says; an empty OutputLine for noise."""

    @abstractmethod
    def classify(self, returncode: int, output_tail: Sequence[str]) -> FailureKind:
        """The kind of a failed run, from its exit code and its last lines of output."""

    def preview_command(self, argv: Sequence[str], scale: float) -> tuple[list[str], Path] | None:
        """``argv`` made into a quick low-resolution pass (``scale`` of the resolution) writing
        into a ``preview`` directory beside the frames: (the command, that directory), or None
        when the adapter cannot make one."""
        return None

    def resume_arguments(self) -> list[str]:
        """Arguments that make a rerun continue from the renderer's own saved state where it
        has one (none by default: the rerun renders the frames left from scratch)."""
        return []

    def frame_path(self, request: RenderRequest, frame: int) -> Path:
        """Where the adapter's command writes ``frame`` (for checking and previews)."""
        return request.output_dir / f"frame.{frame:04d}.png"
