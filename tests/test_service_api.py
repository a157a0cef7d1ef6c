"""The HTTP service, endpoint by endpoint, through the real stack: uvicorn on a loopback port,
the Python client over httpx, an in-memory manager on a manual clock.

The other ``test_service_*`` modules start their own farm with :func:`serve_farm`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from render_farm_manager.core.clock import ManualClock
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.service.app import create_app
from render_farm_manager.service.auth import TokenStore
from render_farm_manager.service.client import FarmAPIError, FarmClient
from render_farm_manager.service.server import ServiceThread
from render_farm_manager.store import open_manager

START = datetime(2026, 3, 2, 9, 0)
JOBS = Path(__file__).parent.parent / "examples" / "jobs"
SHOT_FILE = JOBS / "openjd" / "blender_shot.yaml"


@dataclass
class ServedFarm:
    service: ServiceThread
    clock: ManualClock
    manager: RenderFarmManager
    tokens: TokenStore
    admin: FarmClient
    north: FarmClient
    south: FarmClient
    admin_token: str
    north_token: str
    south_token: str

    @property
    def url(self) -> str:
        return self.service.url

    def as_token(self, token: str | None) -> FarmClient:
        return FarmClient(self.url, token)

    def stop(self) -> None:
        for client in (self.admin, self.north, self.south):
            client.close()
        self.service.stop()


def wait_for(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def settle(farm: ServedFarm, quiet: float = 0.2) -> int:
    """Wait until the scheduling loop has caught up with the last change (the state version
    stays put for ``quiet`` seconds); returns that version."""
    version = farm.manager.state_version
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = farm.manager.state_version
        if now == version:
            return now
        version = now
    raise AssertionError("the farm did not settle")


def serve_farm(*, run_loop: bool = True, cycle_seconds: float = 3600.0) -> ServedFarm:
    """A farm of two clients (north, south) and eight nodes, served on a free port. With the
    default hour between cycles, only changes make the loop schedule."""
    clock = ManualClock(START)
    tokens = TokenStore(None)
    admin_token = tokens.ensure_admin()
    assert admin_token is not None
    opened: list[RenderFarmManager] = []

    def opener(holder: object) -> RenderFarmManager:
        opened.append(open_manager(None, clock=clock))
        return opened[0]

    app = create_app(opener=opener, tokens=tokens, cycle_seconds=cycle_seconds, run_loop=run_loop)
    service = ServiceThread(app).start()
    admin = FarmClient(service.url, admin_token)
    wait_for(lambda: admin.health()["status"] == "ready")
    admin.add_client({"id": "north", "name": "Northlight", "sla_tier": "premium"})
    admin.add_client({"id": "south", "name": "Southgate"})
    for n in range(1, 9):
        hardware = {"cpu_cores": 32 if n % 2 else 16, "memory_gb": 128}
        admin.add_node({"id": f"n{n}", "name": f"n{n}", "capabilities": hardware})
    north_token = admin.issue_token("north")["token"]
    south_token = admin.issue_token("south")["token"]
    return ServedFarm(
        service=service,
        clock=clock,
        manager=opened[0],
        tokens=tokens,
        admin=admin,
        north=FarmClient(service.url, north_token),
        south=FarmClient(service.url, south_token),
        admin_token=admin_token,
        north_token=north_token,
        south_token=south_token,
    )


def job_fields(job_id: str, hours: float = 2.0, **extra: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "name": f"Shot {job_id}",
        "deadline": (START + timedelta(hours=24)).isoformat(),
        "estimated_duration_hours": hours,
        **extra,
    }


@pytest.fixture(scope="module")
def farm() -> Iterator[ServedFarm]:
    served = serve_farm()
    yield served
    served.stop()


def status_of(farm: ServedFarm, job_id: str) -> str:
    return str(farm.admin.job(job_id)["job"]["status"])


# -- service -------------------------------------------------------------------------------


def test_health_says_ready_and_whoami_names_the_role(farm: ServedFarm) -> None:
    health = farm.admin.health()
    assert health["status"] == "ready"
    assert health["state_version"] > 0
    assert farm.admin.whoami()["role"] == "admin"
    me = farm.north.whoami()
    assert (me["role"], me["client_id"]) == ("client", "north")


# -- jobs ----------------------------------------------------------------------------------


def test_a_submitted_job_is_placed_by_the_loop(farm: ServedFarm) -> None:
    status = farm.north.submit_job(job_fields("api-j1"))
    assert status["client_id"] == "north"
    assert status["id"] == "api-j1"
    wait_for(lambda: status_of(farm, "api-j1") == "running")
    assert farm.admin.job("api-j1")["job"]["assigned_node"] in farm.manager.nodes


def test_a_job_file_is_submitted_as_a_shot_with_tasks(farm: ServedFarm) -> None:
    answer = farm.north.submit_job_file(
        SHOT_FILE, job_id="api-shot", deadline=START + timedelta(days=2), priority="low"
    )
    assert answer["submitted"] is True
    job = answer["job"]
    assert (job["id"], job["client_id"], job["priority"]) == ("api-shot", "north", "low")
    detail = farm.north.job("api-shot", task_limit=5, task_offset=2)
    assert detail["tasks_total"] == detail["job"]["tasks_total"] > 5
    assert len(detail["tasks"]) == 5
    assert all(t["id"].startswith("api-shot/") for t in detail["tasks"])
    assert "previews" in detail["job"]
    first_two = farm.north.job("api-shot", task_limit=2)["tasks"]
    assert [t["id"] for t in first_two] != [t["id"] for t in detail["tasks"][:2]]
    assert farm.north.cancel_job("api-shot")["status"] == "cancelled"  # frees the farm


def test_a_dry_run_checks_a_job_file_and_submits_nothing(farm: ServedFarm) -> None:
    answer = farm.north.submit_job_file(SHOT_FILE, job_id="api-dry", dry_run=True)
    assert answer["submitted"] is False
    assert answer["job"]["id"] == "api-dry"
    assert "api-dry" not in farm.manager.jobs


def test_an_uploaded_templates_relative_paths_point_where_it_came_from(
    farm: ServedFarm, tmp_path: Path
) -> None:
    spin = JOBS / "openjd" / "povray_spin" / "template.yaml"
    answer = farm.north.submit_job_file(spin, job_id="api-spin", dry_run=True)
    scene = f"+I{(spin.parent / 'spin.pov').resolve()}"
    assert scene in answer["job"]["steps"][0]["command"]  # where the file is here
    elsewhere = farm.north.submit_job_file(
        spin, job_id="api-spin", dry_run=True, directory=tmp_path
    )
    assert f"+I{tmp_path / 'spin.pov'}" in elsewhere["job"]["steps"][0]["command"]
    with pytest.raises(FarmAPIError) as refused:
        farm.north.submit_job_file(spin, job_id="api-spin", directory="relative/dir")
    assert (refused.value.status, refused.value.field) == (422, "directory")
    assert "api-spin" not in farm.manager.jobs


def test_jobs_are_listed_with_filters_and_pages(farm: ServedFarm) -> None:
    for n in range(3):
        farm.south.submit_job(job_fields(f"api-list-{n}", priority="high"))
    south = farm.admin.list_jobs(client_id="south", priority="high")
    assert {j["id"] for j in south["jobs"]} >= {f"api-list-{n}" for n in range(3)}
    assert all(j["client_id"] == "south" for j in south["jobs"])
    page = farm.admin.list_jobs(client_id="south", priority="high", limit=1, offset=1)
    assert page["total"] == south["total"] and len(page["jobs"]) == 1
    assert page["jobs"][0]["id"] == south["jobs"][1]["id"]
    wait_for(lambda: status_of(farm, "api-list-2") != "pending")
    farm.admin.pause_job("api-list-2")
    paused = farm.admin.list_jobs(status="paused")
    assert [j["id"] for j in paused["jobs"]] == ["api-list-2"]
    mine = farm.south.list_jobs()
    assert all(j["client_id"] == "south" for j in mine["jobs"])


def test_pause_resume_and_cancel(farm: ServedFarm) -> None:
    farm.north.submit_job(job_fields("api-life", hours=30))
    wait_for(lambda: status_of(farm, "api-life") != "pending")  # a pending job cannot pause
    assert farm.north.pause_job("api-life")["status"] == "paused"
    assert farm.north.resume_job("api-life")["status"] in {"pending", "queued", "running"}
    assert farm.north.cancel_job("api-life")["status"] == "cancelled"
    with pytest.raises(FarmAPIError) as refused:
        farm.north.cancel_job("api-life")
    assert refused.value.status == 409
    assert farm.manager.jobs["api-life"].status == "cancelled"


def test_a_failed_job_is_retried(farm: ServedFarm) -> None:
    farm.north.submit_job(job_fields("api-retry", priority="critical"))
    wait_for(lambda: status_of(farm, "api-retry") == "running")
    # a worker reports a broken scene (worker events are not part of this API)
    farm.manager.report_render_error("api-retry", "scene will not parse", corrupt_scene=True)
    assert status_of(farm, "api-retry") == "failed"
    assert farm.north.retry_job("api-retry")["status"] in {"pending", "queued", "running"}
    assert farm.manager.jobs["api-retry"].error_count == 0


def test_priority_and_deadline_change(farm: ServedFarm) -> None:
    farm.north.submit_job(job_fields("api-edit"))
    assert farm.north.set_job_priority("api-edit", "critical")["priority"] == "critical"
    later = START + timedelta(hours=48)
    status = farm.north.set_job_deadline("api-edit", later)
    assert status["deadline"] == later.isoformat()
    assert farm.manager.jobs["api-edit"].deadline == later
    farm.north.cancel_job("api-edit")
    with pytest.raises(FarmAPIError) as refused:
        farm.north.set_job_priority("api-edit", "low")
    assert refused.value.status == 409
    assert farm.manager.jobs["api-edit"].priority == "critical"
    with pytest.raises(FarmAPIError) as settled:
        farm.north.set_job_deadline("api-edit", later + timedelta(days=1))
    assert settled.value.status == 409
    assert farm.manager.jobs["api-edit"].deadline == later


# -- nodes ---------------------------------------------------------------------------------


def test_nodes_are_added_drained_taken_out_and_brought_back(farm: ServedFarm) -> None:
    added = farm.admin.add_node(
        {
            "id": "g1",
            "name": "gpu box",
            "capabilities": {"cpu_cores": 8, "memory_gb": 64, "gpu_count": 2},
        }
    )
    assert added["status"] == "online"
    assert "g1" in {n["id"] for n in farm.north.nodes()}
    drained = farm.admin.drain_node("g1")
    assert drained["draining"] or drained["status"] == "maintenance"
    assert farm.admin.set_node_online("g1", True)["status"] == "online"
    assert farm.admin.set_node_maintenance("g1", drain=False)["status"] == "maintenance"
    assert farm.admin.set_node_online("g1", False)["status"] == "offline"
    assert farm.admin.set_node_online("g1", True)["status"] == "online"
    farm.admin.remove_node("g1")
    assert "g1" not in farm.manager.nodes
    with pytest.raises(FarmAPIError) as gone:
        farm.admin.drain_node("g1")
    assert gone.value.status == 404


# -- clients and tokens --------------------------------------------------------------------


def test_clients_are_added_updated_and_removed(farm: ServedFarm) -> None:
    farm.admin.add_client({"id": "east", "name": "East", "guaranteed_resources": 10})
    assert "east" in {c["id"] for c in farm.admin.clients()}
    raised = farm.admin.update_client(
        "east", sla_tier="premium", guaranteed_resources=60, max_resources=90
    )
    assert (raised["sla_tier"], raised["guaranteed_resources"], raised["max_resources"]) == (
        "premium",
        60,
        90,
    )
    lowered = farm.admin.update_client("east", guaranteed_resources=5, max_resources=20)
    assert (lowered["guaranteed_resources"], lowered["max_resources"]) == (5, 20)
    assert farm.admin.client_status("east")["sla_tier"] == "premium"
    token = farm.admin.issue_token("east")
    farm.admin.remove_client("east")
    assert "east" not in farm.manager.clients
    with farm.as_token(token["token"]) as east, pytest.raises(FarmAPIError) as revoked:
        east.whoami()
    assert revoked.value.status == 401


def test_a_client_reads_its_own_status(farm: ServedFarm) -> None:
    status = farm.north.client_status("north")
    assert status["id"] == "north" and status["sla_tier"] == "premium"
    assert status["total_jobs"] >= 1


def test_tokens_are_issued_listed_and_revoked(farm: ServedFarm) -> None:
    issued = farm.admin.issue_token("south")
    assert issued["token"].startswith("rf_")
    listed = farm.admin.tokens("south")
    assert issued["token_id"] in {t["id"] for t in listed}
    assert all("sha256" not in t and "token" not in t for t in listed)
    with farm.as_token(issued["token"]) as second:
        assert second.whoami()["client_id"] == "south"
        farm.admin.revoke_token("south", issued["token_id"])
        with pytest.raises(FarmAPIError) as revoked:
            second.whoami()
    assert revoked.value.status == 401
    assert farm.south.whoami()["client_id"] == "south"  # the other token still works


# -- farm, energy, audit -------------------------------------------------------------------


def test_farm_status_energy_and_power_down(farm: ServedFarm) -> None:
    status = farm.admin.farm_status()
    assert status["total_clients"] >= 2
    assert status["scheduling"]["loop_running"] is True
    assert status["scheduling"]["cycles"] >= 1
    energy = farm.north.energy()
    assert energy["mode"] in energy["modes"]
    assert energy["tariff"]["periods"]
    assert farm.admin.set_energy_mode("efficiency")["mode"] == "efficiency"
    assert farm.manager.energy_optimizer.current_energy_mode == "efficiency"
    farm.admin.set_energy_mode("balanced")
    advice = farm.admin.power_down_candidates(keep_awake=0)
    assert isinstance(advice, list)
    assert all({"node_id", "wake_by", "reason"} <= set(a) for a in advice)


def test_the_power_plan_is_served_and_carried_out_through_the_api(farm: ServedFarm) -> None:
    with farm.manager.lock:
        idle = [n.id for n in farm.manager.nodes.values() if n.current_job_id is None]
        assert farm.manager.queue_length == 0 and len(idle) >= 2  # the fixture's farm
    plan = farm.admin.power_plan(keep_awake=0)
    assert sorted(a["node_id"] for a in plan["sleep"]) == sorted(idle)
    assert plan["wake"] == []
    node_id = plan["sleep"][0]["node_id"]
    farm.admin.set_node_online(node_id, False)
    again = farm.admin.power_plan(asleep=[node_id], keep_awake=0)
    assert node_id not in {a["node_id"] for a in again["sleep"]}
    with pytest.raises(FarmAPIError) as awake:  # an online node is not asleep
        farm.admin.power_plan(asleep=[idle[-1]] if idle[-1] != node_id else [idle[0]])
    assert awake.value.status == 422 and awake.value.field == "asleep"
    with pytest.raises(FarmAPIError) as refused:
        farm.north.power_plan()
    assert refused.value.status == 403


def test_the_tariff_is_set_by_an_admin_and_refused_whole_when_bad(farm: ServedFarm) -> None:
    before = farm.north.energy()["tariff"]
    with pytest.raises(FarmAPIError) as refused:
        farm.north.set_energy_tariff([{"start": "07:00", "end": "21:00", "price_per_kwh": 1}])
    assert refused.value.status == 403
    with pytest.raises(FarmAPIError) as empty:
        farm.admin.set_energy_tariff([{"start": "07:00", "end": "07:00", "price_per_kwh": 1}])
    assert empty.value.status == 422 and empty.value.field == "periods"
    assert farm.north.energy()["tariff"] == before
    day = [{"start": "07:00", "end": "21:00", "price_per_kwh": 0.31}]
    energy = farm.admin.set_energy_tariff(day, default_price=0.09)
    assert energy["tariff"]["periods"] == day and energy["tariff"]["default_price"] == 0.09
    assert (
        farm.manager.energy_optimizer.get_time_of_day_energy_price(START.replace(hour=12)) == 0.31
    )
    assert farm.admin.audit(event_type="energy_tariff_changed")["entries"]
    farm.admin.set_energy_tariff(before["periods"], before["default_price"])


def test_audit_queries_by_job_node_client_type_and_time(farm: ServedFarm) -> None:
    farm.north.submit_job(job_fields("api-audit", priority="critical"))
    wait_for(lambda: status_of(farm, "api-audit") == "running")
    by_job = farm.north.audit(job_id="api-audit")["entries"]
    assert by_job[0]["event_type"] == "job_submitted"
    node = farm.manager.jobs["api-audit"].assigned_node_id
    assert node is not None
    by_node = farm.admin.audit(node_id=node, event_type="job_scheduled")["entries"]
    assert "api-audit" in {e["job_id"] for e in by_node}
    by_client = farm.admin.audit(client_id="south", limit=1000)["entries"]
    assert by_client and all(e["client_id"] == "south" for e in by_client)
    by_type = farm.admin.audit(event_type="client_added")["entries"]
    assert {e["client_id"] for e in by_type} >= {"north", "south"}
    everything = farm.admin.audit(limit=1000)["entries"]
    page = farm.admin.audit(limit=2, offset=3)["entries"]
    assert page == everything[3:5]
    before = farm.admin.audit(until=START - timedelta(seconds=1))["entries"]
    assert before == []
    assert farm.admin.audit(since=START, limit=1000)["entries"] == everything


def test_metrics_are_served_to_an_admin(farm: ServedFarm) -> None:
    text = farm.admin.metrics()
    assert "render_farm_queue_depth" in text
