"""The renderer log fixtures (tests/renderer_logs) and how the adapter tests read them.

Each log starts with ``# `` header lines saying how it was made (recorded from a real run, or
written by hand from the renderer's documented formats when the renderer is not installed), the
command and its exit status, then a ``# ---`` line; below it is the renderer's output, byte for
byte (carriage returns of redrawn progress lines included)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from render_farm_manager.renderers.base import FailureKind, RendererAdapter

LOGS = Path(__file__).parent / "renderer_logs"


@dataclass(frozen=True)
class RecordedLog:
    name: str
    header: list[str]
    exit_status: int
    text: str

    @property
    def lines(self) -> list[str]:
        """The output as the local executor reads it: a text-mode pipe with universal newlines,
        so a carriage return ends a line too."""
        return list(io.StringIO(self.text, newline=None))

    @property
    def raw_lines(self) -> list[str]:
        """The output split at ``\\n`` only: redrawn progress stays in one line, with its
        carriage returns (what a reader of a binary pipe or a log file gets)."""
        return [line + "\n" for line in self.text.split("\n")]

    @property
    def hand_written(self) -> bool:
        return any("HAND-WRITTEN" in line for line in self.header)


def load_log(name: str) -> RecordedLog:
    data = (LOGS / name).read_bytes().decode("utf-8")
    head, separator, body = data.partition("# ---\n")
    assert separator, f"{name} has no '# ---' line after its header"
    header = head.splitlines()
    assert all(line.startswith("#") for line in header), f"{name}: header lines start with '#'"
    statuses = [line for line in header if line.startswith("# Exit status:")]
    assert len(statuses) == 1, f"{name} says its exit status once"
    return RecordedLog(name, header, int(statuses[0].split(":", 1)[1]), body)


@dataclass
class Reading:
    """Everything an adapter said about a run's output, in order."""

    frames_done: list[int] = field(default_factory=list)
    progress: list[float] = field(default_factory=list)
    errors: list[tuple[str, FailureKind | None]] = field(default_factory=list)
    failures: list[FailureKind] = field(default_factory=list)


def read(adapter: RendererAdapter, lines: list[str]) -> Reading:
    reading = Reading()
    for line in lines:
        said = adapter.parse_line(line)
        if said.frame_done is not None:
            reading.frames_done.append(said.frame_done)
        if said.frame_progress is not None:
            reading.progress.append(said.frame_progress)
        if said.error is not None:
            reading.errors.append((said.error, said.failure))
        if said.failure is not None:
            reading.failures.append(said.failure)
    return reading


def tail(log: RecordedLog, count: int = 50) -> list[str]:
    """The last lines of output, as the executor keeps them for :meth:`classify`."""
    return [line.rstrip("\n") for line in log.lines[-count:]]


ALL_LOGS = sorted(path.name for path in LOGS.glob("*.log"))


def test_there_are_logs_for_every_renderer() -> None:
    for renderer in ("povray", "blender", "arnold", "vray", "prman"):
        assert any(name.startswith(f"{renderer}_") for name in ALL_LOGS), renderer


@pytest.mark.parametrize("name", ALL_LOGS)
def test_every_log_says_how_it_was_made(name: str) -> None:
    log = load_log(name)
    assert log.header[0].startswith("# "), "a title"
    assert any(line.startswith("# Command: ") for line in log.header)
    assert log.text.strip(), "some output"
    if name.startswith("povray_"):
        # POV-Ray is installed where these were made: every POV-Ray log is a real run
        assert not log.hand_written
        assert any("Recorded" in line and "real POV-Ray" in line for line in log.header)
        assert any(line.startswith("# Working directory: ") for line in log.header)
    else:
        assert log.hand_written, "logs of renderers that are not installed say so"


def test_the_trimmed_log_says_what_was_removed() -> None:
    log = load_log("povray_out_of_memory_render.log")
    note = " ".join(log.header)
    match = re.search(r"TRIMMED: the (\d+) progress updates", note)
    assert match and int(match.group(1)) > 1000


def test_the_executor_and_a_raw_reader_see_the_same_output() -> None:
    log = load_log("povray_animation.log")
    assert "\r" in log.text, "POV-Ray redraws its progress with carriage returns"
    assert len(log.lines) > len(log.raw_lines)
    assert "".join(log.lines).replace("\n", "") == log.text.replace("\r", "").replace("\n", "")
