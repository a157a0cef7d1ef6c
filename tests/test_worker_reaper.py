"""A render never outlives its worker, nor goes on while its worker hangs: real
``render-farm worker`` processes join a manager's Dask scheduler over loopback, run long
renders (a plain command and an Open Job Description session, no renderer needed), and are
SIGKILLed, SIGSTOPped or stopped; every process of the render must be gone soon after
(checked by pid and by the node's marker variable, read from ``/proc`` here independently of
the reaper). And a task's log is still found after the manager restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from test_dask_farm import Workers, farm, step_until

from render_farm_manager.core.models import RenderJob, RenderJobStatus
from render_farm_manager.execution.dask_farm import DaskExecutor
from render_farm_manager.execution.runner import FarmRunner
from render_farm_manager.jobs.loader import load_job_file

if not sys.platform.startswith("linux"):
    pytest.skip("the reaper reads /proc (Linux)", allow_module_level=True)

S = RenderJobStatus
MARKER = "RENDER_FARM_NODE_SESSION"
# The render's shell starts a long child and writes: its pid, the child's, the node's marker.
LONG = 'sleep 600 & echo $$ $! "${RENDER_FARM_NODE_SESSION:-}" > "$0.tmp" && mv "$0.tmp" "$0"; wait'
SESSION_TEMPLATE = """\
specificationVersion: jobtemplate-2023-09
name: long session
parameterDefinitions:
  - name: Pids
    type: STRING
jobEnvironments:
  - name: Marked
    variables:
      LONG_SESSION: "yes"
steps:
  - name: Render
    script:
      actions:
        onRun:
          command: bash
          args: ["-c", {script}, "{{{{Param.Pids}}}}"]
          cancelation:
            mode: NOTIFY_THEN_TERMINATE
            notifyPeriodInSeconds: 30
"""


# -- processes, read from /proc without the reaper's code -------------------------------------


def running(pid: int) -> bool:
    """Alive and not a zombie (this machine's init does not reap orphans' zombies)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def marked(marker: str) -> list[int]:
    """Live processes whose environment holds the node's marker."""
    wanted = f"{MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if wanted in environ.split(b"\0") and running(int(entry.name)):
                found.append(int(entry.name))
    return found


def reapers_of(worker_pid: int) -> list[int]:
    """Live reaper processes watching worker ``worker_pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if (
                b"render_farm_manager.execution.reaper" in argv
                and argv[argv.index(b"--worker") + 1] == str(worker_pid).encode()
                and running(int(entry.name))
            ):
                found.append(int(entry.name))
    return found


def wait_for(condition, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    """Seconds until ``condition()`` held (fails after ``timeout``)."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < timeout, f"timed out waiting for {what}"
        time.sleep(0.05)
    return time.monotonic() - began


class Render:
    """The pids a long render wrote: its shell, the shell's child, the node's marker."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.shell = self.child = 0
        self.marker = ""

    def started(self) -> bool:
        if not self.path.is_file():
            return False
        fields = self.path.read_text().split()  # written whole (renamed into place)
        self.shell, self.child = int(fields[0]), int(fields[1])
        self.marker = fields[2] if len(fields) > 2 else ""
        return True

    def gone(self) -> bool:
        alive = running(self.shell) or running(self.child)
        return not alive and not (self.marker and marked(self.marker))


# -- jobs, workers, clean-up -------------------------------------------------------------------


def command_job(job_id: str, pids: Path, script: str = LONG) -> RenderJob:
    return RenderJob(
        id=job_id,
        name=job_id,
        client_id="c",
        deadline=datetime.now() + timedelta(days=1),
        estimated_duration_hours=1,
        command=["bash", "-c", script, str(pids)],
    )


def session_job(job_id: str, pids: Path, directory: Path) -> RenderJob:
    template = directory / "long_session.yaml"
    template.write_text(SESSION_TEMPLATE.format(script='"' + LONG.replace('"', '\\"') + '"'))
    job = load_job_file(template, {"Pids": str(pids)}).to_job(
        now=datetime.now(), client_id="c", job_id=job_id, deadline=datetime.now() + timedelta(1)
    )
    assert job.openjd_session is not None  # it runs as an openjd-sessions session
    return job


class GuardedWorkers(Workers):
    """Workers, and the long renders of the test: whatever a failed test leaves is killed."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.renders: list[Render] = []

    def clean_up(self) -> None:
        started = [process.pid for process in self.processes.values()]
        for process in self.processes.values():
            if process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)  # a stopped one dies of SIGKILL anyway
        self.stop_all()
        for render in self.renders:
            for pid in (
                render.shell,
                render.child,
                *(marked(render.marker) if render.marker else []),
            ):
                if pid and running(pid):
                    os.kill(pid, signal.SIGKILL)
        for worker_pid in started:
            for reaper in reapers_of(worker_pid):
                os.kill(reaper, signal.SIGKILL)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[GuardedWorkers]:
    made = GuardedWorkers(tmp_path)
    yield made
    made.clean_up()


@pytest.fixture
def executor() -> Iterator[DaskExecutor]:
    made = DaskExecutor("tcp://127.0.0.1:0", heartbeat_timeout_seconds=60)
    yield made
    made.close()


def start_long_render(
    runner: FarmRunner, workers: GuardedWorkers, tmp_path: Path, kind: str, *options: str
) -> tuple[int, Render]:
    """A worker joined as n1 and rendering a long render; its pid and the render."""
    worker = workers.start(runner.executor.address, "n1", *options)  # type: ignore[attr-defined]
    step_until(runner, lambda: "n1" in runner.manager.nodes, what="n1 to join")
    render = Render(tmp_path / "pids")
    workers.renders.append(render)
    if kind == "command":
        job = command_job("long", render.path)
    else:
        job = session_job("long", render.path, tmp_path)
    runner.manager.submit_job(job)
    step_until(runner, render.started, what="the render to start")
    assert running(render.shell) and running(render.child)
    assert render.marker, "the render does not carry the node's marker"
    assert set(marked(render.marker)) >= {render.shell, render.child}
    assert worker.pid not in marked(render.marker)  # its own environ is from before the marker
    assert len(reapers_of(worker.pid)) == 1
    return worker.pid, render


# -- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["command", pytest.param("session", marks=pytest.mark.e2e)])
def test_a_sigkilled_workers_render_dies_within_seconds(
    executor: DaskExecutor, workers: GuardedWorkers, tmp_path: Path, kind: str
) -> None:
    runner = FarmRunner(farm(), executor)
    worker_pid, render = start_long_render(runner, workers, tmp_path, kind, "--hang-timeout", "0.5")
    (reaper,) = reapers_of(worker_pid)
    time.sleep(1.5)  # three hang timeouts: a worker that beats keeps its render
    assert not render.gone() and running(reaper)

    os.kill(worker_pid, signal.SIGKILL)  # not waited for: it stays a zombie meanwhile
    took = wait_for(render.gone, 10, "the render to die")
    assert took < 5
    wait_for(lambda: not running(reaper), 10, "the reaper to exit")
    assert "is gone: killed" in workers.output("n1")


@pytest.mark.e2e
def test_a_hung_workers_render_is_killed_after_the_hang_timeout(
    executor: DaskExecutor, workers: GuardedWorkers, tmp_path: Path
) -> None:
    runner = FarmRunner(farm(), executor)
    worker_pid, render = start_long_render(
        runner, workers, tmp_path, "command", "--hang-timeout", "2"
    )
    (reaper,) = reapers_of(worker_pid)

    os.kill(worker_pid, signal.SIGSTOP)  # hung: alive, silent
    try:
        took = wait_for(render.gone, 15, "the hung worker's render to die")
        assert 1.0 < took < 2 + 3  # after the hang timeout (its last beat came < 0.5 s before)
        assert running(worker_pid) and running(reaper)  # the worker is left to recover
    finally:
        os.kill(worker_pid, signal.SIGCONT)
    wait_for(lambda: "answers again" in workers.output("n1"), 10, "the reaper to see it back")
    assert running(worker_pid) and reapers_of(worker_pid) == [reaper]
    assert "has not answered for 2 s: killed" in workers.output("n1")


@pytest.mark.e2e
def test_a_render_longer_than_the_hang_timeout_finishes_undisturbed(
    executor: DaskExecutor, workers: GuardedWorkers, tmp_path: Path
) -> None:
    manager = farm()
    runner = FarmRunner(manager, executor)
    worker = workers.start(executor.address, "n1", "--hang-timeout", "1")
    step_until(runner, lambda: "n1" in manager.nodes, what="n1 to join")
    job = command_job("three-seconds", tmp_path / "pids", 'sleep 3; echo "$0 done"')
    manager.submit_job(job)
    step_until(runner, lambda: job.status in (S.COMPLETED, S.FAILED), what="the render")
    assert job.status == S.COMPLETED, job.failure_reason
    assert len(reapers_of(worker.pid)) == 1
    assert "reaper" not in workers.output("n1")  # it never had anything to say
    assert f"{tmp_path / 'pids'} done" in (executor.task_log(job.id) or "")


@pytest.mark.e2e
def test_a_clean_stop_leaves_no_render_and_no_reaper(
    executor: DaskExecutor, workers: GuardedWorkers, tmp_path: Path
) -> None:
    # A session's cancel notifies, then waits (30 s here) before it terminates: the worker
    # stops long before; what it leaves, the reaper kills as it is told the worker stopped.
    runner = FarmRunner(farm(), executor)
    worker_pid, render = start_long_render(runner, workers, tmp_path, "session")
    (reaper,) = reapers_of(worker_pid)

    os.kill(worker_pid, signal.SIGTERM)
    workers.processes["n1"].wait(30)
    assert "render node stopped" in workers.output("n1")
    wait_for(render.gone, 5, "the render to die")
    wait_for(lambda: not running(reaper), 5, "the reaper to exit")
    assert not list((tmp_path / "n1" / ".reaper").iterdir())  # its stamp is removed


@pytest.mark.e2e
def test_a_tasks_log_is_found_after_the_manager_restarts(
    workers: GuardedWorkers, tmp_path: Path
) -> None:
    first = DaskExecutor("tcp://127.0.0.1:0", heartbeat_timeout_seconds=60)
    port = first.port
    try:
        manager = farm()
        runner = FarmRunner(manager, first)
        workers.start(first.address, "n1")
        step_until(runner, lambda: "n1" in manager.nodes, what="n1 to join")
        job = command_job("say", tmp_path / "pids", 'echo "hello from before the restart"')
        manager.submit_job(job)
        step_until(runner, lambda: job.status == S.COMPLETED, what="the render")
        before = first.task_log("say")
        assert before is not None and "hello from before the restart" in before
    finally:
        first.close()

    # An older log of the same task on another node (an attempt that ran there before).
    older = tmp_path / "n2" / "say" / "attempt-1" / "render.log"
    older.parent.mkdir(parents=True)
    older.write_text("an older attempt\n")
    hour_ago = time.time() - 3600
    os.utime(older, (hour_ago, hour_ago))

    again = DaskExecutor(f"tcp://127.0.0.1:{port}", heartbeat_timeout_seconds=60)
    try:
        workers.start(again.address, "n2")

        def both_joined() -> bool:
            again.events()
            return again.connected_nodes() == {"n1", "n2"}

        wait_for(both_joined, 60, "n1 to reconnect and n2 to join")
        assert again.task_log("say") == before  # the newest of the two
        in_an_hour = time.time() + 3600
        os.utime(older, (in_an_hour, in_an_hour))
        assert again.task_log("say") == "an older attempt\n"  # now n2's is the newest
        assert again.task_log("never-ran") is None
    finally:
        again.close()


# -- the reaper beside a small process that plays the worker (no Dask: quick) -----------------

STAND_IN = """\
import subprocess, sys, time
from render_farm_manager.execution.guard import NodeGuard
guard = NodeGuard(sys.argv[1], hang_timeout_seconds=float(sys.argv[2]))
guard.start()
subprocess.Popen(["bash", "-c", sys.argv[3], sys.argv[4]], start_new_session=True)
while True:
    guard.beat()
    time.sleep(guard.beat_seconds(1.0))
"""
# The render's child scrubs its environment: it is found by the session it runs in.
SCRUBBED = LONG.replace("sleep 600 &", "env -i sleep 600 &")


@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_a_render_that_scrubbed_its_environment_dies_with_its_worker(
    tmp_path: Path, how: str
) -> None:
    render = Render(tmp_path / "pids")
    stand_in = subprocess.Popen(
        [sys.executable, "-c", STAND_IN, str(tmp_path), "1", SCRUBBED, str(render.path)]
    )
    try:
        wait_for(render.started, 20, "the render to start")
        assert render.marker and marked(render.marker) == [render.shell]  # not its child
        assert running(render.child)
        (reaper,) = reapers_of(stand_in.pid)
        time.sleep(1.5)  # beating: the render goes on
        assert not render.gone()

        os.kill(stand_in.pid, signal.SIGKILL if how == "killed" else signal.SIGSTOP)
        took = wait_for(render.gone, 10, "the render to die")
        assert took < (2 if how == "killed" else 1 + 2)
        if how == "stopped":
            assert running(reaper) and running(stand_in.pid)  # still guarding; left alive
    finally:
        stand_in.kill()
        stand_in.wait(10)
        for pid in (render.shell, render.child):
            if pid and running(pid):
                os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not reapers_of(stand_in.pid), 10, "the reaper to exit")


def test_worker_refuses_a_negative_hang_timeout(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from render_farm_manager.cli import app

    result = CliRunner().invoke(
        app,
        ["worker", "--manager", "tcp://127.0.0.1:9", "--workdir", str(tmp_path / "w"),
         "--hang-timeout", "-1"],
        env={"COLUMNS": "1000"},
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "--hang-timeout" in result.output
    assert not (tmp_path / "w").exists()
