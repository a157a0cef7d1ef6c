"""Render nodes on other machines: the manager hosts a Dask scheduler (``DaskExecutor``) and
real ``render-farm worker`` processes join it over loopback. What is tested is what a studio
sees: nodes appear with the hardware they advertise, renders run on the node the manager
chose, a cancelled render's processes die, a lost node's work is requeued at once, and only
machines with a certificate of the farm can join when TLS is on."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import (
    Client,
    NodeCapabilities,
    NodeStatus,
    RenderJob,
    RenderJobStatus,
    RenderNode,
)
from render_farm_manager.execution.dask_farm import DaskExecutor
from render_farm_manager.execution.events import EventKind, TaskEvent
from render_farm_manager.execution.executor import Executor
from render_farm_manager.execution.runner import FarmRunner

S = RenderJobStatus
RENDER_FARM = str(Path(sys.executable).parent / "render-farm")


class Workers:
    """``render-farm worker`` processes, stopped at the end of the test."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, address: str, node_id: str, *options: str) -> subprocess.Popen[bytes]:
        with (self.root / f"{node_id}.out").open("ab") as log:  # the child keeps its copy
            process = subprocess.Popen(
                [RENDER_FARM, "worker", "--manager", address, "--node-id", node_id,
                 "--workdir", str(self.root / node_id), *options],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.processes[node_id] = process
        return process

    def output(self, node_id: str) -> str:
        return (self.root / f"{node_id}.out").read_text(errors="replace")

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
            process.wait(30)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    made = Workers(tmp_path)
    yield made
    made.stop_all()


@pytest.fixture
def executor() -> Iterator[DaskExecutor]:
    made = DaskExecutor("tcp://127.0.0.1:0", heartbeat_timeout_seconds=60)
    yield made
    made.close()


def farm() -> RenderFarmManager:
    manager = RenderFarmManager()
    manager.add_client(Client(id="c", name="c"))
    return manager


def step_until(
    runner: FarmRunner, done: Callable[[], bool], timeout: float = 60, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what or done}"
        runner.step()
        time.sleep(0.05)


def node_status(manager: RenderFarmManager, node_id: str) -> NodeStatus | None:
    node = manager.nodes.get(node_id)
    return node.status if node is not None else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.e2e
def test_a_worker_joins_as_the_node_it_advertises_and_leaves_and_comes_back(
    executor: DaskExecutor, workers: Workers
) -> None:
    manager = farm()
    runner = FarmRunner(manager, executor)
    options = ("--tag", "lighting", "--attribute", "pool=gpu", "--cores", "3",
               "--memory-gb", "7", "--rating", "80")  # fmt: skip
    first = workers.start(executor.address, "n1", *options)
    step_until(runner, lambda: "n1" in manager.nodes, what="n1 to join")
    node = manager.nodes["n1"]
    caps = node.capabilities
    assert node.status == NodeStatus.ONLINE and node.power_efficiency_rating == 80
    assert (caps.cpu_cores, caps.memory_gb, caps.specialized_for) == (3, 7, ["lighting"])
    assert caps.attributes["pool"] == "gpu"
    assert caps.os == "linux"
    if shutil.which("povray"):
        assert "povray" in caps.attributes["renderer"].split(",")
    assert executor.connected_nodes() == {"n1"}

    first.send_signal(signal.SIGTERM)  # the operator stops it: offline, not failed
    first.wait(30)
    step_until(runner, lambda: node_status(manager, "n1") == NodeStatus.OFFLINE, what="off")
    assert "render node stopped" in workers.output("n1")
    assert executor.connected_nodes() == set()

    workers.start(executor.address, "n1", *options, "--cores", "2")  # back, with less
    step_until(runner, lambda: node_status(manager, "n1") == NodeStatus.ONLINE, what="back")
    assert manager.nodes["n1"].capabilities.cpu_cores == 2
    assert len(manager.nodes) == 1
    events = [e.event_type for e in manager.audit_logger.entries if e.node_id == "n1"]
    assert "node_added" in events and "node_field_changed" in events


def test_work_runs_on_the_chosen_node_and_a_cancel_kills_its_process_group(
    executor: DaskExecutor, workers: Workers, tmp_path: Path
) -> None:
    manager = farm()
    runner = FarmRunner(manager, executor)
    workers.start(executor.address, "n1")
    step_until(runner, lambda: "n1" in manager.nodes, what="n1 to join")
    pids = tmp_path / "pids"
    script = f"sleep 600 & echo $$ $! > {pids}; wait"
    job = RenderJob(
        id="long",
        name="long",
        client_id="c",
        deadline=datetime.now() + timedelta(days=1),
        estimated_duration_hours=1,
        command=["bash", "-c", script],
    )
    manager.submit_job(job)
    step_until(runner, lambda: pids.is_file() and pids.read_text().strip() != "", what="start")
    assert job.status == S.RUNNING and job.assigned_node_id == "n1"
    assert executor.running() == {"long": "n1"}
    shell, child = (int(pid) for pid in pids.read_text().split())
    assert alive(shell) and alive(child)

    assert manager.cancel_job("long")
    step_until(runner, lambda: not alive(shell) and not alive(child), timeout=20, what="kill")
    assert executor.running() == {}
    assert node_status(manager, "n1") == NodeStatus.ONLINE
    assert manager.nodes["n1"].current_job_id is None
    log = next((tmp_path / "n1").rglob("render.log"))
    assert log.read_text().startswith("$ bash -c")
    assert executor.task_log("long") == log.read_text()  # read on the node, through Dask
    assert executor.task_log("never-ran") is None


class _Joining(Executor):
    """An executor whose only news is one node joining with the given advert."""

    def __init__(self, advert: dict[str, object]) -> None:
        self.advert = advert
        self.sent = False

    def start(self, task: RenderJob, node_id: str, job: RenderJob | None = None) -> int:
        raise AssertionError("nothing is placed in this test")

    def cancel(self, task_id: str) -> None:
        return None

    def running(self) -> dict[str, str]:
        return {}

    def events(self) -> list[TaskEvent]:
        if self.sent:
            return []
        self.sent = True
        node_id = str(self.advert.get("id", ""))
        return [TaskEvent(EventKind.NODE_JOINED, "", node_id, 0, node=self.advert)]

    def connected_nodes(self) -> set[str] | None:
        return {str(self.advert.get("id", ""))}


def test_a_bad_advert_adds_no_node_and_is_on_record() -> None:
    manager = farm()
    runner = FarmRunner(manager, _Joining({"id": "odd", "capabilities": {"cpu_cores": 0}}))
    runner.step()
    assert manager.nodes == {}
    refused = [e for e in manager.audit_logger.entries if e.event_type == "executor_event_refused"]
    assert len(refused) == 1 and "cpu_cores" in refused[0].description


def test_nodes_whose_workers_are_not_connected_go_offline_and_their_work_back_to_the_queue(
    executor: DaskExecutor,
) -> None:
    manager = farm()
    caps = NodeCapabilities(cpu_cores=8, memory_gb=8)
    manager.add_node(RenderNode(id="ghost", name="ghost", capabilities=caps))
    runner = FarmRunner(manager, executor)
    runner.step()  # no worker of "ghost" is connected (say, after a restart)
    assert manager.nodes["ghost"].status == NodeStatus.OFFLINE
    entries = manager.audit_logger.entries
    reasons = [e.details.get("reason") for e in entries if e.node_id == "ghost"]
    assert "its worker is not connected" in reasons

    # Placed on it anyway (an operator brings it online by hand): the start is answered at
    # once with the node lost, and the work goes back to the queue rather than waiting.
    job = RenderJob(
        id="j",
        name="j",
        client_id="c",
        deadline=datetime.now() + timedelta(days=1),
        estimated_duration_hours=1,
        command=["true"],
    )
    manager.submit_job(job)
    manager.set_node_online("ghost", True)
    manager.run_scheduling_cycle()
    assert job.status == S.RUNNING
    runner.reconcile()
    runner.step()
    assert job.status in (S.PENDING, S.QUEUED) and job.assigned_node_id is None
    assert manager.nodes["ghost"].status in (NodeStatus.ERROR, NodeStatus.OFFLINE)


@pytest.mark.e2e
def test_a_template_needing_a_session_runs_as_one_on_a_render_node(
    executor: DaskExecutor, workers: Workers, tmp_path: Path
) -> None:
    from test_openjd_sessions import session_shot

    manager = farm()
    runner = FarmRunner(manager, executor)
    workers.start(executor.address, "n1")
    workers.start(executor.address, "n2")
    step_until(runner, lambda: len(manager.nodes) == 2, what="the nodes to join")
    job = session_shot(tmp_path / "out", Frames="12", FramesPerTask="4", Look="night")
    manager.submit_job(job)
    step_until(runner, lambda: job.status in (S.COMPLETED, S.FAILED), what="the shot")
    assert job.status == S.COMPLETED, job.failure_reason
    for frame in range(1, 13):
        assert (tmp_path / "out" / f"frame_{frame}.txt").read_text() == f"night {frame}\n"
    ran_on = {e.node_id for e in manager.audit_logger.entries if e.event_type == "job_scheduled"}
    assert ran_on == {"n1", "n2"}
    task = manager.tasks_of(job.id)[0]
    assert "Entering Environment: Look" in (executor.task_log(task.id) or "")
