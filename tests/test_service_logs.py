"""A task's render output through the API (``GET /jobs/{id}/log``, ``render-farm log``): read
from where the render ran, seen only by the job's client and the admin."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from render_farm_manager.cli import app as cli
from render_farm_manager.execution.local import LocalExecutor
from render_farm_manager.service.app import create_app
from render_farm_manager.service.auth import TokenStore
from render_farm_manager.service.client import FarmAPIError, FarmClient
from render_farm_manager.service.server import ServiceThread


class Served:
    def __init__(self, workdir: Path) -> None:
        tokens = TokenStore(None)
        admin_token = tokens.ensure_admin()
        assert admin_token is not None
        app = create_app(tokens=tokens, cycle_seconds=0.2, executor=lambda: LocalExecutor(workdir))
        self.service = ServiceThread(app).start()
        self.admin_token = admin_token
        self.admin = FarmClient(self.service.url, admin_token)
        deadline = time.monotonic() + 10
        while self.admin.health()["status"] != "ready":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        for client in ("north", "south"):
            self.admin.add_client({"id": client, "name": client})
        self.admin.add_node(
            {"id": "n1", "name": "n1", "capabilities": {"cpu_cores": 4, "memory_gb": 8}}
        )
        self.north_token = self.admin.issue_token("north")["token"]
        self.north = FarmClient(self.service.url, self.north_token)
        self.south = FarmClient(self.service.url, self.admin.issue_token("south")["token"])

    def wait_status(self, job_id: str, status: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.admin.job(job_id)["job"]["status"] != status:
            assert time.monotonic() < deadline, self.admin.job(job_id)["job"]
            time.sleep(0.05)

    def stop(self) -> None:
        for client in (self.admin, self.north, self.south):
            client.close()
        self.service.stop()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    made = Served(tmp_path / "work")
    yield made
    made.stop()


def job(job_id: str, command: list[str], **fields: object) -> dict[str, object]:
    return {
        "id": job_id,
        "name": job_id,
        "deadline": (datetime.now() + timedelta(days=1)).isoformat(),
        "estimated_duration_hours": 0.1,
        "command": command,
        **fields,
    }


SAY = [sys.executable, "-c", "print('hello from the node'); print('frame written')"]


def test_a_jobs_render_output_is_read_back_by_its_client_and_the_admin(served: Served) -> None:
    served.north.submit_job(job("say", SAY))
    served.wait_status("say", "completed")
    text = served.north.task_log("say")
    assert text.startswith("$ ") and "hello from the node\nframe written\n" in text
    assert served.admin.task_log("say") == text
    assert served.north.task_log("say", tail_bytes=14) == "frame written\n"
    shown = CliRunner().invoke(
        cli, ["log", "say", "--server", served.service.url, "--token", served.north_token]
    )
    assert shown.exit_code == 0 and "hello from the node" in shown.output

    with FarmClient(served.service.url, None) as anonymous:
        for other, status in ((served.south, 404), (anonymous, 401)):
            with pytest.raises(FarmAPIError) as refused:
                other.task_log("say")
            assert refused.value.status == status
            assert "hello" not in refused.value.message


def test_a_shots_log_is_per_task_and_a_task_of_another_job_is_unknown(served: Served) -> None:
    served.north.submit_job(job("shot", SAY, frames="1-2", chunk_size=1, preview_first=False))
    served.north.submit_job(job("other", SAY))
    served.wait_status("shot", "completed")
    served.wait_status("other", "completed")
    with pytest.raises(FarmAPIError) as vague:
        served.north.task_log("shot")
    assert (vague.value.status, vague.value.field) == (422, "task")
    tasks = [t["id"] for t in served.north.job("shot")["tasks"]]
    assert len(tasks) == 2
    assert "hello from the node" in served.north.task_log("shot", task=tasks[1])
    with pytest.raises(FarmAPIError) as stranger:
        served.north.task_log("shot", task="other")
    assert stranger.value.status == 404


def test_a_job_not_run_yet_has_no_log(served: Served) -> None:
    served.admin.set_node_online("n1", False)
    served.north.submit_job(job("waiting", SAY))
    with pytest.raises(FarmAPIError) as none:
        served.north.task_log("waiting")
    assert none.value.status == 404 and "not run" in none.value.message
