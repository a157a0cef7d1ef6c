"""Access: every endpoint refuses a request without a token (401), an admin-only endpoint
refuses a client's token (403), and another client's job or status answers 404 exactly as an
unknown id does. A refused request never shows the other client's data and never changes the
farm (the state version and the other client's job are the same afterwards)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from test_service_api import (
    SHOT_FILE,
    ServedFarm,
    job_fields,
    serve_farm,
    settle,
    status_of,
    wait_for,
)

API = "/api/v1"
SOUTH_JOB = "acc-south"
NORTH_JOB = "acc-north"

# (method, path, JSON body); {job} is filled in.
JOB_ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/jobs/{job}", None),
    ("POST", "/jobs/{job}/cancel", None),
    ("POST", "/jobs/{job}/pause", None),
    ("POST", "/jobs/{job}/resume", None),
    ("POST", "/jobs/{job}/retry", None),
    ("PUT", "/jobs/{job}/priority", {"priority": "critical"}),
    ("PUT", "/jobs/{job}/deadline", {"deadline": "2026-03-09T09:00:00"}),
]
ADMIN_ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    (
        "POST",
        "/nodes",
        {"id": "x1", "name": "x1", "capabilities": {"cpu_cores": 1, "memory_gb": 1}},
    ),
    ("DELETE", "/nodes/n1", None),
    ("POST", "/nodes/n1/drain", None),
    ("POST", "/nodes/n1/maintenance", {"drain": False}),
    ("POST", "/nodes/n1/offline", None),
    ("POST", "/nodes/n1/online", None),
    ("GET", "/clients", None),
    ("POST", "/clients", {"id": "west", "name": "West"}),
    ("PATCH", "/clients/south", {"sla_tier": "basic"}),
    ("PATCH", "/clients/north", {"sla_tier": "premium", "max_resources": 100}),
    ("DELETE", "/clients/south", None),
    ("POST", "/clients/north/tokens", None),
    ("GET", "/clients/north/tokens", None),
    ("DELETE", "/clients/south/tokens/tok_0", None),
    ("GET", "/farm", None),
    ("PUT", "/energy/mode", {"mode": "performance"}),
    ("GET", "/power-down", None),
    ("GET", "/power-plan", None),
]
CLIENT_ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/whoami", None),
    ("GET", "/jobs", None),
    ("POST", "/jobs", job_fields("acc-new")),
    ("GET", "/nodes", None),
    ("GET", "/clients/north", None),
    ("GET", "/energy", None),
    ("GET", "/audit", None),
]


@pytest.fixture(scope="module")
def farm() -> Iterator[ServedFarm]:
    served = serve_farm()
    served.south.submit_job(job_fields(SOUTH_JOB, priority="critical"))
    served.north.submit_job(job_fields(NORTH_JOB))
    wait_for(lambda: status_of(served, SOUTH_JOB) == "running")
    yield served
    _http.close()
    served.stop()


_http = httpx.Client(timeout=10)


def call(farm: ServedFarm, token: str | None, method: str, path: str, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return send(farm, headers, method, path, body)


def send(farm: ServedFarm, headers: dict[str, str], method: str, path: str, body: Any) -> Any:
    return _http.request(method, farm.url + path, json=body, headers=headers)


def snapshot(farm: ServedFarm) -> tuple[int, dict[str, Any]]:
    south = farm.manager.jobs[SOUTH_JOB].model_dump()
    return settle(farm, quiet=0.05), south


def every_endpoint() -> list[tuple[str, str, dict[str, Any] | None]]:
    jobs = [(m, API + p.format(job=SOUTH_JOB), b) for m, p, b in JOB_ENDPOINTS]
    others = [(m, API + p, b) for m, p, b in ADMIN_ENDPOINTS + CLIENT_ENDPOINTS]
    return [
        *jobs,
        *others,
        ("POST", API + "/jobs/file?filename=shot.yaml", None),
        ("GET", "/metrics", None),
    ]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer rf_not-a-token", "Bearer " + "x" * 600, "Basic bm9ydGg6c2VjcmV0"],
    ids=["none", "wrong", "oversized", "basic"],
)
def test_no_valid_token_gets_401_everywhere_and_changes_nothing(
    farm: ServedFarm, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    before = snapshot(farm)
    for method, path, body in every_endpoint():
        answer = send(farm, headers, method, path, body)
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer"
        assert SOUTH_JOB not in answer.text
    assert snapshot(farm) == before


def test_a_client_token_gets_403_on_admin_endpoints_and_changes_nothing(
    farm: ServedFarm,
) -> None:
    before = snapshot(farm)
    clients_before = {c: farm.manager.clients[c].model_dump() for c in farm.manager.clients}
    for method, path, body in [(m, API + p, b) for m, p, b in ADMIN_ENDPOINTS] + [
        ("GET", "/metrics", None)
    ]:
        answer = call(farm, farm.north_token, method, path, body)
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json()["error"] == "forbidden"
    assert snapshot(farm) == before
    assert {c: farm.manager.clients[c].model_dump() for c in farm.manager.clients} == clients_before
    assert len(farm.tokens.tokens_of("north")) == 1
    assert farm.manager.nodes["n1"].status == "online"


def test_another_clients_job_answers_404_like_an_unknown_job(farm: ServedFarm) -> None:
    before = snapshot(farm)
    for method, path, body in JOB_ENDPOINTS:
        theirs = call(farm, farm.north_token, method, API + path.format(job=SOUTH_JOB), body)
        unknown = call(farm, farm.north_token, method, API + path.format(job="no-such"), body)
        assert theirs.status_code == unknown.status_code == 404, (method, path, theirs.text)
        assert theirs.json()["error"] == unknown.json()["error"] == "not_found"
        assert theirs.json()["message"].replace(SOUTH_JOB, "no-such") == unknown.json()["message"]
    assert snapshot(farm) == before


def test_another_clients_status_audit_and_listing_answer_404(farm: ServedFarm) -> None:
    before = snapshot(farm)
    for path in (
        "/clients/south",
        "/jobs?client_id=south",
        "/audit?client_id=south",
        f"/audit?job_id={SOUTH_JOB}",
    ):
        answer = call(farm, farm.north_token, "GET", API + path)
        assert answer.status_code == 404, (path, answer.text)
        assert SOUTH_JOB not in answer.text or "unknown job" in answer.text
    assert snapshot(farm) == before


def test_a_client_cannot_submit_for_or_depend_on_another_client(farm: ServedFarm) -> None:
    before = snapshot(farm)
    for body, field in (
        (job_fields("acc-x1", client_id="south"), "client_id"),
        (job_fields("acc-x2", dependencies=[SOUTH_JOB]), "dependencies"),
    ):
        answer = call(farm, farm.north_token, "POST", API + "/jobs", body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == field
    upload = httpx.post(
        f"{farm.url}{API}/jobs/file",
        params={"filename": SHOT_FILE.name, "client_id": "south"},
        content=SHOT_FILE.read_bytes(),
        headers={"Authorization": f"Bearer {farm.north_token}"},
    )
    assert upload.status_code == 422 and upload.json()["field"] == "client_id"
    assert snapshot(farm) == before
    assert not {"acc-x1", "acc-x2"} & set(farm.manager.jobs)


def test_a_client_sees_only_its_own_data(farm: ServedFarm) -> None:
    jobs = farm.north.list_jobs(limit=1000)["jobs"]
    assert jobs and {j["client_id"] for j in jobs} == {"north"}
    entries = farm.north.audit(limit=1000)["entries"]
    assert entries and {e["client_id"] for e in entries} == {"north"}
    assert SOUTH_JOB not in str(entries)
    nodes = farm.north.nodes()
    south_node = farm.manager.jobs[SOUTH_JOB].assigned_node_id
    assert south_node is not None
    shown = next(n for n in nodes if n["id"] == south_node)
    assert shown["current_job_id"] is None
    assert SOUTH_JOB not in str(nodes)
    # the admin sees it
    assert next(n for n in farm.admin.nodes() if n["id"] == south_node)["current_job_id"]
    own = farm.north.client_status("north")
    assert SOUTH_JOB not in str(own)


def test_a_client_changes_its_own_jobs(farm: ServedFarm) -> None:
    changed = farm.north.set_job_priority(NORTH_JOB, "high")
    assert changed["priority"] == "high"
    assert farm.manager.jobs[NORTH_JOB].priority == "high"
