"""``render-farm submit`` end to end, as a user types it, and the job-file loader behind it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from render_farm_manager.cli import app
from render_farm_manager.cli.submit import parse_deadline
from render_farm_manager.core.errors import JobFileError
from render_farm_manager.jobs.loader import job_file_format, load_job_file

EXAMPLES = Path(__file__).parent.parent / "examples"
JOBS = EXAMPLES / "jobs"
FARM = EXAMPLES / "farm.json"
SAMPLES = [
    JOBS / "openjd" / "blender_shot.yaml",
    JOBS / "openjd" / "sim_render_comp.yaml",
    JOBS / "openjd" / "kick_arnold.yaml",
    JOBS / "openjd" / "povray_bundle",
    JOBS / "opencue" / "maya_arnold_shot.xml",
    JOBS / "opencue" / "blender_layers.xml",
    JOBS / "deadline" / "blender_job_info.job",
    JOBS / "deadline" / "vray_job_info.job",
    JOBS / "deadline" / "prman_job_info.job",
]
runner = CliRunner()


def submit(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["submit", *args], env={"COLUMNS": "100"})
    return result.exit_code, result.output


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_every_sample_submits_and_is_split_into_tasks(sample: Path) -> None:
    code, output = submit(str(sample), "--client", "northlight", "--farm", str(FARM), "--json")
    assert code == 0, output
    (status,) = json.loads(output)
    assert status["client_id"] == "northlight"
    assert status["tasks_total"] >= 1
    assert status["frames_total"] == sum(1 for _ in range(status["frames_total"]))


def test_all_samples_at_once_on_the_example_farm_start_rendering() -> None:
    args = [str(s) for s in SAMPLES]
    code, output = submit(*args, "--client", "c", "--farm", str(FARM), "--json")
    assert code == 0, output
    statuses = json.loads(output)
    assert len(statuses) == len(SAMPLES)
    nodes = [t["node"] for s in statuses for t in s["running_tasks"]]
    assert len(nodes) == len(set(nodes)) >= 6  # tasks on many nodes, one per node


def test_the_table_names_the_job_its_frames_and_its_first_tasks() -> None:
    code, output = submit(
        str(JOBS / "openjd" / "blender_shot.yaml"), "--client", "c", "--id", "sh010",
        "--deadline", "+30h", "--priority", "high", "--show-tasks", "3", "--farm", str(FARM),
    )  # fmt: skip
    assert code == 0, output
    assert "sh010" in output and "0/240" in output
    assert "sh010: " in output and "first 3" in output
    assert "Render/1" in output and "1001" in output


def test_a_parameter_override_changes_the_frames() -> None:
    code, output = submit(
        str(JOBS / "openjd" / "blender_shot.yaml"), "--client", "c", "--json",
        "--param", "Frames=1001-1010", "--farm", str(FARM),
    )  # fmt: skip
    assert code == 0, output
    assert json.loads(output)[0]["frames_total"] == 10


def test_a_bad_file_among_good_ones_submits_nothing_and_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("specificationVersion: jobtemplate-2023-09\nname: x\nsteps: [\n")
    code, output = submit(str(SAMPLES[0]), str(broken), "--client", "c")
    assert code == 2
    assert "broken.yaml" in output and "nothing was submitted" in output


def test_a_bad_parameter_value_is_an_error_naming_the_field() -> None:
    code, output = submit(str(SAMPLES[0]), "--client", "c", "--param", "Frames=abc")
    assert code == 2
    assert "blender_shot.yaml" in output and "abc" in output


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["--param", "no-equals-sign"], "NAME=VALUE"),
        (["--deadline", "tomorrow-ish"], "ISO 8601"),
        (["--priority", "urgent"], "urgent"),
    ],
)
def test_bad_options_are_refused(args: list[str], hint: str) -> None:
    code, output = submit(str(SAMPLES[0]), "--client", "c", *args)
    assert code == 2
    assert hint in output


def test_one_id_for_several_files_is_refused() -> None:
    code, output = submit(str(SAMPLES[0]), str(SAMPLES[2]), "--client", "c", "--id", "x")
    assert code == 2 and "--id" in output


def test_a_missing_file_is_an_error() -> None:
    code, output = submit("no/such/job.yaml", "--client", "c")
    assert code == 2 and "no such file" in output


def test_relative_and_absolute_deadlines() -> None:
    now = datetime(2026, 12, 3, 8, 0)
    assert parse_deadline("+90m", now) == datetime(2026, 12, 3, 9, 30)
    assert parse_deadline("+2d", now) == datetime(2026, 12, 5, 8, 0)
    assert parse_deadline("2026-12-04T09:00", now) == datetime(2026, 12, 4, 9, 0)
    assert parse_deadline(None, now) is None


# -- the loader --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.yaml", "openjd"),
        ("a.YML", "openjd"),
        ("a.json", "openjd"),
        ("a.xml", "opencue"),
        ("a_job_info.job", "deadline"),
        ("a.txt", "deadline"),
    ],
)
def test_the_format_is_told_by_the_file(tmp_path: Path, name: str, kind: str) -> None:
    assert job_file_format(tmp_path / name) == kind


def test_an_unknown_file_type_is_refused_with_the_formats_listed(tmp_path: Path) -> None:
    file = tmp_path / "job.blend"
    file.write_bytes(b"BLENDER")
    with pytest.raises(JobFileError, match=r"job\.blend.*Open Job Description"):
        load_job_file(file)


def test_a_deadline_job_finds_its_plugin_info_beside_it() -> None:
    description = load_job_file(JOBS / "deadline" / "blender_job_info.job")
    assert description.format == "deadline"
    assert description.steps[0].command  # built from the plugin info file


def test_parameters_are_refused_for_formats_without_them() -> None:
    with pytest.raises(JobFileError, match="--param"):
        load_job_file(JOBS / "opencue" / "maya_arnold_shot.xml", {"Frames": "1-2"})


def test_a_job_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    big.write_bytes(b" " * (10 * 1024 * 1024 + 1))
    with pytest.raises(JobFileError, match="larger than 10 MB"):
        load_job_file(big)


@pytest.mark.parametrize("frames", [5, "1-3", None])
def test_frames_reported_must_be_a_list_of_numbers(frames) -> None:
    from builders import make_farm

    from render_farm_manager.core.errors import InvalidInputError
    from render_farm_manager.core.models import RenderJob

    manager, clock = make_farm(nodes=1)
    manager.submit_job(
        RenderJob(
            id="s", name="s", client_id="c1", deadline=clock.now().replace(year=2030),
            estimated_duration_hours=1, frames="1-3",
        )
    )  # fmt: skip
    task = manager.tasks_of("s")[0]
    with pytest.raises(InvalidInputError, match="frames"):
        manager.report_frames_done(task.id, frames)
    assert task.frames_done == []
