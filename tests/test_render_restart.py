"""``render-farm render --db``: a render killed with SIGKILL takes its renderers with it, and run
again it goes on where it stopped: no frame finished before the kill is rendered again, and the
frames are the same pixels as one uninterrupted render."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_povray_render import (
    SPIN,
    _pids_of,
    frames_in,
    invocations_per_frame,
    single_process_render,
)
from typer.testing import CliRunner

from render_farm_manager.cli import app

pytestmark = pytest.mark.e2e

FRAMES, WIDTH, HEIGHT = 24, 160, 120


def stored_frames_done(database: Path) -> dict[str, list[int]]:
    """Task id → frames done, as the store has them (read with plain sqlite3)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "SELECT jobs.id, jobs.data, job_state.patch FROM jobs "
            "JOIN job_state ON job_state.id = jobs.id WHERE jobs.kind = 'task'"
        ).fetchall()
    done = {}
    for task_id, data, patch in rows:  # the hot fields are patched over the model's
        fields = json.loads(data) | (json.loads(patch) if patch else {})
        done[task_id] = fields["frames_done"]
    return done


def renders_under(workdir: Path) -> list[int]:
    found = []
    for pid in _pids_of("povray"):
        try:
            if workdir in Path(os.readlink(f"/proc/{pid}/cwd")).parents:
                found.append(pid)
        except OSError:
            continue
    return found


def test_a_killed_render_goes_on_where_it_stopped(tmp_path: Path) -> None:
    database, workdir, out = tmp_path / "farm.db", tmp_path / "work", tmp_path / "renders"
    arguments = ["render", "--db", f"sqlite:///{database}", "--workdir", str(workdir),
                 "--nodes", "2", "--timeout", "300"]  # fmt: skip
    first = subprocess.Popen(
        [sys.executable, "-c", "from render_farm_manager.cli import app; app()", *arguments,
         str(SPIN / "template.yaml"), "-p", f"OutputDirectory={out}", "-p", f"Frames={FRAMES}",
         "-p", "FramesPerTask=6", "-p", f"Width={WIDTH}", "-p", f"Height={HEIGHT}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        done: dict[str, list[int]] = {}
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if database.exists():
                try:
                    done = stored_frames_done(database)
                except sqlite3.OperationalError:  # the schema is still being created
                    continue
                if sum(map(len, done.values())) >= 4 and renders_under(workdir):
                    break
        else:
            pytest.fail("the first render never got under way")
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        first.kill()
        first.wait()
    for _ in range(10):  # the renderers die with it, at once (not when their frames are done)
        if not renders_under(workdir):
            break
        time.sleep(0.02)
    assert renders_under(workdir) == []
    finished_before = {f for frames in stored_frames_done(database).values() for f in frames}
    assert finished_before and len(finished_before) < FRAMES

    result = CliRunner().invoke(app, arguments, env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert "going on with 1 unfinished job" in result.output
    assert "completed" in result.output

    runs = invocations_per_frame(workdir)
    assert sorted(runs) == list(range(1, FRAMES + 1))
    for frame in finished_before:
        assert runs[frame] == 1, f"frame {frame} was finished before the kill and rendered again"
    rendered = frames_in(out)
    reference = single_process_render(tmp_path / "single", WIDTH, HEIGHT, frames=FRAMES)
    assert sorted(rendered) == sorted(reference)
    for frame, pixels in reference.items():
        assert np.array_equal(rendered[frame], pixels), f"frame {frame} differs"

    again = CliRunner().invoke(app, arguments, env={"COLUMNS": "100"})
    assert again.exit_code == 0 and "nothing to render" in again.output
