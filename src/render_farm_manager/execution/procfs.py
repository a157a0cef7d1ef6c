"""This machine's processes as Linux's ``/proc`` shows them: what a render node's reaper
(:mod:`~render_farm_manager.execution.reaper`) needs to find every render of its node, by a
marker variable in their environment, and the process groups and sessions they run in.

Only the standard library is used: the reaper that imports this starts in a blink.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def supported() -> bool:
    """Whether processes can be read here (Linux, with ``/proc`` mounted)."""
    return (PROC / "self" / "environ").is_file()


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    pgid: int
    sid: int
    state: str
    """``R``, ``S``, ``T`` (stopped), ``Z`` (a zombie: dead, not yet reaped) and so on."""
    start: int
    """When it started, in clock ticks after boot: a reused pid has another."""

    @property
    def dead(self) -> bool:
        return self.state in ("Z", "X", "x")


def process(pid: int) -> Process | None:
    """Process ``pid`` (None when there is none)."""
    try:
        text = (PROC / str(pid) / "stat").read_bytes().decode("ascii", errors="replace")
    except OSError:
        return None
    # "pid (command) state ppid pgrp session ...": the command may hold spaces and ")".
    fields = text[text.rfind(")") + 1 :].split()
    try:
        return Process(
            pid, int(fields[1]), int(fields[2]), int(fields[3]), fields[0], int(fields[19])
        )
    except (IndexError, ValueError):
        return None


def processes() -> list[Process]:
    """Every process this machine has now (those that end meanwhile are left out)."""
    found = []
    for name in os.listdir(PROC):
        if name.isdigit():
            entry = process(int(name))
            if entry is not None:
                found.append(entry)
    return found


def carries(pid: int, variable: bytes) -> bool:
    """Whether the environment process ``pid`` was started with holds ``variable``
    (``b"NAME=value"``). Processes of other users cannot be read: False."""
    try:
        environ = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return False
    return variable in environ.split(b"\0")
