"""``render-farm serve`` killed with SIGKILL at 50 random instants while clients submit jobs and
the scheduling loop places them: restarted on the same database, it holds every job it
acknowledged (at most the one request in flight besides), none twice, and no node runs two
jobs or a job the farm does not have running on it."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from render_farm_manager.service.server import free_port

pytestmark = pytest.mark.e2e

ADMIN = "crash-test-admin-token-0123456789"
KILLS = 50
HEADERS = {"Authorization": f"Bearer {ADMIN}"}


def start(database: Path, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from render_farm_manager.cli import app; app()", "serve",
               "--db", f"sqlite:///{database}", "--port", str(port), "--cycle-seconds", "0.2",
               "--tokens", str(database.parent / "tokens.json")]  # fmt: skip
    env = dict(os.environ, RENDER_FARM_ADMIN_TOKEN=ADMIN)
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.kill()
    server.wait()
    raise AssertionError("the service did not come up")


def submitter(api: httpx.Client, first: int, acknowledged: list[str], stop: threading.Event):
    deadline = (datetime.now() + timedelta(days=1)).isoformat()
    number = first
    while not stop.is_set():
        job_id = f"job-{number}"
        try:
            body = {"id": job_id, "name": job_id, "client_id": "c", "deadline": deadline,
                    "estimated_duration_hours": 0.5 + number % 3}  # fmt: skip
            answer = api.post("/jobs", json=body)
        except httpx.HTTPError:
            return  # the service died under it
        if answer.status_code != 201:
            return
        acknowledged.append(job_id)
        number += 1


def all_jobs(api: httpx.Client, **filters: str) -> list[dict]:
    jobs: list[dict] = []
    while True:
        page = api.get("/jobs", params={"limit": 1000, "offset": len(jobs), **filters}).json()
        jobs.extend(page["jobs"])
        if len(page["jobs"]) < 1000:
            return jobs


def test_a_killed_service_keeps_every_job_it_acknowledged(tmp_path: Path) -> None:
    database, port = tmp_path / "farm.db", free_port("127.0.0.1")
    url = f"http://127.0.0.1:{port}/api/v1"
    server = start(database, port)
    with httpx.Client(base_url=url, headers=HEADERS, timeout=10) as api:
        for index in range(12):
            api.post("/nodes", json={"id": f"n{index}", "name": f"n{index}", "status": "online",
                                     "capabilities": {"cpu_cores": 16, "memory_gb": 64},
                                     "power_efficiency_rating": 70}).raise_for_status()  # fmt: skip
        api.post("/clients", json={"id": "c", "name": "c"}).raise_for_status()
    rng = random.Random(5)
    acknowledged: list[str] = []
    try:
        for _ in range(KILLS):
            stop = threading.Event()
            with httpx.Client(base_url=url, headers=HEADERS, timeout=10) as api:
                thread = threading.Thread(
                    target=submitter, args=(api, len(acknowledged) + 1000 * _, acknowledged, stop)
                )
                thread.start()
                time.sleep(rng.uniform(0.02, 0.3))
                server.send_signal(signal.SIGKILL)
                server.wait()
                stop.set()
                thread.join()
            server = start(database, port)
            with httpx.Client(base_url=url, headers=HEADERS, timeout=10) as api:
                stored = [j["id"] for j in all_jobs(api)]
                assert len(stored) == len(set(stored))
                missing = set(acknowledged) - set(stored)
                assert not missing, f"acknowledged and lost: {sorted(missing)[:5]}"
                assert len(stored) - len(acknowledged) <= KILLS  # at most one in flight per kill
                running = {j["id"]: j["assigned_node"] for j in all_jobs(api, status="running")}
                nodes = {n["id"]: n.get("current_job_id") for n in api.get("/nodes").json()}
                busy = {job: node for node, job in nodes.items() if job is not None}
                assert busy == running  # each running job on its node, no node twice
        assert len(acknowledged) > 20
    finally:
        server.kill()
        server.wait()
