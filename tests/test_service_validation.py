"""Input is checked at the edge: a 422 that names the field, bounded sizes (413 for a body or
job file too large), and nothing half-applied when a request is refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from test_service_api import START, ServedFarm, job_fields, serve_farm, settle

from render_farm_manager.jobs.loader import MAX_JOB_FILE_BYTES

API = "/api/v1"


@pytest.fixture(scope="module")
def farm() -> Iterator[ServedFarm]:
    served = serve_farm()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def http(farm: ServedFarm) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=farm.url + API,
        headers={"Authorization": f"Bearer {farm.admin_token}"},
        timeout=30,
    ) as client:
        yield client


def farm_state(farm: ServedFarm) -> tuple[dict[str, str], int]:
    """What a refused request must leave as it was: every job and its status, and the audit
    log (the state version also moves on some refused manager calls)."""
    jobs = {job_id: str(job.status) for job_id, job in farm.manager.jobs.items()}
    return jobs, len(farm.manager.audit_entries(limit=10_000))


def refused_field(answer: httpx.Response) -> str:
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] in {"invalid_input", "invalid_job_file"}
    assert body["field"] in body["message"] or body["field"] == "file"
    return str(body["field"])


BAD_JOBS: list[tuple[dict[str, Any], str]] = [
    ({k: v for k, v in job_fields("v1").items() if k != "deadline"}, "deadline"),
    (job_fields("v2", estimated_duration_hours=-1), "estimated_duration_hours"),
    (job_fields("v3", colour="blue"), "colour"),
    (job_fields("a/b"), "id"),
    (job_fields("v4", priority="urgent"), "priority"),
    (job_fields("v5", deadline="next tuesday"), "deadline"),
    (job_fields("v6", deadline="9999-01-01T00:00:00"), "deadline"),
    (job_fields("v7", frames="1-200000"), "frames"),
    (job_fields("v8", scene_complexity=11), "scene_complexity"),
    (job_fields("v9", dependencies=["ok"] * 1001), "dependencies"),
    (job_fields("v10", client_id="nobody"), "client_id"),
    (job_fields("v11", steps=[{"name": "render", "chunk_size": 0}]), "steps.0.chunk_size"),
]


@pytest.mark.parametrize(("body", "field"), BAD_JOBS, ids=[f for _, f in BAD_JOBS])
def test_a_bad_job_is_refused_naming_the_field(
    farm: ServedFarm, http: httpx.Client, body: dict[str, Any], field: str
) -> None:
    body.setdefault("client_id", "north")
    before = farm_state(farm)
    assert refused_field(http.post("/jobs", json=body)) == field
    assert farm_state(farm) == before
    assert body["id"] not in farm.manager.jobs


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/jobs?status=sleeping", "status"),
        ("/jobs?limit=0", "limit"),
        ("/jobs?limit=100000", "limit"),
        ("/jobs?offset=-1", "offset"),
        ("/audit?since=yesterday", "since"),
        ("/audit?since=2026-03-02T10:00&until=2026-03-02T09:00", "until"),
        ("/audit?limit=5000", "limit"),
        ("/power-down?keep_awake=-1", "keep_awake"),
        ("/power-plan?lookahead_minutes=-1", "lookahead_minutes"),
        ("/power-plan?asleep=nope", "asleep"),
        ("/jobs/x?task_limit=5000", "task_limit"),
    ],
)
def test_bad_query_parameters_name_the_parameter(http: httpx.Client, path: str, field: str) -> None:
    assert refused_field(http.get(path)) == field


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "POST",
            "/nodes",
            {"id": "v-n", "name": "v", "capabilities": {"cpu_cores": 0, "memory_gb": 1}},
            "capabilities.cpu_cores",
        ),
        ("POST", "/nodes", {"id": "v-n", "name": "v"}, "capabilities"),
        ("POST", "/nodes/n1/maintenance", {"drain": "maybe"}, "drain"),
        (
            "POST",
            "/clients",
            {"id": "v-c", "name": "v", "guaranteed_resources": 150},
            "guaranteed_resources",
        ),
        (
            "POST",
            "/clients",
            {"id": "v-c", "name": "v", "guaranteed_resources": 50, "max_resources": 10},
            "max_resources",
        ),
        ("PUT", "/energy/mode", {"mode": "turbo"}, "mode"),
        ("PUT", "/jobs/x/priority", {"priority": 3}, "priority"),
        ("PUT", "/jobs/x/deadline", {}, "deadline"),
    ],
)
def test_bad_bodies_name_the_field(
    farm: ServedFarm, http: httpx.Client, method: str, path: str, body: Any, field: str
) -> None:
    version = settle(farm, quiet=0.05)
    assert refused_field(http.request(method, path, json=body)) == field
    assert farm.manager.state_version == version


def test_a_malformed_json_body_is_refused(http: httpx.Client) -> None:
    answer = http.post("/jobs", content=b"{not json", headers={"Content-Type": "application/json"})
    assert answer.status_code == 422


def test_a_refused_client_update_changes_nothing(farm: ServedFarm, http: httpx.Client) -> None:
    before = farm.manager.clients["south"].model_dump()
    answer = http.patch(
        "/clients/south",
        json={"sla_tier": "premium", "guaranteed_resources": 80, "max_resources": 20},
    )
    assert refused_field(answer) == "max_resources"
    assert farm.manager.clients["south"].model_dump() == before


def test_a_deadline_outside_the_farms_times_changes_nothing(
    farm: ServedFarm, http: httpx.Client
) -> None:
    farm.north.submit_job(job_fields("v-deadline"))
    before = farm.manager.jobs["v-deadline"].deadline
    answer = http.put("/jobs/v-deadline/deadline", json={"deadline": "1960-01-01T00:00:00"})
    assert refused_field(answer) == "deadline"
    assert farm.manager.jobs["v-deadline"].deadline == before


def test_a_request_body_over_a_megabyte_is_refused(http: httpx.Client) -> None:
    body = job_fields("v-big", name="x" * (1024 * 1024 + 1), client_id="north")
    answer = http.post("/jobs", json=body)
    assert answer.status_code == 413
    assert answer.json()["error"] == "too_large"


def test_a_job_file_over_10_mb_is_refused(farm: ServedFarm, http: httpx.Client) -> None:
    version = settle(farm)
    content = b"#" * (MAX_JOB_FILE_BYTES + 1)
    answer = http.post(
        "/jobs/file", params={"filename": "huge.yaml", "client_id": "north"}, content=content
    )
    assert answer.status_code == 413
    assert answer.json()["field"] in {"file", "body"}

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(11):
            yield b"#" * (1024 * 1024)

    streamed = http.post(
        "/jobs/file", params={"filename": "huge.yaml", "client_id": "north"}, content=chunks()
    )
    assert streamed.status_code == 413
    assert farm.manager.state_version == version


@pytest.mark.parametrize(
    ("params", "content", "field"),
    [
        ({"filename": "shot.blend"}, b"x", "filename"),
        ({"filename": "../etc/shot.yaml"}, b"x", "filename"),
        ({"filename": "shot.yaml"}, b"", "file"),
        ({"filename": "shot.yaml"}, b"specificationVersion: [unclosed", "file"),
        ({"filename": "shot.yaml", "param": "NoEquals"}, b"x", "param"),
        ({"filename": "shot.yaml", "hours": "0"}, b"x", "hours"),
        ({"filename": "shot.yaml", "job_id": "a b"}, b"x", "job_id"),
    ],
)
def test_a_bad_job_file_upload_names_the_field(
    farm: ServedFarm, http: httpx.Client, params: dict[str, str], content: bytes, field: str
) -> None:
    version = settle(farm, quiet=0.05)
    answer = http.post("/jobs/file", params={"client_id": "north", **params}, content=content)
    assert refused_field(answer) == field
    assert farm.manager.state_version == version


def test_a_broken_job_file_is_named_in_the_error(http: httpx.Client) -> None:
    answer = http.post(
        "/jobs/file",
        params={"client_id": "north", "filename": "broken_shot.yaml"},
        content=b"specificationVersion: jobtemplate-2023-09\nname: x\nsteps: nope\n",
    )
    assert answer.status_code == 422
    message = answer.json()["message"]
    assert message.startswith("broken_shot.yaml")
    assert "render-farm-upload" not in message  # the temporary copy is not shown


def test_a_duplicate_job_id_is_a_conflict_and_keeps_the_first(farm: ServedFarm) -> None:
    farm.north.submit_job(job_fields("v-dup", hours=1))
    answer = httpx.post(
        farm.url + API + "/jobs",
        json=job_fields("v-dup", hours=9),
        headers={"Authorization": f"Bearer {farm.north_token}"},
    )
    assert answer.status_code == 409
    assert farm.manager.jobs["v-dup"].estimated_duration_hours == 1
    assert farm.manager.jobs["v-dup"].deadline == START + timedelta(hours=24)
