"""POV-Ray scenes and checks shared by the tests that render for real (the turntable example
job, the reference render made without the farm, frames on disk, renderer runs per frame)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from render_farm_manager.jobs.loader import load_job_file


def povray_required() -> None:
    """Skip the calling test module when POV-Ray is missing; in CI (CI set) fail instead."""
    if shutil.which("povray") is None:
        if os.environ.get("CI"):
            raise RuntimeError("POV-Ray is required in CI (.ci/run installs it)")
        pytest.skip("POV-Ray is not installed (apt-get install povray)", allow_module_level=True)


SPIN = Path(__file__).parent.parent / "examples" / "jobs" / "openjd" / "povray_spin"
SIZE = ("Width=48", "Height=36")


def time_now() -> datetime:
    return datetime(2026, 12, 3, 9, 0)


def spin_job(out: Path, frames: int, per_task: int, job_id: str, *extra: str):
    params = dict(p.split("=", 1) for p in (*SIZE, *extra))
    params.update(OutputDirectory=str(out), Frames=str(frames), FramesPerTask=str(per_task))
    return load_job_file(SPIN / "template.yaml", params).to_job(
        now=time_now(), client_id="c", job_id=job_id
    )


def frames_in(out: Path) -> dict[int, np.ndarray]:
    return {
        int(re.search(r"(\d+)\.png$", f.name).group(1)): imread(f)  # type: ignore[union-attr]
        for f in out.glob("spin_*.png")
    }


def single_process_render(
    directory: Path, width: int, height: int, frames: int
) -> dict[int, np.ndarray]:
    """The turntable rendered by one POV-Ray process, without the farm: the reference."""
    directory.mkdir()
    subprocess.run(
        ["povray", f"+I{SPIN / 'spin.pov'}", f"+O{directory}/spin_.png", f"+W{width}",
         f"+H{height}", "+KFI1", f"+KFF{frames}", "-D", "+WT1"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return frames_in(directory)


def invocations_per_frame(workdir: Path) -> dict[int, int]:
    """How many renderer runs covered each frame, from the commands in the render logs."""
    counts: dict[int, int] = {}
    for log in workdir.rglob("render.log"):
        for line in log.read_text().splitlines():
            if line.startswith("$ povray"):
                start = int(re.search(r"\+SF(\d+)", line).group(1))  # type: ignore[union-attr]
                end = int(re.search(r"\+EF(\d+)", line).group(1))  # type: ignore[union-attr]
                for frame in range(start, end + 1):
                    counts[frame] = counts.get(frame, 0) + 1
    return counts
