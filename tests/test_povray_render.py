"""End to end with a real renderer: POV-Ray renders shots through the manager, the local
executor and its adapter. Skipped locally when POV-Ray is missing; required in CI (.ci/run
installs it and sets CI)."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from render_helpers import (
    SPIN,
    frames_in,
    invocations_per_frame,
    povray_required,
    single_process_render,
    spin_job,
    time_now,
)
from typer.testing import CliRunner

from render_farm_manager.cli import app
from render_farm_manager.core.clock import ManualClock
from render_farm_manager.core.errors import InvalidInputError
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import Client, RenderJob, RenderJobStatus
from render_farm_manager.execution.local import LocalExecutor
from render_farm_manager.execution.local_farm import local_nodes
from render_farm_manager.execution.runner import FarmRunner

povray_required()

S = RenderJobStatus
BROKEN_SCENE = "camera { location <0, 1, -3> look_at 0 }\nsphere { 0, 1 pigment { color rgb 1 }\n"


def farm(nodes: int) -> RenderFarmManager:
    manager = RenderFarmManager(clock=ManualClock(time_now()))
    manager.add_client(Client(id="c", name="c"))
    for node in local_nodes(nodes):
        manager.add_node(node)
    return manager


def render(manager: RenderFarmManager, jobs, workdir: Path, timeout: float = 120) -> FarmRunner:
    runner = FarmRunner(manager, LocalExecutor(workdir, kill_grace_seconds=2))
    done = runner.run(
        lambda: all(j.status in (S.COMPLETED, S.FAILED, S.CANCELLED) for j in jobs),
        poll_seconds=0.05,
        timeout_seconds=timeout,
    )
    assert done, "the renders did not finish in time"
    return runner


@pytest.mark.e2e
def test_a_48_frame_shot_over_3_nodes_matches_a_single_process_render(tmp_path: Path) -> None:
    out = tmp_path / "farm"
    manager = farm(nodes=3)
    job = spin_job(out, 48, 4, "spin")
    manager.submit_job(job)
    runner = render(manager, [job], tmp_path / "work")
    assert job.status == S.COMPLETED and job.progress == 100.0
    farm_frames = frames_in(out)
    assert sorted(farm_frames) == list(range(1, 49))
    nodes_used = {
        entry.node_id
        for entry in manager.audit_logger.entries
        if entry.event_type == "job_scheduled"
    }
    assert len(nodes_used) == 3
    assert set(runner.starts.values()) == {1}
    assert invocations_per_frame(tmp_path / "work") == dict.fromkeys(range(1, 49), 1)

    reference = single_process_render(tmp_path / "single", 48, 36, frames=48)
    assert sorted(reference) == list(range(1, 49))
    for frame, pixels in reference.items():
        assert np.array_equal(farm_frames[frame], pixels), f"frame {frame} differs"


def test_a_killed_render_is_requeued_and_no_finished_frame_is_rendered_again(
    tmp_path: Path,
) -> None:
    out = tmp_path / "farm"
    manager = farm(nodes=2)
    job = spin_job(out, 12, 6, "spin", "Width=320", "Height=240")
    manager.submit_job(job)
    executor = LocalExecutor(tmp_path / "work", kill_grace_seconds=2)
    runner = FarmRunner(manager, executor)
    victim = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline:
        runner.step()
        for task in manager.tasks_of("spin"):
            if task.status == S.RUNNING and task.frames_done and task.frames_left:
                victim = task
        time.sleep(0.02)
    assert victim is not None, "no task was seen with some frames done"
    done_before = set(victim.frames_done)
    task_dir = tmp_path / "work" / re.sub(r"[^A-Za-z0-9._-]+", "_", victim.id)
    killed = _kill_renderer(task_dir)  # the victim's renderer crashes (SIGKILL)
    assert killed
    runner.run(lambda: job.status in (S.COMPLETED, S.FAILED), poll_seconds=0.05,
               timeout_seconds=120)  # fmt: skip
    assert job.status == S.COMPLETED
    counts = invocations_per_frame(tmp_path / "work")
    assert all(counts[f] == 1 for f in done_before)
    assert sorted(frames_in(out)) == list(range(1, 13))
    assert runner.starts[victim.id] == 2 and victim.error_count == 1


def test_a_broken_scene_fails_its_job_with_the_renderers_message_and_others_finish(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "broken.pov"
    broken.write_text(BROKEN_SCENE)
    manager = farm(nodes=2)
    good = spin_job(tmp_path / "good", 4, 2, "good")
    bad = spin_job(tmp_path / "bad", 4, 2, "bad", f"SceneFile={broken}")
    manager.submit_job(good)
    manager.submit_job(bad)
    render(manager, [good, bad], tmp_path / "work")
    assert good.status == S.COMPLETED
    assert bad.status == S.FAILED
    reason = bad.failure_reason or ""
    assert "corrupt scene" in reason and "pars" in reason.lower()  # POV-Ray's own words
    failed = [t for t in manager.tasks_of("bad") if t.status == S.FAILED]
    assert [t.error_count for t in failed] == [1]  # failed at once, not retried


def test_render_farm_render_as_a_user_types_it(tmp_path: Path) -> None:
    out = tmp_path / "renders"
    result = CliRunner().invoke(
        app,
        ["render", str(SPIN / "template.yaml"), "--nodes", "2", "--workdir",
         str(tmp_path / "work"), "-p", f"OutputDirectory={out}", "-p", "Frames=6",
         "-p", "Width=32", "-p", "Height=24", "--timeout", "120"],
        env={"COLUMNS": "100"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "completed" in result.output and "6/6" in result.output
    assert len(list(out.glob("spin_*.png"))) == 6


def _kill_renderer(workdir: Path) -> bool:
    """SIGKILL the povray running under ``workdir`` (found by its working directory)."""
    for _ in range(200):
        for pid in _pids_of("povray"):
            try:
                cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
            except OSError:
                continue
            if workdir in cwd.parents:
                os.kill(pid, signal.SIGKILL)
                return True
        time.sleep(0.01)
    return False


def _pids_of(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def test_a_preempted_render_resumes_from_its_state_and_gives_the_same_pixels(
    tmp_path: Path,
) -> None:
    out = tmp_path / "farm"
    manager = farm(nodes=1)
    job = spin_job(out, 2, 2, "spin", "Width=480", "Height=360")
    job.supports_checkpoint = True
    job.preview_first = False  # one task of two frames
    manager.submit_job(job)
    # every progress step reported at once (not once a second): the frames take a fraction of
    # a second, and the preemption must come in the middle of the first one
    executor = LocalExecutor(tmp_path / "work", kill_grace_seconds=5, progress_seconds=0)
    runner = FarmRunner(manager, executor)
    (task,) = manager.tasks_of("spin")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (task.status == S.RUNNING and task.progress >= 15):
        runner.step()
        time.sleep(0.02)
    assert task.status == S.RUNNING and 15 <= task.progress < 100, task.progress
    urgent = RenderJob(
        id="urgent", name="urgent", client_id="c", deadline=time_now().replace(year=2027),
        estimated_duration_hours=0.01, command=[sys.executable, "-c", "pass"],
    )  # fmt: skip
    manager.submit_emergency_job(urgent)
    assert task.status == S.QUEUED  # preempted for the emergency
    runner.run(lambda: job.status == S.COMPLETED, poll_seconds=0.05, timeout_seconds=120)
    assert urgent.status == S.COMPLETED and job.status == S.COMPLETED
    assert runner.starts[task.id] == 2
    task_dir = tmp_path / "work" / re.sub(r"[^A-Za-z0-9._-]+", "_", task.id)
    first, second = (log.read_text() for log in sorted(task_dir.rglob("render.log")))
    assert "+C" not in first.splitlines()[0]
    # the rerun did not start over: it skipped what was written or continued a frame's state
    progress = [int(n) for n in re.findall(r"Rendered (\d+) of", second.replace("\r", "\n"))]
    assert "continue requested; skipping" in second or (progress and progress[0] > 1024)
    assert "+C" in second.splitlines()[0]  # the rerun continued from POV-Ray's state

    reference = single_process_render(tmp_path / "single", 480, 360, frames=2)
    for frame, pixels in reference.items():
        assert np.array_equal(frames_in(out)[frame], pixels), f"frame {frame} differs"


def test_preview_frames_get_a_quick_low_resolution_pass_first(tmp_path: Path) -> None:
    out = tmp_path / "farm"
    manager = farm(nodes=2)
    job = spin_job(out, 12, 3, "spin", "Width=320", "Height=240")
    job.preview_scale = 0.25
    manager.submit_job(job)
    preview_frames = {t.task_frames[0] for t in manager.tasks_of("spin") if t.preview}
    assert {1, 12, 7} <= preview_frames
    render(manager, [job], tmp_path / "work")
    assert job.status == S.COMPLETED
    previews = manager.get_job_status("spin")["previews"]
    assert {p["frame"] for p in previews} == preview_frames
    for shown in previews:
        files = list(Path(shown["path"]).glob(f"spin_{shown['frame']:02d}.png"))
        assert files and imread(files[0]).shape[:2] == (60, 80)  # a quarter of 320x240
    assert imread(next(out.glob("spin_01.png"))).shape[:2] == (240, 320)
    events = [e.event_type for e in manager.audit_logger.entries]
    assert events.index("preview_ready") < events.index("job_completed")


def test_a_preview_of_a_frame_the_task_does_not_have_is_refused(tmp_path: Path) -> None:
    manager = farm(nodes=1)
    manager.submit_job(spin_job(tmp_path, 4, 2, "spin"))
    task = manager.tasks_of("spin")[0]
    with pytest.raises(InvalidInputError, match="frame 99"):
        manager.record_preview(task.id, 99, str(tmp_path))
    assert manager.get_job_status("spin")["previews"] == []
