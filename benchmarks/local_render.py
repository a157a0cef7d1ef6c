"""Rendering on this machine through the manager (prints figures; not a test).

    uv run python benchmarks/local_render.py                  # frames of 160x120
    uv run python benchmarks/local_render.py --size 320x240   # larger frames

* Trivial tasks: a 400-frame shot, one frame per task, each task running ``/bin/true``, over 4
  local nodes: throughput (tasks/s), dispatch latency (from the start of the cycle that placed
  a task to its process running; median and p99), and the manager's CPU per 1,000 task events
  (the Python process: cycles, event handling, the threads reading render output).
* POV-Ray (when installed): the 48-frame example turntable, 4 frames per task, over 3 local
  nodes: wall time, render process time, and the manager's CPU as a share of the render process
  time (the seed's limit for scheduling overhead is 1%); then the same with a quarter-resolution
  pass of the preview frames first: when the first preview arrives, as a share of the render
  without previews (goal 3%), and what the previews cost in render process time (goal 5%).
"""

from __future__ import annotations

import argparse
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
from render_farm_manager.execution.events import EventKind
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
    first_preview: float | None = None

    def apply(self, events):  # type: ignore[no-untyped-def]
        self.events += len(events)
        if self.first_preview is None and any(e.kind == EventKind.PREVIEW for e in events):
            self.first_preview = time.perf_counter()
        return super().apply(events)


def run(manager: RenderFarmManager, job: RenderJob, workdir: Path) -> tuple[Counting, float, float]:
    runner = Counting(manager, LocalExecutor(workdir))
    cpu, wall = time.process_time(), time.perf_counter()
    runner.started = wall  # type: ignore[attr-defined]
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


def povray(workdir: Path, width: int, height: int) -> None:
    if shutil.which("povray") is None:
        print("POV-Ray is not installed: skipped the 48-frame render")
        return
    manager = farm(3)
    params = {
        "Frames": "48", "FramesPerTask": "4", "Width": str(width), "Height": str(height),
        "OutputDirectory": str(workdir / "frames"),
    }  # fmt: skip
    job = load_job_file(SPIN / "template.yaml", params).to_job(now=NOW, client_id="c")
    manager.submit_job(job)
    runner, cpu, wall = run(manager, job, workdir / "work")
    print(f"48-frame POV-Ray turntable ({width}x{height}, 4 frames a task) over 3 local nodes")
    print(f"  wall time             {wall:8.1f} s")
    print(f"  render process time   {runner.render_seconds:8.1f} s (sum over tasks)")
    print(f"  manager CPU           {cpu:8.2f} s = {100 * cpu / runner.render_seconds:.2f}% of "
          f"render time (goal <= 1%)")  # fmt: skip

    manager = farm(3)
    params["OutputDirectory"] = str(workdir / "frames-previewed")
    job = load_job_file(SPIN / "template.yaml", params).to_job(now=NOW, client_id="c")
    job.preview_scale = 0.25
    manager.submit_job(job)
    previewed, _, wall_previewed = run(manager, job, workdir / "work-previewed")
    assert previewed.first_preview is not None
    first = previewed.first_preview - previewed.started  # type: ignore[attr-defined]
    extra = previewed.render_seconds - runner.render_seconds
    print("the same with a quarter-resolution pass of the preview frames first")
    print(f"  first preview after   {first:8.2f} s = {100 * first / wall:.1f}% of the render "
          f"without previews (goal <= 3%)")  # fmt: skip
    share = 100 * extra / runner.render_seconds
    print(f"  preview overhead      {extra:8.2f} s of render processes = {share:.1f}% "
          f"(goal <= 5%); wall {wall_previewed:.1f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="160x120", help="frame size of the POV-Ray run")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        trivial(Path(tmp) / "trivial")
        povray(Path(tmp) / "povray", width, height)
    print(f"(Python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
