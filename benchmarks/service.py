"""The service under load on loopback (prints figures; not a test).

    uv run python benchmarks/service.py                  # SQLite, and PostgreSQL if reachable
    uv run python benchmarks/service.py --seconds 10     # shorter runs

For each store, ``render-farm serve`` is started as its own process (uvicorn, one worker, the
scheduling loop running every 5 s and on changes), with 100 nodes and 8 clients. Then:

* **Submissions**: 8 concurrent clients (each with its own token and connection, one wrk run
  each) submit jobs as fast as the service acknowledges them, for ``--seconds`` (60 by
  default). Afterwards the job
  list must hold exactly the acknowledged jobs: nothing lost, nothing twice. Goals: >= 500/s
  on SQLite, >= 1,000/s on PostgreSQL.
* **Status**: 100 concurrent readers ask for the status of random jobs for ``--seconds / 4``;
  p50 and p99 latency. Goal: p99 <= 50 ms.

The load comes from ``wrk`` (``apt-get install wrk``; C, little CPU) on the same 2-core machine
as the server: the figures are the pair's, not the server's alone.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from render_farm_manager.service.server import free_port

sys.path.insert(0, str(Path(__file__).parent))
from pg_database import postgres_database

ADMIN = "benchmark-admin-token-0123456789"


def start_server(db: str, directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port("127.0.0.1")
    env = dict(os.environ, RENDER_FARM_ADMIN_TOKEN=ADMIN)
    command = [sys.executable, "-c", "from render_farm_manager.cli import app; app()", "serve",
               "--db", db, "--port", str(port), "--tokens", str(directory / "tokens.json"),
               "--cycle-seconds", "5"]  # fmt: skip
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"the service did not start: {server.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]


def set_up(url: str, clients: int) -> list[str]:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    tokens = []
    with httpx.Client(base_url=f"{url}/api/v1", headers=admin, timeout=30) as api:
        for index in range(100):
            api.post("/nodes", json={
                "id": f"node-{index}", "name": f"node-{index}", "status": "online",
                "capabilities": {"cpu_cores": 32, "memory_gb": 128, "gpu_count": index % 2,
                                 "gpu_memory_gb": 24.0 * (index % 2)},
                "power_efficiency_rating": 70,
            }).raise_for_status()  # fmt: skip
        for index in range(clients):
            client_id = f"client-{index}"
            api.post("/clients", json={"id": client_id, "name": client_id}).raise_for_status()
            tokens.append(api.post(f"/clients/{client_id}/tokens").json()["token"])
    return tokens


SUBMIT_SCRIPT = """
local token = os.getenv("RF_TOKEN")
local prefix = os.getenv("RF_PREFIX")
local deadline = os.getenv("RF_DEADLINE")
local counter = 0
local id = 0
setup = function(thread)
  id = id + 1
  thread:set("tid", id)
end
request = function()
  counter = counter + 1
  local job = prefix .. "-" .. tid .. "-" .. counter
  local body = '{"id":"' .. job .. '","name":"' .. job .. '","deadline":"' .. deadline ..
    '","estimated_duration_hours":' .. (1 + counter % 5) .. '}'
  return wrk.format("POST", "/api/v1/jobs", {["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json"}, body)
end
"""

STATUS_SCRIPT = """
local token = os.getenv("RF_TOKEN")
local prefix = os.getenv("RF_PREFIX")
local jobs = tonumber(os.getenv("RF_JOBS"))
math.randomseed(os.time())
request = function()
  local job = prefix .. "-1-" .. math.random(1, jobs)
  return wrk.format("GET", "/api/v1/jobs/" .. job .. "?task_limit=0",
    {["Authorization"] = "Bearer " .. token})
end
"""


def stored_ids(url: str) -> list[str]:
    ids: list[str] = []
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=60) as api:
        while True:
            page = api.get("/jobs", params={"limit": 1000, "offset": len(ids)})
            page.raise_for_status()
            found = [job["id"] for job in page.json()["jobs"]]
            ids.extend(found)
            if len(found) < 1000:
                return ids


def check_nothing_lost(ids: list[str], clients: int, acknowledged: int) -> str:
    """Each client's one connection submitted ``c<i>-1-1``, ``-2``, ... in order: the store
    must hold an unbroken run for each (nothing lost), each id once (nothing twice),
    and at most one more per client than wrk saw acknowledged (the request in flight when it
    stopped)."""
    runs: dict[str, list[int]] = {}
    for job_id in ids:
        prefix, _, number = job_id.rpartition("-")
        runs.setdefault(prefix, []).append(int(number))
    # (wrk builds one request before it starts sending: a run may begin at 2)
    whole = all(sorted(n) == list(range(min(n), min(n) + len(n))) for n in runs.values())
    extra = len(ids) - acknowledged
    if whole and len(runs) == clients and len(set(ids)) == len(ids) and 0 <= extra <= clients:
        return f"every client's jobs an unbroken run, none twice; {extra} in flight at the stop"
    return "MISMATCH: jobs lost or stored twice"


def wrk(url: str, script: str, connections: int, seconds: float, env: dict[str, str]) -> str:
    """Run wrk with a Lua script; its report."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        result = subprocess.run(
            ["wrk", f"-t{min(2, connections)}", f"-c{connections}",
             f"-d{max(1, round(seconds))}s", "--latency", "-s", file.name, url],
            env=dict(os.environ, **env), capture_output=True, text=True, check=True,
        )  # fmt: skip
    finally:
        os.unlink(file.name)
    return result.stdout


def figure(report: str, pattern: str) -> str:
    found = re.search(pattern, report, re.MULTILINE)
    return found.group(1) if found else "?"


def to_ms(text: str) -> float:
    value = float(re.sub(r"[a-z]+$", "", text))
    unit = re.sub(r"^[0-9.]+", "", text)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}.get(unit, float("nan"))


def load(url: str, tokens: list[str], seconds: float) -> None:
    deadline = (datetime.now() + timedelta(days=2)).replace(microsecond=0).isoformat()
    # 8 clients at once: each wrk connection submits as one of the 8 clients in turn would need
    # 8 scripts; one client token per wrk run, 8 runs side by side
    reports: list[str] = []
    errors: list[BaseException] = []

    def one(index: int, token: str) -> None:
        try:
            env = {"RF_TOKEN": token, "RF_PREFIX": f"c{index}", "RF_DEADLINE": deadline}
            reports.append(wrk(url, SUBMIT_SCRIPT, 1, seconds, env))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=one, args=(i, t)) for i, t in enumerate(tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    sent = sum(int(figure(r, r"(\d+) requests in")) for r in reports)
    refused = sum(
        int(figure(r, r"Non-2xx or 3xx responses: (\d+)")) for r in reports if "Non-2xx" in r
    )
    ids = stored_ids(url)
    accepted = sent - refused
    verdict = check_nothing_lost(ids, len(tokens), accepted)
    print(f"  submissions: {accepted:,} in {seconds:.0f} s = {accepted / seconds:,.0f}/s "
          f"by {len(tokens)} concurrent clients ({refused} refused); stored: {len(ids):,} "
          f"({verdict})")  # fmt: skip
    per_client = accepted // len(tokens)
    env = {"RF_TOKEN": tokens[0], "RF_PREFIX": "c0", "RF_JOBS": str(max(1, per_client // 2))}
    report = wrk(url, STATUS_SCRIPT, 100, seconds / 4, env)
    p50 = to_ms(figure(report, r"^\s+50%\s+(\S+)"))
    p99 = to_ms(figure(report, r"^\s+99%\s+(\S+)"))
    rate = figure(report, r"Requests/sec:\s+(\S+)")
    print(f"  status: 100 concurrent readers, {rate} reads/s: p50 {p50:.1f} ms, "
          f"p99 {p99:.1f} ms (goal p99 <= 50 ms)")  # fmt: skip


def run(label: str, db: str, seconds: float, directory: Path) -> None:
    print(f"{label}:")
    server, url = start_server(db, directory)
    try:
        tokens = set_up(url, 8)
        load(url, tokens, seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stderr is not None:
            server.stderr.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="submission run length")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        run("SQLite", f"sqlite:///{directory}/farm.db", args.seconds, Path(directory))
        pg = postgres_database("rfm_bench_service")
        if pg is not None:
            (Path(directory) / "pg").mkdir()
            run("PostgreSQL", pg, args.seconds, Path(directory) / "pg")


if __name__ == "__main__":
    main()
