"""The worker's end of its reaper (:mod:`~render_farm_manager.execution.reaper`): marks every
process the worker starts from now on, starts the reaper, beats on the event loop, and tells
the reaper when the worker stops cleanly.

A worker that dies without a word (SIGKILL, a crash) or that stops beating (it hangs) is
exactly what the reaper is for; the worker need do nothing more than beat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

from render_farm_manager.execution import procfs
from render_farm_manager.execution.reaper import DEFAULT_HANG_TIMEOUT, MARKER_ENV, write_stamp

_log = logging.getLogger(__name__)


class NodeGuard:
    """Started once per worker process (:meth:`start`), it sets ``RENDER_FARM_NODE_SESSION``
    in this process's environment (every render inherits it) and runs the reaper; the event
    loop runs :meth:`beat_forever`; :meth:`stop` at a clean stop. Where processes cannot be
    read (not Linux) it does nothing and says so."""

    def __init__(self, workdir: str | Path, hang_timeout_seconds: float = DEFAULT_HANG_TIMEOUT):
        self.marker = uuid.uuid4().hex
        self.stamp = Path(workdir) / ".reaper" / f"alive-{self.marker}"
        self.hang_timeout_seconds = hang_timeout_seconds
        self.process: subprocess.Popen[bytes] | None = None
        self.active = False

    def start(self) -> None:
        if not procfs.supported():
            _log.warning("no /proc on this system: renders are not guarded by a reaper")
            return
        self.stamp.parent.mkdir(parents=True, exist_ok=True)
        os.environ[MARKER_ENV] = self.marker
        write_stamp(self.stamp)
        self.active = True
        self._spawn()

    def beat_seconds(self, heartbeat_seconds: float) -> float:
        """How often to beat: every heartbeat, and at least four times per hang timeout."""
        if self.hang_timeout_seconds > 0:
            return min(heartbeat_seconds, self.hang_timeout_seconds / 4)
        return heartbeat_seconds

    def beat(self) -> None:
        """The worker is alive; a reaper that died (killed by hand) is started again."""
        if not self.active:
            return
        with contextlib.suppress(OSError):  # e.g. the workdir is gone; the reaper then waits
            write_stamp(self.stamp)
        if self.process is not None and self.process.poll() is not None:
            _log.warning("the reaper ended (exit code %s); starting it again", self.process.poll())
            self._spawn()

    async def beat_forever(self, heartbeat_seconds: float) -> None:
        interval = self.beat_seconds(heartbeat_seconds)
        while True:
            self.beat()
            await asyncio.sleep(interval)

    def stop(self, timeout: float = 10.0) -> None:
        """A clean stop (the renders were cancelled): the reaper kills what may be left of
        them, then exits."""
        if not self.active:
            return
        self.active = False
        process, self.process = self.process, None
        if process is not None:
            with contextlib.suppress(OSError):
                assert process.stdin is not None
                process.stdin.write(b"stop\n")
                process.stdin.close()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with contextlib.suppress(OSError):
            self.stamp.unlink()

    @property
    def pid(self) -> int | None:
        """The reaper's pid (None when it is not running)."""
        return self.process.pid if self.process is not None else None

    def _spawn(self) -> None:
        environment = {k: v for k, v in os.environ.items() if k != MARKER_ENV}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "render_farm_manager.execution.reaper",
             "--worker", str(os.getpid()), "--marker", self.marker,
             "--stamp", str(self.stamp), "--hang-timeout", str(self.hang_timeout_seconds)],
            stdin=subprocess.PIPE,
            env=environment,
            start_new_session=True,  # a kill of the worker's process group spares it
        )  # fmt: skip
