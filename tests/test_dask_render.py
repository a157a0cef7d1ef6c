"""End to end on Dask: POV-Ray shots rendered by ``render-farm worker`` processes that join a
manager over loopback, as render nodes on other machines would. Skipped locally when POV-Ray
is missing (required in CI); marked e2e (CI runs them, locally ``--e2e``)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from render_helpers import (
    SPIN,
    frames_in,
    invocations_per_frame,
    povray_required,
    single_process_render,
    spin_job,
)
from test_dask_farm import RENDER_FARM, Workers, farm, node_status, step_until

from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import NodeStatus, RenderJobStatus, RenderTask
from render_farm_manager.execution.dask_farm import DaskExecutor
from render_farm_manager.execution.runner import FarmRunner
from render_farm_manager.execution.tls import make_certificates, tls_security

povray_required()
pytestmark = pytest.mark.e2e
S = RenderJobStatus


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    made = Workers(tmp_path)
    yield made
    made.stop_all()


def join(runner: FarmRunner, workers: Workers, address: str, *nodes: str) -> None:
    for node in nodes:
        workers.start(address, node)
    manager = runner.manager
    step_until(runner, lambda: all(n in manager.nodes for n in nodes), what=f"{nodes} to join")


def finish(runner: FarmRunner, job_ids: list[str], timeout: float = 240) -> None:
    manager = runner.manager
    step_until(
        runner,
        lambda: all(manager.jobs[j].status in (S.COMPLETED, S.FAILED) for j in job_ids),
        timeout=timeout,
        what=f"{job_ids} to finish",
    )


def nodes_used(manager: RenderFarmManager) -> set[str | None]:
    return {e.node_id for e in manager.audit_logger.entries if e.event_type == "job_scheduled"}


def test_a_48_frame_shot_over_3_workers_matches_a_single_process_render(
    workers: Workers, tmp_path: Path
) -> None:
    executor = DaskExecutor("tcp://127.0.0.1:0")
    manager = farm()
    runner = FarmRunner(manager, executor)
    try:
        join(runner, workers, executor.address, "w1", "w2", "w3")
        out = tmp_path / "frames"
        manager.submit_job(spin_job(out, 48, 4, "spin"))
        finish(runner, ["spin"])
    finally:
        executor.close()
    assert manager.jobs["spin"].status == S.COMPLETED
    assert nodes_used(manager) == {"w1", "w2", "w3"}
    assert set(runner.starts.values()) == {1}
    assert invocations_per_frame(tmp_path) == dict.fromkeys(range(1, 49), 1)
    rendered = frames_in(out)
    reference = single_process_render(tmp_path / "single", 48, 36, frames=48)
    assert sorted(rendered) == list(range(1, 49))
    for frame, pixels in reference.items():
        assert np.array_equal(rendered[frame], pixels), f"frame {frame} differs"


def _renders_under(directory: Path) -> list[int]:
    """Pids of POV-Ray processes working in ``directory`` (found by their working directory)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if "povray" in (proc / "comm").read_text() and str((proc / "cwd").resolve()).startswith(
                str(directory)
            ):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_a_worker_killed_mid_frame_loses_its_task_at_once_and_no_finished_frame_is_redone(
    workers: Workers, tmp_path: Path
) -> None:
    executor = DaskExecutor("tcp://127.0.0.1:0", heartbeat_timeout_seconds=120)
    manager = farm()
    runner = FarmRunner(manager, executor)
    size = ("Width=320", "Height=240")
    out = tmp_path / "frames"
    try:
        join(runner, workers, executor.address, "w1", "w2")
        manager.submit_job(spin_job(out, 16, 8, "spin", *size))

        def victim() -> RenderTask | None:
            for task in manager.tasks_of("spin"):
                on_w1 = task.assigned_node_id == "w1" and task.status == S.RUNNING
                if on_w1 and task.frames_done and _renders_under(tmp_path / "w1"):
                    return task
            return None

        step_until(runner, lambda: victim() is not None, timeout=120, what="w1 mid-render")
        task = victim()
        assert task is not None
        done_before = set(task.frames_done)
        workers.processes["w1"].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        step_until(runner, lambda: task.assigned_node_id != "w1", timeout=30, what="requeue")
        requeued_after = time.monotonic() - killed_at
        assert node_status(manager, "w1") == NodeStatus.ERROR
        finish(runner, ["spin"])
    finally:
        executor.close()
    assert requeued_after < 20  # at once, not after the 120 s heartbeat timeout
    assert _renders_under(tmp_path / "w1") == []  # its renderer died with it
    assert manager.jobs["spin"].status == S.COMPLETED
    assert task.status == S.COMPLETED and runner.starts[task.id] == 2
    counts = invocations_per_frame(tmp_path)
    assert all(counts[frame] == 1 for frame in done_before), counts
    rendered = frames_in(out)
    reference = single_process_render(tmp_path / "single", 320, 240, frames=16)
    assert sorted(rendered) == list(range(1, 17))
    for frame, pixels in reference.items():
        assert np.array_equal(rendered[frame], pixels), f"frame {frame} differs"


def test_a_silent_worker_is_lost_after_the_heartbeat_timeout(
    workers: Workers, tmp_path: Path
) -> None:
    executor = DaskExecutor("tcp://127.0.0.1:0", heartbeat_timeout_seconds=3)
    manager = farm()
    runner = FarmRunner(manager, executor)
    try:
        join(runner, workers, executor.address, "w1", "w2")
        worker = workers.processes["w1"]
        worker.send_signal(signal.SIGSTOP)  # hung: connected, but says nothing
        stopped_at = time.monotonic()
        step_until(runner, lambda: node_status(manager, "w1") != NodeStatus.ONLINE, timeout=30)
        silent_for = time.monotonic() - stopped_at
        manager.submit_job(spin_job(tmp_path / "frames", 4, 2, "spin"))
        finish(runner, ["spin"])
        worker.send_signal(signal.SIGCONT)
    finally:
        executor.close()
    assert 2 <= silent_for < 25
    assert manager.jobs["spin"].status == S.COMPLETED
    assert nodes_used(manager) == {"w2"}


def test_with_mutual_tls_only_machines_with_the_farms_certificate_join(
    workers: Workers, tmp_path: Path
) -> None:
    ours = make_certificates(tmp_path / "farm-ca", ["w1"])
    theirs = make_certificates(tmp_path / "other-ca", ["w9"])
    executor = DaskExecutor(
        "tls://127.0.0.1:0", security=tls_security(ours["manager"], "scheduler")
    )
    manager = farm()
    runner = FarmRunner(manager, executor)

    def tls(files: object) -> tuple[str, ...]:
        return ("--tls-ca", str(files.ca), "--tls-cert", str(files.cert),  # type: ignore[attr-defined]
                "--tls-key", str(files.key))  # type: ignore[attr-defined]  # fmt: skip

    try:
        workers.start(executor.address, "w9", *tls(theirs["node-w9"]))
        workers.start(executor.address.replace("tls://", "tcp://"), "w8")
        workers.start(executor.address, "w1", *tls(ours["node-w1"]))
        step_until(runner, lambda: "w1" in manager.nodes, what="w1 to join over TLS")
        manager.submit_job(spin_job(tmp_path / "frames", 4, 2, "spin"))
        finish(runner, ["spin"])
        runner.step()
    finally:
        executor.close()
    assert manager.jobs["spin"].status == S.COMPLETED
    assert sorted(manager.nodes) == ["w1"]  # the other CA's and the clear-text one never did
    assert sorted(frames_in(tmp_path / "frames")) == [1, 2, 3, 4]


def test_serve_worker_and_submit_work_as_the_readme_types_them(
    workers: Workers, tmp_path: Path
) -> None:
    from render_farm_manager.service.client import FarmClient
    from render_farm_manager.service.server import free_port

    port, dask_port = free_port("127.0.0.1"), free_port("127.0.0.1")
    server = f"http://127.0.0.1:{port}"
    env = {**os.environ, "RENDER_FARM_ADMIN_TOKEN": "admin-secret-token-0123456789"}
    with (tmp_path / "serve.out").open("ab") as log:
        service = subprocess.Popen(
            [RENDER_FARM, "serve", "--db", f"sqlite:///{tmp_path / 'farm.db'}", "--port",
             str(port), "--workers", f"tcp://127.0.0.1:{dask_port}", "--cycle-seconds", "1"],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
        )  # fmt: skip
    opened: list[FarmClient] = []
    try:
        admin = FarmClient(server, env["RENDER_FARM_ADMIN_TOKEN"])
        opened.append(admin)
        deadline = time.monotonic() + 60
        while True:
            try:
                if admin.health().get("status") == "ready":
                    break
            except Exception:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.out").read_text()
            time.sleep(0.2)
        admin.add_client({"id": "acme", "name": "Acme"})
        token = admin.issue_token("acme")["token"]
        workers.start(f"tcp://127.0.0.1:{dask_port}", "w1")
        out = tmp_path / "renders"
        submitted = subprocess.run(
            [RENDER_FARM, "submit", str(SPIN / "template.yaml"), "--server", server, "--token",
             token, "--client", "acme", "--deadline", "+2h", "--param", "Frames=6",
             "--param", f"OutputDirectory={out}", "--param", "Width=48", "--param",
             "Height=36", "--id", "spin"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        client = FarmClient(server, token)
        opened.append(client)
        deadline = time.monotonic() + 180
        while client.job("spin")["job"]["status"] != "completed":
            assert time.monotonic() < deadline, client.job("spin")
            time.sleep(0.5)
        shown = subprocess.run(
            [RENDER_FARM, "job", "spin", "--server", server, "--token", token],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        logged = subprocess.run(
            [RENDER_FARM, "log", "spin", "--task", "spin/Render/1", "--server", server,
             "--token", token],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        nodes = admin.nodes()
    finally:
        for made in opened:
            made.close()
        service.send_signal(signal.SIGINT)
        service.wait(30)
    assert shown.returncode == 0 and "completed" in shown.stdout
    assert logged.returncode == 0 and logged.stdout.startswith("$ povray"), logged.stderr
    assert sorted(frames_in(out)) == [1, 2, 3, 4, 5, 6]
    assert [node["id"] for node in nodes] == ["w1"]


def test_a_render_taken_off_its_node_resumes_on_another_from_the_renderers_state(
    workers: Workers, tmp_path: Path
) -> None:
    executor = DaskExecutor("tcp://127.0.0.1:0")
    manager = farm()
    runner = FarmRunner(manager, executor)
    out = tmp_path / "frames"
    try:
        join(runner, workers, executor.address, "w1", "w2")
        job = spin_job(out, 2, 2, "spin", "Width=480", "Height=360")
        job.supports_checkpoint = True
        job.preview_first = False  # one task of two frames
        manager.submit_job(job)
        (task,) = manager.tasks_of("spin")
        step_until(runner, lambda: task.status == S.RUNNING and task.progress >= 15, timeout=60)
        first_node = task.assigned_node_id
        assert first_node is not None
        manager.set_node_online(first_node, False, reason="taken for maintenance")
        finish(runner, ["spin"])
    finally:
        executor.close()
    assert job.status == S.COMPLETED and runner.starts[task.id] == 2
    second_node = "w2" if first_node == "w1" else "w1"
    (first,) = [log.read_text() for log in (tmp_path / first_node).rglob("render.log")]
    (second,) = [log.read_text() for log in (tmp_path / second_node).rglob("render.log")]
    assert "+C" not in first.splitlines()[0] and "+C" in second.splitlines()[0]
    progress = [int(n) for n in re.findall(r"Rendered (\d+) of", second.replace("\r", "\n"))]
    assert "continue requested; skipping" in second or (progress and progress[0] > 1024)
    reference = single_process_render(tmp_path / "single", 480, 360, frames=2)
    for frame, pixels in reference.items():
        assert np.array_equal(frames_in(out)[frame], pixels), f"frame {frame} differs"
