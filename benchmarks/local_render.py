"""Rendering on this machine through the manager (prints figures; not a test).

    uv run python benchmarks/local_render.py

* Trivial tasks: a 400-frame shot, one frame per task, each task running ``/bin/true``, over 4
  local nodes: throughput (tasks/s), dispatch latency (from the start of the cycle that placed
  a task to its process running; median and p99), and the manager's CPU per 1,000 task events
  (the Python process: cycles, event handling, the threads reading render output).
* POV-Ray (when installed): the 48-frame example turntable at 160x120, 4 frames per task, over
  3 local nodes: wall time, render process time, and the manager's CPU as a share of the render
  process time (the seed's limit for scheduling overhead is 1%).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from render_farm_manager.core.clock import ManualClock
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import Client, RenderJob, RenderJobStatus
from render_farm_manager.execution.local import LocalExecutor
from render_farm_manager.execution.local_farm import local_nodes
from render_farm_manager.execution.runner import FarmRunner
from render_farm_manager.jobs.loader import load_job_file

NOW = datetime(2026, 12, 3, 9, 0)
SPIN = Path(__file__).parent.parent / "examples" / "jobs" / "openjd" / "povray_spin"
FINISHED = (RenderJobStatus.COMPLETED, RenderJobStatus.FAILED, RenderJobStatus.CANCELLED)


def farm(nodes: int) -> RenderFarmManager:
    manager = RenderFarmManager(clock=ManualClock(NOW))
    manager.add_client(Client(id="c", name="c"))
    for node in local_nodes(nodes):
        manager.add_node(node)
    return manager


class Counting(FarmRunner):
    events = 0

    def apply(self, events):  # type: ignore[no-untyped-def]
        self.events += len(events)
        return super().apply(events)


def run(manager: RenderFarmManager, job: RenderJob, workdir: Path) -> tuple[Counting, float, float]:
    runner = Counting(manager, LocalExecutor(workdir))
    cpu, wall = time.process_time(), time.perf_counter()
    ok = runner.run(lambda: job.status in FINISHED, poll_seconds=0.02, timeout_seconds=600)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert ok and job.status == RenderJobStatus.COMPLETED, job.failure_reason
    return runner, cpu, wall


def trivial(workdir: Path) -> None:
    manager = farm(4)
    job = RenderJob(
        id="trivial",
        name="trivial",
        client_id="c",
        deadline=NOW.replace(year=2027),
        estimated_duration_hours=1,
        frames="1-400",
        chunk_size=1,
        preview_first=False,
        command=[shutil.which("true") or "/bin/true", "{start}"],
    )
    manager.submit_job(job)
    runner, cpu, wall = run(manager, job, workdir)
    latency = sorted(runner.dispatch_seconds)
    p99 = latency[min(len(latency) - 1, int(0.99 * len(latency)))]
    print("400 trivial tasks over 4 local nodes")
    print(f"  throughput            {400 / wall:8.1f} tasks/s ({wall:.1f} s)")
    print(f"  dispatch latency      {statistics.median(latency) * 1000:8.1f} ms median, "
          f"{p99 * 1000:.1f} ms p99 ({len(latency)} starts)")  # fmt: skip
    print(f"  manager CPU           {cpu / runner.events * 1000:8.3f} s per 1,000 task events "
          f"({runner.events} events)")  # fmt: skip


def povray(workdir: Path) -> None:
    if shutil.which("povray") is None:
        print("POV-Ray is not installed: skipped the 48-frame render")
        return
    manager = farm(3)
    params = {
        "Frames": "48", "FramesPerTask": "4", "Width": "160", "Height": "120",
        "OutputDirectory": str(workdir / "frames"),
    }  # fmt: skip
    job = load_job_file(SPIN / "template.yaml", params).to_job(now=NOW, client_id="c")
    manager.submit_job(job)
    runner, cpu, wall = run(manager, job, workdir / "work")
    print("48-frame POV-Ray turntable (160x120, 4 frames a task) over 3 local nodes")
    print(f"  wall time             {wall:8.1f} s")
    print(f"  render process time   {runner.render_seconds:8.1f} s (sum over tasks)")
    print(f"  manager CPU           {cpu:8.2f} s = {100 * cpu / runner.render_seconds:.2f}% of "
          f"render time (goal <= 1%)")  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        trivial(Path(tmp) / "trivial")
        povray(Path(tmp) / "povray")
    print(f"(Python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
