"""Prometheus metrics, and the scheduling loop: jobs submitted through the API are placed by
the service's own loop, never by the request that submitted them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_service_api import ServedFarm, job_fields, serve_farm, settle, status_of, wait_for

NAMED_SERIES = {
    "render_farm_scheduling_cycle_seconds": "histogram",
    "render_farm_queue_depth": "gauge",
    "render_farm_running": "gauge",
    "render_farm_utilization_ratio": "gauge",
    "render_farm_jobs_at_risk": "gauge",
    "render_farm_preemptions": "counter",
    "render_farm_node_failures": "counter",
    "render_farm_energy_kwh": "counter",
    "render_farm_energy_cost": "counter",
    "render_farm_nodes": "gauge",
    "render_farm_jobs": "gauge",
    "render_farm_up": "gauge",
}


@pytest.fixture(scope="module")
def farm() -> Iterator[ServedFarm]:
    served = serve_farm()
    yield served
    served.stop()


def scrape(farm: ServedFarm) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Samples by metric family name, then by their labels."""
    families = {}
    for family in text_string_to_metric_families(farm.admin.metrics()):
        assert NAMED_SERIES.get(family.name, family.type) == family.type, family.name
        families[family.name] = {
            (s.name, *sorted(s.labels.items())): s.value for s in family.samples
        }
    return families


def test_the_exposition_parses_and_has_every_named_series(farm: ServedFarm) -> None:
    families = scrape(farm)
    assert set(NAMED_SERIES) <= set(families)
    assert families["render_farm_up"][("render_farm_up",)] == 1.0
    nodes = families["render_farm_nodes"]
    assert nodes[("render_farm_nodes", ("status", "online"))] == len(farm.manager.nodes)


def test_queue_running_utilization_and_risk_follow_the_farm(farm: ServedFarm) -> None:
    for n in range(10):
        farm.north.submit_job(job_fields(f"m-{n}", hours=5))
    # due before it can possibly finish: at risk from the start
    late = job_fields(
        "m-late", hours=50, deadline=(farm.clock.now() + timedelta(hours=2)).isoformat()
    )
    farm.south.submit_job(late)
    wait_for(lambda: status_of(farm, "m-0") == "running")
    settle(farm)
    families = scrape(farm)
    running = families["render_farm_running"]
    queue = families["render_farm_queue_depth"]
    north_running = running[("render_farm_running", ("client_id", "north"))]
    north_waiting = queue[("render_farm_queue_depth", ("client_id", "north"))]
    south_running = running[("render_farm_running", ("client_id", "south"))]
    assert north_running + south_running == len(farm.manager.nodes)  # 8 nodes, all busy
    assert north_running + north_waiting == 10
    util = families["render_farm_utilization_ratio"][("render_farm_utilization_ratio",)]
    assert util == 1.0
    risk = families["render_farm_jobs_at_risk"]
    assert risk[("render_farm_jobs_at_risk", ("client_id", "south"))] == 1
    cycles = families["render_farm_scheduling_cycle_seconds"]
    assert cycles[("render_farm_scheduling_cycle_seconds_count",)] >= 1


def test_node_failures_and_energy_are_counted(farm: ServedFarm) -> None:
    before = scrape(farm)["render_farm_node_failures"][("render_farm_node_failures_total",)]
    farm.manager.handle_node_failure("n1", "power supply")  # a worker event
    farm.clock.advance(timedelta(hours=1))
    farm.manager.run_scheduling_cycle()  # (the test's own cycle, to account the hour's energy)
    families = scrape(farm)
    assert families["render_farm_node_failures"][("render_farm_node_failures_total",)] == before + 1
    assert families["render_farm_energy_kwh"][("render_farm_energy_kwh_total",)] > 0
    assert families["render_farm_energy_cost"][("render_farm_energy_cost_total",)] > 0


def test_each_app_has_its_own_registry() -> None:
    other = serve_farm(run_loop=False)
    try:
        families = scrape(other)
        count = families["render_farm_scheduling_cycle_seconds"]
        assert count[("render_farm_scheduling_cycle_seconds_count",)] == 0
    finally:
        other.stop()


def test_requests_never_run_a_scheduling_cycle() -> None:
    """Without the loop, nothing is placed however many requests come in."""
    idle = serve_farm(run_loop=False)
    try:
        idle.north.submit_job(job_fields("idle-1"))
        for _ in range(5):
            assert idle.north.job("idle-1")["job"]["status"] == "pending"
            idle.north.list_jobs()
            idle.admin.farm_status()
            idle.admin.metrics()
        time.sleep(0.3)
        assert status_of(idle, "idle-1") == "pending"
        assert idle.admin.audit(event_type="scheduling_cycle")["entries"] == []
        assert idle.admin.farm_status()["scheduling"]["loop_running"] is False
    finally:
        idle.stop()


def test_the_loop_schedules_on_changes_and_on_its_timer() -> None:
    timed = serve_farm(cycle_seconds=0.2)
    try:
        first = timed.admin.farm_status()["scheduling"]["cycles"]
        time.sleep(0.7)  # no change at all: the timer alone runs cycles
        assert timed.admin.farm_status()["scheduling"]["cycles"] >= first + 2
        timed.north.submit_job(job_fields("timed-1"))
        wait_for(lambda: status_of(timed, "timed-1") == "running")
    finally:
        timed.stop()
