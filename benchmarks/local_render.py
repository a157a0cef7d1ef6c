"""Rendering through the manager on this machine (prints figures; not a test).

    uv run python benchmarks/local_render.py                  # frames of 160x120
    uv run python benchmarks/local_render.py --size 320x240   # larger frames
    uv run python benchmarks/local_render.py --executor dask  # nodes as Dask workers
    uv run python benchmarks/local_render.py --size 1280x720 --antialias 0.3  # production-like

``--antialias THRESHOLD`` renders the full-quality frames with POV-Ray's anti-aliasing
(``+A<threshold>``; the preview passes drop it, as they do for any job), so that a frame costs
seconds rather than the third of a second of the default tiny frames, most of which is POV-Ray
starting up.

With ``--executor dask`` the nodes are ``render-farm worker`` processes on this machine that
join the manager's in-process Dask scheduler over loopback TCP, as render nodes on other
machines would (the manager's CPU then includes the scheduler's; a dispatch ends when the
render's ``started`` event is back at the manager).

* Trivial tasks: a 400-frame shot, one frame per task, each task running ``/bin/true``, over 4
  local nodes: throughput (tasks/s), dispatch latency (from the start of the cycle that placed
  a task to its process running; median and p99), and the manager's CPU per 1,000 task events
  (the Python process: cycles, event handling, the threads reading render output).
* POV-Ray (when installed): the 48-frame example turntable, 4 frames per task, over 3 local
  nodes: wall time, render process time, and the manager's CPU as a share of the render process
  time (the seed's limit for scheduling overhead is 1%); then the same with a quarter-resolution
  pass of the preview frames first: when the first preview arrives (the manager has the
  preview event; the file is written before POV-Ray reports the frame), from the start of the
  run, as a share of the wall time of the render without previews (goal 3%; the last one too),
  and what the previews cost in render process time (goal 5%): the previewed run's render
  process time less the first run's, over the first run's; and, on local nodes, the preview
  passes' own render process time over the full-quality renders' in the previewed run (render
  process time is the wall time of each render process: on more nodes than cores it also counts
  waiting for a core, which makes the difference of two runs noisy when other work shares the
  machine).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
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


class TimedLocalExecutor(LocalExecutor):
    """The local executor, adding up how long its preview passes take (wall time of the render
    processes, as the ``seconds`` of a finished run count them), so that the previews' share of
    a run's render process time is known from that run alone."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.preview_seconds = 0.0
        self._timing = threading.Lock()

    def _preview_pass(self, run, log, log_path):  # type: ignore[no-untyped-def]
        began = time.monotonic()
        try:
            return super()._preview_pass(run, log, log_path)
        finally:
            with self._timing:
                self.preview_seconds += time.monotonic() - began


assert callable(getattr(LocalExecutor, "_preview_pass", None)), "no preview pass to time"


class Nodes:
    """Where the renders run: local slots, or ``render-farm worker`` processes on loopback."""

    def __init__(self, kind: str, count: int, workdir: Path) -> None:
        self.kind, self.count, self.workdir = kind, count, workdir
        self.workers: list[subprocess.Popen[bytes]] = []

    def runner(self, manager: RenderFarmManager) -> Counting:
        if self.kind == "local":
            for node in local_nodes(self.count):
                manager.add_node(node)
            return Counting(manager, TimedLocalExecutor(self.workdir))
        from render_farm_manager.execution.dask_farm import DaskExecutor
        from render_farm_manager.execution.dask_node import quiet_dask_logs

        quiet_dask_logs()
        executor = DaskExecutor("tcp://127.0.0.1:0")
        command = str(Path(sys.executable).parent / "render-farm")
        for n in range(self.count):
            argv = [command, "worker", "--manager", executor.address, "--node-id",
                    f"local-{n + 1}", "--workdir", str(self.workdir / f"node-{n + 1}")]  # fmt: skip
            self.workers.append(
                subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        runner = Counting(manager, executor)
        deadline = time.monotonic() + 120
        while len(manager.nodes) < self.count:  # all joined before the clock starts
            assert time.monotonic() < deadline, "the workers did not join"
            runner.step()
            time.sleep(0.05)
        return runner

    def close(self) -> None:
        for worker in self.workers:
            worker.kill()
            worker.wait()


def farm() -> RenderFarmManager:
    manager = RenderFarmManager(clock=ManualClock(NOW))
    manager.add_client(Client(id="c", name="c"))
    return manager


class Counting(FarmRunner):
    events = 0
    previews = 0
    first_preview: float | None = None
    last_preview: float | None = None

    def apply(self, events):  # type: ignore[no-untyped-def]
        self.events += len(events)
        previews = sum(e.kind == EventKind.PREVIEW for e in events)
        if previews:
            self.previews += previews
            self.last_preview = time.perf_counter()
            if self.first_preview is None:
                self.first_preview = self.last_preview
        return super().apply(events)


def run(manager: RenderFarmManager, job: RenderJob, nodes: Nodes) -> tuple[Counting, float, float]:
    try:
        runner = nodes.runner(manager)
        manager.submit_job(job)
        return measure(runner, job)
    finally:
        nodes.close()


def measure(runner: Counting, job: RenderJob) -> tuple[Counting, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    runner.started = wall  # type: ignore[attr-defined]
    ok = runner.run(lambda: job.status in FINISHED, poll_seconds=0.02, timeout_seconds=600)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert ok and job.status == RenderJobStatus.COMPLETED, job.failure_reason
    return runner, cpu, wall


def trivial(workdir: Path, kind: str) -> None:
    manager = farm()
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
    runner, cpu, wall = run(manager, job, Nodes(kind, 4, workdir))
    latency = sorted(runner.dispatch_seconds)
    p99 = latency[min(len(latency) - 1, int(0.99 * len(latency)))]
    print(f"400 trivial tasks over 4 {kind} nodes")
    print(f"  throughput            {400 / wall:8.1f} tasks/s ({wall:.1f} s)")
    print(f"  dispatch latency      {statistics.median(latency) * 1000:8.1f} ms median, "
          f"{p99 * 1000:.1f} ms p99 ({len(latency)} starts)")  # fmt: skip
    print(f"  manager CPU           {cpu / runner.events * 1000:8.3f} s per 1,000 task events "
          f"({runner.events} events)")  # fmt: skip


def spin_job(params: dict[str, str], antialias: float | None) -> RenderJob:
    """The example turntable; with ``antialias``, its frames anti-aliased at that threshold."""
    description = load_job_file(SPIN / "template.yaml", params)
    if antialias is not None:
        description.steps = [
            step.model_copy(update={"command": [*step.command, f"+A{antialias}"]})
            for step in description.steps
        ]
    return description.to_job(now=NOW, client_id="c")


def povray(workdir: Path, width: int, height: int, kind: str, antialias: float | None) -> None:
    if shutil.which("povray") is None:
        print("POV-Ray is not installed: skipped the 48-frame render")
        return
    manager = farm()
    params = {
        "Frames": "48", "FramesPerTask": "4", "Width": str(width), "Height": str(height),
        "OutputDirectory": str(workdir / "frames"),
    }  # fmt: skip
    job = spin_job(params, antialias)
    runner, cpu, wall = run(manager, job, Nodes(kind, 3, workdir / "work"))
    quality = "" if antialias is None else f", anti-aliased +A{antialias}"
    print(f"48-frame POV-Ray turntable ({width}x{height}{quality}, 4 frames a task) "
          f"over 3 {kind} nodes")  # fmt: skip
    print(f"  wall time             {wall:8.1f} s")
    print(f"  render process time   {runner.render_seconds:8.1f} s (sum over tasks)")
    print(f"  manager CPU           {cpu:8.2f} s = {100 * cpu / runner.render_seconds:.2f}% of "
          f"render time (goal <= 1%)")  # fmt: skip

    manager = farm()
    params["OutputDirectory"] = str(workdir / "frames-previewed")
    job = spin_job(params, antialias)
    job.preview_scale = 0.25
    previewed, _, wall_previewed = run(manager, job, Nodes(kind, 3, workdir / "work-previewed"))
    assert previewed.first_preview is not None
    first = previewed.first_preview - previewed.started  # type: ignore[attr-defined]
    extra = previewed.render_seconds - runner.render_seconds
    print("the same with a quarter-resolution pass of the preview frames first")
    print(f"  first preview after   {first:8.2f} s = {100 * first / wall:.1f}% of the render "
          f"without previews (goal <= 3%)")  # fmt: skip
    last = previewed.last_preview - previewed.started  # type: ignore[attr-defined]
    print(f"  last preview after    {last:8.2f} s = {100 * last / wall:.1f}% "
          f"({previewed.previews} previews)")  # fmt: skip
    share = 100 * extra / runner.render_seconds
    print(f"  preview overhead      {extra:8.2f} s of render processes = {share:.1f}% "
          f"(goal <= 5%); wall {wall_previewed:.1f} s")  # fmt: skip
    if isinstance(previewed.executor, TimedLocalExecutor):
        # Render process time is wall time per process: with more render processes than cores
        # (3 nodes here, 2 cores, other work) it grows with how many run at once, so the
        # difference between two runs above is noisy; this compares within the previewed run.
        passes = previewed.executor.preview_seconds
        full = previewed.render_seconds - passes
        print(f"  preview passes        {passes:8.2f} s of render processes = "
              f"{100 * passes / full:.1f}% of the full-quality ones ({full:.1f} s) in the same "
              f"run (goal <= 5%)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="160x120", help="frame size of the POV-Ray run")
    parser.add_argument("--executor", choices=("local", "dask"), default="local")
    parser.add_argument(
        "--antialias",
        type=float,
        metavar="THRESHOLD",
        help="anti-alias the POV-Ray frames at this threshold (e.g. 0.3); default: none",
    )
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        trivial(Path(tmp) / "trivial", args.executor)
        povray(Path(tmp) / "povray", width, height, args.executor, args.antialias)
    print(f"(Python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
