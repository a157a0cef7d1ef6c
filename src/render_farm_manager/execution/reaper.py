"""A render node's guardian: a small process that ``render-farm worker`` starts beside itself
(in a session of its own, so that a signal to the worker's process group spares it) to make
sure no render outlives its worker, nor goes on while its worker hangs.

Every process the worker starts, and everything those start, inherits the variable
``RENDER_FARM_NODE_SESSION=<marker>`` (one marker per worker process); ``openjd-sessions``
passes the worker's environment on to its actions too. The reaper finds them by that marker
in ``/proc/<pid>/environ`` and also takes the process group and the session of each (renders
run in sessions of their own), which catches a child that scrubbed its environment. It
SIGKILLs all of them, never itself and never the worker's own process group or session.

It does so

* when the worker is gone: SIGKILLed, crashed (its pid is dead, a zombie, or reused, or the
  reaper has been handed to another parent). It sweeps for a moment more, then exits.
* while the worker hangs: the worker's event loop writes the time into a stamp file
  (:func:`write_stamp`) every beat; a stamp older than the hang timeout means the worker
  answers nobody, and the manager will soon give its work to another node. Its renders are
  killed at once, and again at each poll for as long as it hangs.

  The hung worker itself is left alive, on purpose: its renders are what could do harm (a
  second render of frames that are being rendered elsewhere); the worker holds nothing else.
  A worker that resumes (it was stopped in a debugger, swapping, suspended, its loop blocked
  by a slow call) sees its renders fail and says so; if the manager dropped it meanwhile, Dask
  closes it and it joins again as a fresh worker. Killing it would turn a passing stall into
  a node that stays down until someone restarts it.
* when the worker says ``stop`` on the reaper's stdin (a clean stop: renders were cancelled):
  whatever still carries the marker is killed, and the reaper exits.

Linux only (``/proc``). Run as ``python -m render_farm_manager.execution.reaper --worker PID
--marker MARKER --stamp PATH --hang-timeout SECONDS``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from render_farm_manager.execution import procfs

MARKER_ENV = "RENDER_FARM_NODE_SESSION"
DEFAULT_HANG_TIMEOUT = 20.0
"""Seconds without a beat after which a worker is hung: under the manager's default
``serve --heartbeat-timeout`` (30 s), so that the renders of a hung node are dead before the
manager gives its work to another node."""
POLL_SECONDS = 0.2
SWEEP_ROUNDS = 20
SETTLE_SECONDS = 1.0
"""After the worker is gone, how long the reaper keeps sweeping (a render may be forking)."""


def write_stamp(path: Path) -> None:
    """Say "the worker is alive now": the monotonic clock (one for the whole machine, which
    the wall clock's jumps do not move) in fixed width, written in place in one write."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, f"{time.monotonic():24.3f}\n".encode(), 0)
    finally:
        os.close(fd)


def stamp_age(path: Path) -> float | None:
    """Seconds since the stamp was written; None when it cannot be read."""
    try:
        written = float(path.read_bytes().decode("ascii"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return time.monotonic() - written


class Reaper:
    """Watches worker ``worker_pid`` and kills the renders marked ``marker``."""

    def __init__(
        self,
        worker_pid: int,
        marker: str,
        stamp: Path,
        hang_timeout: float = DEFAULT_HANG_TIMEOUT,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.worker = procfs.process(worker_pid)
        self.worker_pid = worker_pid
        self.entry = f"{MARKER_ENV}={marker}".encode()
        self.stamp = stamp
        self.hang_timeout = hang_timeout
        self.poll_seconds = poll_seconds
        self.by_parent = os.getppid() == worker_pid
        self.spare_pids = {os.getpid(), worker_pid, 1}
        self.spare_groups = {0, 1, os.getpgrp(), os.getsid(0)}
        if self.worker is not None:
            self.spare_groups |= {self.worker.pgid, self.worker.sid}

    def worker_gone(self) -> bool:
        if self.worker is None:
            return True
        if self.by_parent and os.getppid() != self.worker_pid:
            return True  # orphaned: the worker died (before its parent even reaped it)
        now = procfs.process(self.worker_pid)
        return now is None or now.dead or now.start != self.worker.start

    def hung(self) -> bool:
        if self.hang_timeout <= 0:
            return False
        age = stamp_age(self.stamp)
        return age is not None and age > self.hang_timeout

    def sweep(self) -> list[int]:
        """SIGKILL every marked process with its process group and session, until none is
        left; the pids killed."""
        killed: list[int] = []
        for _ in range(SWEEP_ROUNDS):
            alive = [p for p in procfs.processes() if not p.dead and p.pid not in self.spare_pids]
            marked = [p for p in alive if procfs.carries(p.pid, self.entry)]
            pids = {p.pid for p in marked}
            groups = {p.pgid for p in marked} - self.spare_groups
            sessions = {p.sid for p in marked} - self.spare_groups
            doomed = [p for p in alive if p.pid in pids or p.pgid in groups or p.sid in sessions]
            if not doomed:
                break
            for group in groups:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)
            for p in doomed:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(p.pid, signal.SIGKILL)
            killed.extend(p.pid for p in doomed if p.pid not in killed)
            time.sleep(0.02)
        return killed

    def run(self) -> int:
        """Watch until the worker stops or is gone; 0."""
        listening = True
        hung = False
        reported: set[int] = set()  # one that resists SIGKILL (state D) is said once
        while True:
            if listening:
                said = _read_line(self.poll_seconds)
                if said is None:
                    listening = False  # the worker closed its end (or died)
                elif said.strip() == "stop":
                    killed = self.sweep()
                    if killed:  # a cancel that was still under way (a session's grace)
                        self._say("the worker stopped", killed)
                    break
            else:
                time.sleep(self.poll_seconds)
            if self.worker_gone():
                self._settle()
                break
            if self.hung():
                killed = self.sweep()
                if not hung or not reported.issuperset(killed):
                    self._say(f"the worker has not answered for {self.hang_timeout:g} s", killed)
                reported.update(killed)
                hung = True
            elif hung:
                _log("the worker answers again")
                hung = False
                reported.clear()
        with contextlib.suppress(OSError):
            self.stamp.unlink()
        return 0

    def _settle(self) -> None:
        killed: list[int] = []
        until = time.monotonic() + SETTLE_SECONDS
        while True:
            killed.extend(self.sweep())
            if time.monotonic() >= until:
                break
            time.sleep(self.poll_seconds / 2)
        self._say(f"the worker (pid {self.worker_pid}) is gone", killed)

    @staticmethod
    def _say(why: str, killed: list[int]) -> None:
        if killed:
            _log(f"{why}: killed {len(killed)} render process(es): {sorted(set(killed))}")
        else:
            _log(f"{why}: no render left to kill")


def _read_line(timeout: float) -> str | None:
    """A line from stdin within ``timeout`` ("" when none came); None at its end."""
    try:
        ready, _, _ = select.select([0], [], [], timeout)
        if not ready:
            return ""
        data = os.read(0, 4096)
    except OSError:
        return None
    return data.decode(errors="replace") if data else None


def _log(message: str) -> None:
    print(f"render-farm reaper: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m render_farm_manager.execution.reaper",
        description="Kill the renders of a render node whose worker is gone or hangs.",
    )
    parser.add_argument("--worker", type=int, required=True, help="the worker's pid")
    parser.add_argument("--marker", required=True, help=f"the value of {MARKER_ENV}")
    parser.add_argument("--stamp", type=Path, required=True, help="the worker's beat file")
    parser.add_argument(
        "--hang-timeout", type=float, default=DEFAULT_HANG_TIMEOUT, help="0: never hung"
    )
    parser.add_argument("--poll", type=float, default=POLL_SECONDS)
    args = parser.parse_args(argv)
    if not procfs.supported():
        _log("no /proc here: cannot watch the renders")
        return 2
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the worker's to handle
    return Reaper(args.worker, args.marker, args.stamp, args.hang_timeout, args.poll).run()


if __name__ == "__main__":
    sys.exit(main())
