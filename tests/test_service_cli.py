"""The remote commands (``render-farm jobs/job/cancel/nodes/status`` and ``submit --server``)
against a running service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_service_api import SHOT_FILE, ServedFarm, job_fields, serve_farm, status_of, wait_for
from typer.testing import CliRunner

from render_farm_manager.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def farm() -> Iterator[ServedFarm]:
    served = serve_farm()
    served.north.submit_job(job_fields("cli-1"))
    served.south.submit_job(job_fields("cli-south"))
    wait_for(lambda: status_of(served, "cli-1") == "running")
    yield served
    served.stop()


def run(farm: ServedFarm, token: str | None, *args: str) -> tuple[int, str]:
    env = {"RENDER_FARM_SERVER": farm.url, "COLUMNS": "200"}
    if token is not None:
        env["RENDER_FARM_TOKEN"] = token
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_jobs_lists_the_clients_own_jobs(farm: ServedFarm) -> None:
    code, output = run(farm, farm.north_token, "jobs")
    assert code == 0, output
    assert "cli-1" in output and "running" in output
    assert "cli-south" not in output
    code, output = run(farm, farm.admin_token, "jobs", "--client", "south")
    assert code == 0 and "cli-south" in output and "cli-1" not in output


def test_job_shows_status_and_tasks(farm: ServedFarm) -> None:
    farm.north.submit_job_file(SHOT_FILE, job_id="cli-shot")
    code, output = run(farm, farm.north_token, "job", "cli-shot", "--tasks", "3")
    assert code == 0, output
    assert "cli-shot" in output and "north" in output
    assert "tasks (first 3)" in output


def test_job_of_another_client_is_unknown(farm: ServedFarm) -> None:
    code, output = run(farm, farm.north_token, "job", "cli-south")
    assert code == 1
    assert "unknown job 'cli-south'" in output


def test_cancel(farm: ServedFarm) -> None:
    farm.north.submit_job(job_fields("cli-cancel"))
    code, output = run(farm, farm.north_token, "cancel", "cli-cancel")
    assert code == 0, output
    assert "cancelled" in output
    assert farm.manager.jobs["cli-cancel"].status == "cancelled"


def test_nodes_and_status(farm: ServedFarm) -> None:
    code, output = run(farm, farm.north_token, "nodes")
    assert code == 0 and "n1" in output and "8 nodes" in output
    code, output = run(farm, farm.admin_token, "status")
    assert code == 0 and "nodes online" in output
    code, output = run(farm, farm.north_token, "status")
    assert code == 0 and "Client north" in output and "premium" in output


def test_no_token_is_a_clear_error(farm: ServedFarm) -> None:
    code, output = run(farm, None, "jobs")
    assert code == 2
    assert "RENDER_FARM_TOKEN" in output
    code, output = run(farm, "rf_wrong", "nodes")
    assert code == 1 and "not valid" in output


def test_submit_uploads_job_files_to_the_server(farm: ServedFarm) -> None:
    code, output = run(
        farm,
        farm.north_token,
        "submit",
        str(SHOT_FILE),
        "--id",
        "cli-up",
        "--deadline",
        "+30h",
        "--server",
        farm.url,
        "--show-tasks",
        "2",
    )
    assert code == 0, output
    assert "cli-up" in output and "tasks (first 2)" in output
    assert farm.manager.jobs["cli-up"].client_id == "north"


def test_submit_sends_nothing_when_one_file_is_bad(farm: ServedFarm, tmp_path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("specificationVersion: jobtemplate-2023-09\nname: x\nsteps: nope\n")
    before = set(farm.manager.jobs)
    code, output = run(
        farm, farm.north_token, "submit", str(SHOT_FILE), str(broken), "--server", farm.url
    )
    assert code == 2
    assert "broken.yaml" in output and "nothing was submitted" in output
    assert set(farm.manager.jobs) == before
