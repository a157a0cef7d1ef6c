"""Tasks of Open Job Description templates that a command line cannot express (environments,
embedded files, timeouts, notify-then-terminate cancels) run as openjd-sessions sessions:
what the template says happens, on the local executor as on a render node."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import Client, RenderJob, RenderJobStatus
from render_farm_manager.execution.events import EventKind
from render_farm_manager.execution.local import LocalExecutor
from render_farm_manager.execution.local_farm import local_nodes
from render_farm_manager.execution.runner import FarmRunner
from render_farm_manager.jobs.loader import load_job_file

S = RenderJobStatus
EXAMPLES = Path(__file__).parent.parent / "examples" / "jobs" / "openjd"
SESSION_SHOT = EXAMPLES / "session_shot" / "template.yaml"


def session_shot(out: Path, job_id: str = "shot", **params: str) -> RenderJob:
    values = {"OutputDirectory": str(out), **params}
    return load_job_file(SESSION_SHOT, values).to_job(
        now=datetime.now(),
        client_id="c",
        job_id=job_id,
        deadline=datetime.now() + timedelta(days=1),
    )


def farm(nodes: int = 2) -> RenderFarmManager:
    manager = RenderFarmManager()
    manager.add_client(Client(id="c", name="c"))
    for node in local_nodes(nodes):
        manager.add_node(node)
    return manager


class Recording(FarmRunner):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.kinds: list[EventKind] = []

    def apply(self, events):  # type: ignore[no-untyped-def]
        self.kinds.extend(event.kind for event in events)
        return super().apply(events)


def test_a_template_needing_a_session_runs_as_one_with_its_environments_and_files(
    tmp_path: Path,
) -> None:
    manager = farm()
    job = session_shot(tmp_path / "out", Frames="10", FramesPerTask="4", Look="cool")
    assert job.openjd_session is not None
    manager.submit_job(job)
    runner = Recording(manager, LocalExecutor(tmp_path / "work"))
    assert runner.run(lambda: job.status in (S.COMPLETED, S.FAILED), 0.02, 60)
    assert job.status == S.COMPLETED, job.failure_reason
    for frame in range(1, 11):  # the job environment's variable reached the embedded script
        assert (tmp_path / "out" / f"frame_{frame}.txt").read_text() == f"cool {frame}\n"
    assert set(runner.starts.values()) == {1}
    assert EventKind.PROGRESS in runner.kinds  # openjd_progress lines
    logs = [log.read_text() for log in (tmp_path / "work").rglob("render.log")]
    assert len(logs) == len(manager.tasks_of("shot"))
    for text in logs:
        assert "entering the scratch environment" in text
        assert "leaving the scratch environment" in text  # exited after the task


def test_openjd_fail_fails_the_task_with_the_scripts_reason(tmp_path: Path) -> None:
    manager = farm()
    job = session_shot(tmp_path / "out", Frames="8", FramesPerTask="4", FailAtFrame="6")
    manager.submit_job(job)
    runner = FarmRunner(manager, LocalExecutor(tmp_path / "work"))
    assert runner.run(lambda: job.status in (S.COMPLETED, S.FAILED), 0.02, 60)
    assert job.status == S.FAILED
    assert "frame 6 cannot be rendered" in (job.failure_reason or "")
    failed = [t for t in manager.tasks_of("shot") if t.status == S.FAILED]
    assert len(failed) == 1 and 6 in failed[0].task_frames
    assert not (tmp_path / "out" / "frame_6.txt").exists()


def test_a_cancel_notifies_the_script_then_ends_it(tmp_path: Path) -> None:
    manager = farm(nodes=1)
    job = session_shot(tmp_path / "out", Frames="2", FramesPerTask="2", SecondsPerFrame="60")
    job.preview_first = False
    manager.submit_job(job)
    runner = FarmRunner(manager, LocalExecutor(tmp_path / "work"))
    deadline = time.monotonic() + 30
    while not list((tmp_path / "work").rglob("tmp*.sh")) or not any(
        "Running Task" in log.read_text() for log in (tmp_path / "work").rglob("render.log")
    ):
        assert time.monotonic() < deadline, "the task did not start"
        runner.step()
        time.sleep(0.05)
    time.sleep(0.5)  # inside the frame's sleep
    began = time.monotonic()
    assert manager.cancel_job("shot")
    runner.step()
    log = next((tmp_path / "work").rglob("render.log"))

    def ended() -> bool:
        text = log.read_text()
        return "Canceling subprocess" in text and "exited with code" in text.split("Canceling")[1]

    while not ended():
        assert time.monotonic() - began < 20, "the cancel did not end the task"
        time.sleep(0.05)
    assert (tmp_path / "out" / "stopped_1").exists()  # told first (SIGTERM), and it said so
    assert "asked to stop" in log.read_text()
    assert job.status == S.CANCELLED
    assert not (tmp_path / "out" / "frame_1.txt").exists()


def test_templates_a_command_line_expresses_run_as_commands() -> None:
    spin = load_job_file(EXAMPLES / "povray_spin" / "template.yaml")
    assert spin.openjd_session is None
    assert spin.steps[0].command[0] == "povray"
