"""The local executor and the runner with real processes: what the manager decides runs here,
what the processes do comes back through the manager's methods."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from builders import make_farm, make_node

from render_farm_manager.core.models import RenderJob, RenderJobStatus
from render_farm_manager.execution.events import EventKind
from render_farm_manager.execution.local import LocalExecutor
from render_farm_manager.execution.runner import FarmRunner
from render_farm_manager.jobs.commands import work_left
from render_farm_manager.renderers.base import (
    FailureKind,
    OutputLine,
    RendererAdapter,
    RenderRequest,
)

S = RenderJobStatus
PY = sys.executable


class FrameLines(RendererAdapter):
    """Reads the test renderer's ``frame N written`` lines, as a real adapter reads its own."""

    name = "frame-lines"

    def commands(self, request: RenderRequest) -> list[list[str]]:
        raise NotImplementedError

    def parse_line(self, line: str) -> OutputLine:
        words = line.split()
        if len(words) == 3 and words[0] == "frame" and words[2] == "written":
            return OutputLine(frame_done=int(words[1]))
        return OutputLine()

    def classify(self, returncode: int, output_tail: Sequence[str]) -> FailureKind:
        return FailureKind.NODE


WRITE_FRAMES = (
    "import pathlib, sys, time\n"
    "out = pathlib.Path(sys.argv[3])\n"
    "for f in range(int(sys.argv[1]), int(sys.argv[2]) + 1):\n"
    "    time.sleep(float(sys.argv[4]))\n"
    "    (out / f'{f}.{time.monotonic_ns()}').write_text('x')\n"
    "    print(f'frame {f} written', flush=True)\n"
)


def shot(job_id: str, out: Path, frames: str = "1-6", chunk: int = 2, pause: float = 0.0, **kw):
    from builders import T0

    return RenderJob(
        id=job_id,
        name=job_id,
        client_id="c1",
        deadline=T0.replace(year=T0.year + 1),
        estimated_duration_hours=0.01,
        frames=frames,
        chunk_size=chunk,
        preview_first=False,
        command=[PY, "-c", WRITE_FRAMES, "{start}", "{end}", str(out), str(pause)],
        **kw,
    )


def farm(nodes: int = 2):
    manager, clock = make_farm(nodes=0)
    for i in range(nodes):
        manager.add_node(make_node(f"n{i}"))
    return manager, clock


def renders_per_frame(out: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    for file in out.iterdir():
        frame = int(file.name.split(".")[0])
        counts[frame] = counts.get(frame, 0) + 1
    return counts


def step_until(runner: FarmRunner, condition, timeout: float = 30):
    """Step the runner until ``condition()`` gives something true (returned), or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runner.step()
        found = condition()
        if found:
            return found
        time.sleep(0.02)
    return None


def half_done(manager, shot_id: str = "s"):
    """A running task of the shot with some frames done and some left, if any."""
    return next(
        (
            t
            for t in manager.tasks_of(shot_id)
            if t.status == S.RUNNING and t.frames_done and t.frames_left
        ),
        None,
    )


def run_all(runner: FarmRunner, jobs: list[RenderJob], timeout: float = 60) -> bool:
    return runner.run(
        lambda: all(j.status in (S.COMPLETED, S.FAILED, S.CANCELLED) for j in jobs),
        poll_seconds=0.05,
        timeout_seconds=timeout,
    )


def test_a_shot_renders_every_frame_once_over_several_nodes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    manager, _ = farm(nodes=3)
    job = shot("s", out, frames="1-12", chunk=2)
    manager.submit_job(job)
    runner = FarmRunner(manager, LocalExecutor(tmp_path / "work"))
    assert run_all(runner, [job])
    assert job.status == S.COMPLETED and job.progress == 100.0
    assert renders_per_frame(out) == dict.fromkeys(range(1, 13), 1)
    assert set(runner.starts.values()) == {1}
    assert len(runner.dispatch_seconds) == 6 and all(d >= 0 for d in runner.dispatch_seconds)
    assert runner.render_seconds > 0
    logs = list((tmp_path / "work").rglob("render.log"))
    assert len(logs) == 6 and all("written" in log.read_text() for log in logs)


def test_a_lost_node_requeues_its_task_and_no_finished_frame_is_rendered_again(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    manager, _ = farm(nodes=2)
    job = shot("s", out, frames="1-8", chunk=4, pause=0.3)
    manager.submit_job(job)
    executor = LocalExecutor(
        tmp_path / "work", adapter_for=lambda argv: FrameLines(), kill_grace_seconds=1
    )
    runner = FarmRunner(manager, executor)
    lost = step_until(runner, lambda: half_done(manager))  # a frame done mid-task
    assert lost is not None
    done_before = list(lost.frames_done)
    manager.handle_node_failure(lost.assigned_node_id, "power cut")
    assert lost.status == S.QUEUED and lost.frames_left
    assert run_all(runner, [job])
    assert job.status == S.COMPLETED
    counts = renders_per_frame(out)
    assert all(counts[f] == 1 for f in done_before)  # finished frames never again
    assert set(counts) == set(range(1, 9))
    assert runner.starts[lost.id] == 2


def test_cancelling_a_shot_kills_its_renders(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    manager, _ = farm(nodes=2)
    job = shot("s", out, frames="1-40", chunk=20, pause=0.2)
    manager.submit_job(job)
    executor = LocalExecutor(tmp_path / "work", kill_grace_seconds=1)
    runner = FarmRunner(manager, executor)
    runner.step()
    assert len(executor.running()) == 2
    manager.cancel_job("s")
    runner.step()
    assert executor.running() == {}
    written = len(list(out.iterdir()))
    time.sleep(0.6)
    assert len(list(out.iterdir())) == written  # the processes are gone


def test_a_failing_command_counts_as_an_error_and_the_job_fails_at_the_threshold(
    tmp_path: Path,
) -> None:
    manager, _ = farm(nodes=1)
    manager.max_job_errors = 2
    job = RenderJob(
        id="bad",
        name="bad",
        client_id="c1",
        deadline=shot("x", tmp_path).deadline,
        estimated_duration_hours=0.01,
        command=[PY, "-c", "import sys; print('boom: scene too shiny'); sys.exit(3)"],
    )
    manager.submit_job(job)
    runner = FarmRunner(manager, LocalExecutor(tmp_path / "work"))
    assert run_all(runner, [job], timeout=30)
    assert job.status == S.FAILED
    assert "boom: scene too shiny" in (job.failure_reason or "")
    assert job.error_count == 2


def test_a_missing_program_fails_the_run_with_the_reason(tmp_path: Path) -> None:
    executor = LocalExecutor(tmp_path)
    job = RenderJob(
        id="j",
        name="j",
        client_id="c1",
        deadline=shot("x", tmp_path).deadline,
        estimated_duration_hours=1,
        command=["/no/such/renderer", "scene"],
    )
    attempt = executor.start(job, "n0")
    events = _wait_for(executor, EventKind.FAILED)
    failed = events[-1]
    assert failed.attempt == attempt and "cannot start" in (failed.error or "")
    assert executor.running() == {}


def test_a_task_without_a_command_fails_as_a_broken_job(tmp_path: Path) -> None:
    executor = LocalExecutor(tmp_path)
    job = RenderJob(
        id="j", name="j", client_id="c1", deadline=shot("x", tmp_path).deadline,
        estimated_duration_hours=1,
    )  # fmt: skip
    executor.start(job, "n0")
    failed = _wait_for(executor, EventKind.FAILED)[-1]
    assert failed.failure is not None and failed.failure.value == "scene"


def test_starting_a_task_twice_is_refused(tmp_path: Path) -> None:
    executor = LocalExecutor(tmp_path)
    job = shot("s", tmp_path, pause=0.5)
    manager, _ = farm(nodes=1)
    manager.submit_job(job)
    task = manager.tasks_of("s")[0]
    executor.start(task, "n0")
    with pytest.raises(RuntimeError, match="already running"):
        executor.start(task, "n0")
    executor.close()


def test_the_plan_renders_only_the_frames_left_in_contiguous_runs(tmp_path: Path) -> None:
    manager, _ = farm(nodes=1)
    manager.submit_job(shot("s", tmp_path, frames="1-6", chunk=6))
    task = manager.tasks_of("s")[0]
    manager.report_frames_done(task.id, [1, 3])
    plan = work_left(task)
    assert [frames for _, frames in plan] == [[2], [4, 5, 6]]
    assert plan[1][0][3:5] == ["4", "6"]


def _wait_for(executor: LocalExecutor, kind: EventKind, timeout: float = 20):
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.extend(executor.events())
        if any(e.kind == kind for e in seen):
            return seen
        time.sleep(0.02)
    raise AssertionError(f"no {kind} event in {seen}")


def test_pausing_a_shot_stops_its_renders_and_resuming_renders_only_the_frames_left(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    manager, _ = farm(nodes=1)
    job = shot("s", out, frames="1-6", chunk=6, pause=0.25)
    manager.submit_job(job)
    executor = LocalExecutor(
        tmp_path / "work", adapter_for=lambda argv: FrameLines(), kill_grace_seconds=1
    )
    runner = FarmRunner(manager, executor)
    (task,) = manager.tasks_of("s")
    assert step_until(runner, lambda: task.frames_done)
    assert manager.pause_job("s")
    runner.step()
    assert executor.running() == {} and task.status == S.PAUSED
    done = list(task.frames_done)
    assert manager.resume_job("s")
    assert run_all(runner, [job])
    assert job.status == S.COMPLETED
    counts = renders_per_frame(out)
    assert all(counts[f] == 1 for f in done) and set(counts) == set(range(1, 7))
