"""Open Job Description import: the sample templates and bundle, parameter resolution, and the
errors a broken file raises (file, place in it, problem)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from render_farm_manager.core.errors import JobFileError
from render_farm_manager.core.models import JobPriority, RenderJob
from render_farm_manager.jobs.description import JobDescription
from render_farm_manager.jobs.expansion import plan_tasks
from render_farm_manager.jobs.frame_range import parse_frames
from render_farm_manager.jobs.openjd import load_openjd, parse_openjd

SAMPLES = Path(__file__).resolve().parent.parent / "examples" / "jobs" / "openjd"
BLENDER = SAMPLES / "blender_shot.yaml"
SIM_RENDER_COMP = SAMPLES / "sim_render_comp.yaml"
KICK = SAMPLES / "kick_arnold.yaml"
POVRAY = SAMPLES / "povray_bundle"
NOW = datetime(2026, 11, 20, 9, 0)


def tasks_per_step(description: JobDescription) -> Counter[str]:
    """Tasks of each step, without the preview-first reordering (plain chunks)."""
    job = description.model_copy(update={"preview_first": False}).to_job(now=NOW, client_id="c1")
    return Counter(task.step.name for task in plan_tasks(job))


def assert_each_frame_once(job: RenderJob) -> None:
    tasks = plan_tasks(job)
    for step in job.steps:
        expected = parse_frames(step.frames) if step.frames else []
        rendered = [f for task in tasks if task.step.name == step.name for f in task.frames]
        assert sorted(rendered) == sorted(expected)


def template(steps: str, *, head: str = "", parameters: str = "") -> str:
    """A small template: ``steps`` and ``parameters`` are YAML list items, indented by 2."""
    text = f"specificationVersion: jobtemplate-2023-09\n{head}name: test job\n"
    if parameters:
        text += f"parameterDefinitions:\n{parameters}"
    return text + f"steps:\n{steps}"


ECHO_STEP = """\
  - name: Render
    script:
      actions:
        onRun:
          command: echo
"""


# ---------------------------------------------------------------- the samples


def test_blender_shot_chunks_gpu_and_farm_fields() -> None:
    job = load_openjd(BLENDER)
    assert job.format == "openjd"
    assert job.source == str(BLENDER)
    assert job.name == "hc040_0110 lighting v12"
    [step] = job.steps
    assert step.name == "Render"
    assert (step.frames, step.chunk_size, step.target_task_seconds) == ("1001-1240", 8, 1800.0)
    assert step.requires_gpu is True
    assert (step.gpu_count, step.gpu_memory_gb) == (1, 24.0)
    assert (step.cpu_requirements, step.memory_requirements_gb) == (16, 64.0)
    # One step: the job carries the same requirements.
    assert (job.requires_gpu, job.gpu_count, job.memory_requirements_gb) == (True, 1, 64.0)
    assert job.os == "linux"
    assert job.client_id == "harbour-pictures"
    assert job.priority is JobPriority.HIGH
    assert job.deadline == datetime(2026, 12, 4, 18, 0, tzinfo=UTC)
    assert job.estimated_duration_hours == 60.0
    assert step.command[:3] == [
        "blender",
        "--background",
        "/mnt/projects/harbour_chase/shots/hc040_0110/lighting/hc040_0110_lgt_v012.blend",
    ]
    assert step.command[7:11] == ["--frame-start", "{start}", "--frame-end", "{end}"]
    assert not any("{{" in arg for arg in step.command)


def test_sim_render_comp_steps_and_dependencies() -> None:
    job = load_openjd(SIM_RENDER_COMP)
    simulate, render, comp = job.steps
    assert [s.name for s in job.steps] == ["Simulate", "Render", "Composite"]
    assert (simulate.depends_on, render.depends_on, comp.depends_on) == (
        [],
        ["Simulate"],
        ["Render"],
    )
    assert simulate.frames is None  # no task parameters: one task
    assert simulate.command[-2:] == ["--frames", "1-120"]
    assert (render.frames, render.chunk_size) == ("1-120", None)
    assert (comp.frames, comp.chunk_size, comp.target_task_seconds) == ("1-120", 20, None)
    assert (simulate.cpu_requirements, simulate.memory_requirements_gb) == (32, 128.0)
    assert (render.gpu_count, render.gpu_memory_gb, render.requires_gpu) == (2, 16.0, True)
    assert simulate.requires_gpu is None
    # The single-valued Layer parameter is written into the command.
    assert "/mnt/renders/stormwatch/sw210_0040/beauty/beauty.$F4.exr" in render.command
    assert render.command[3:5] == ["--frame", "{start}"]
    assert comp.command[:4] == ["nuke", "-x", "-F", "{frames}"]
    # Licences: the job's union, and each step its own.
    assert job.limits == {"nuke": 1}
    assert (simulate.limits, render.limits, comp.limits) == ({}, {}, {"nuke": 1})
    assert job.required_attributes == {"karma": ["karma_xpu"]}
    assert job.os == "linux"
    assert job.machine_limit == 12
    assert job.client_id == "stormwatch-tv"
    # Several steps: job-level requirements are left to the steps.
    assert job.requires_gpu is None and job.cpu_requirements is None


def test_kick_arnold_licence_becomes_a_limit() -> None:
    job = load_openjd(KICK)
    [step] = job.steps
    assert job.limits == {"arnold": 1}
    assert step.limits == {"arnold": 1}
    assert job.required_attributes == {"renderer": ["arnold7"]}
    assert job.machine_limit == 10
    assert job.priority is JobPriority.MEDIUM
    assert job.client_id is None
    assert (step.frames, step.chunk_size) == ("1001-1100", None)
    assert (step.cpu_requirements, step.memory_requirements_gb) == (24, 96.0)
    assert step.requires_gpu is None
    assert (
        step.command[2]
        == "/mnt/projects/tidal_lock/shots/tl120_0230/ass/tl120_0230_beauty.{start}.ass"
    )


def test_povray_bundle_values_win_over_defaults() -> None:
    job = load_openjd(POVRAY)
    assert job.source == str(POVRAY)
    assert job.name == "lighthouse dusk 1920x1080"
    [step] = job.steps
    assert (step.frames, step.chunk_size) == ("1-120", 6)
    assert step.command[0] == "povray"
    assert "+I/mnt/projects/lighthouse/scene/lighthouse.pov" in step.command
    assert step.command[-3:] == ["+SF{start}", "+EF{end}", "-D"]
    assert "+KFF120" in step.command
    # RenderFarm* values from the bundle, though the template does not declare them.
    assert (job.client_id, job.priority, job.machine_limit) == (
        "harbour-pictures",
        JobPriority.LOW,
        8,
    )
    assert job.parameters["Width"] == "1920"
    assert job.parameters["RenderFarmMachineLimit"] == "8"


def test_explicit_parameters_win_over_bundle_values() -> None:
    job = load_openjd(
        POVRAY,
        {"AnimationFrames": "48", "FramesPerTask": "12", "RenderFarmPriority": "critical"},
    )
    [step] = job.steps
    assert (step.frames, step.chunk_size) == ("1-48", 12)
    assert "+KFF48" in step.command
    assert job.priority is JobPriority.CRITICAL
    assert job.name == "lighthouse dusk 1920x1080"  # Width/Height still from the bundle


def test_parameter_override_of_a_template_file() -> None:
    job = load_openjd(
        BLENDER,
        {
            "Frames": "1001-1010,1100",
            "Shot": "hc040_0120",
            "RenderFarmClient": "someone-else",
            "RenderFarmDeadline": "2026-12-01T12:00:00",
        },
    )
    assert job.name == "hc040_0120 lighting v12"
    assert job.steps[0].frames == "1001-1010,1100"
    assert job.client_id == "someone-else"
    assert job.deadline == datetime(2026, 12, 1, 12, 0)


@pytest.mark.parametrize(
    ("sample", "tasks"),
    [
        (BLENDER, {"Render": 240 // 2}),  # 1800 s target / 900 s a frame: chunks of 2
        (SIM_RENDER_COMP, {"Simulate": 1, "Render": 120, "Composite": 120 // 20}),
        (KICK, {"Render": 100}),
        (POVRAY, {"Render": 120 // 6}),
    ],
    ids=["blender", "sim_render_comp", "kick", "povray"],
)
def test_samples_make_valid_shots(sample: Path, tasks: dict[str, int]) -> None:
    description = load_openjd(sample)
    job = description.to_job(now=NOW, client_id="c1", job_id="shot-1")
    assert isinstance(job, RenderJob)
    assert job.id == "shot-1" and job.client_id == "c1"
    assert job.is_shot
    assert [s.name for s in job.steps] == [s.name for s in description.steps]
    assert job.limits == description.limits
    assert job.os == description.os
    assert_each_frame_once(job)
    assert tasks_per_step(description) == Counter(tasks)


def test_blender_shot_job_fields() -> None:
    job = load_openjd(BLENDER).to_job(now=NOW)
    assert job.client_id == "harbour-pictures"
    assert job.priority is JobPriority.HIGH
    assert job.requires_gpu and job.gpu_count == 1 and job.gpu_memory_gb == 24.0
    assert job.estimated_duration_hours == 60.0
    tasks = plan_tasks(job)
    # 60 h over 240 frames is 900 s a frame: the 1800 s target run time makes chunks of 2
    # (the target wins over defaultTaskCount); preview frames come first, one task each.
    assert [t.frames for t in tasks[:3]] == [(1001,), (1240,), (1121,)]
    assert max(len(t.frames) for t in tasks) == 2
    assert all(t.frames == tuple(range(t.frames[0], t.frames[-1] + 1)) for t in tasks)


def test_a_step_named_main_becomes_the_job_frames() -> None:
    text = template(
        """\
  - name: main
    parameterSpace:
      taskParameterDefinitions:
        - name: Frame
          type: INT
          range: [1, 2, 3, 5, 7, 8]
    script:
      actions:
        onRun:
          command: render
          args: ["--frame", "{{Task.Param.Frame}}"]
"""
    )
    description = parse_openjd(text, "list.yaml")
    assert description.steps[0].frames == "1-3,5,7,8"
    job = description.to_job(now=NOW, client_id="c1")
    assert job.frames == "1-3,5,7,8" and job.steps == []
    assert job.command == ["render", "--frame", "{start}"]
    assert len(plan_tasks(job)) == 6


JSON_WEDGE = """{
  "specificationVersion": "jobtemplate-2023-09",
  "name": "wedge",
  "steps": [{
    "name": "Render",
    "parameterSpace": {"taskParameterDefinitions": [
      {"name": "Seed", "type": "INT", "range": [7]},
      {"name": "NAME", "type": "INT", "range": "10-19"}
    ]},
    "script": {"actions": {"onRun": {
      "command": "sim", "args": ["{{Task.Param.Seed}}", "{{Task.Param.NAME}}"]}}}
  }]
}"""


def test_json_template_prefers_the_int_named_frame() -> None:
    [step] = parse_openjd(JSON_WEDGE.replace("NAME", "Frame"), "wedge.json").steps
    assert step.frames == "10-19"
    assert step.command == ["sim", "7", "{start}"]


def test_json_template_takes_the_first_int_without_one_named_frame() -> None:
    # Seed (one value) is the frame dimension; Shot then has ten values: not supported.
    with pytest.raises(JobFileError) as caught:
        parse_openjd(JSON_WEDGE.replace("NAME", "Shot"), "wedge.json")
    assert caught.value.location == "steps[0].parameterSpace.taskParameterDefinitions[1].range"
    assert "'Shot' has 10 values" in str(caught.value)


def test_other_task_parameter_with_one_value_is_fine_but_several_are_not() -> None:
    steps = """\
  - name: Render
    parameterSpace:
      taskParameterDefinitions:
        - name: Camera
          type: STRING
          range: [{cameras}]
        - name: Frame
          type: INT
          range: "1-10"
    script:
      actions:
        onRun:
          command: render
          args: ["--camera", "{{{{Task.Param.Camera}}}}", "--frame", "{{{{Task.Param.Frame}}}}"]
"""
    [step] = parse_openjd(template(steps.format(cameras="hero")), "one.yaml").steps
    assert step.frames == "1-10"
    assert step.command == ["render", "--camera", "hero", "--frame", "{start}"]
    with pytest.raises(JobFileError) as caught:
        parse_openjd(template(steps.format(cameras="hero, wide")), "two.yaml")
    error = caught.value
    assert error.location == "steps[0].parameterSpace.taskParameterDefinitions[0].range"
    assert "'Camera' has 2 values" in str(error)
    assert str(error).startswith("two.yaml: steps[0]")


def test_no_parameter_space_is_one_task() -> None:
    description = parse_openjd(template(ECHO_STEP), "echo.yaml")
    [step] = description.steps
    assert step.frames is None and step.command == ["echo"]
    job = description.to_job(now=NOW, client_id="c1")
    assert len(plan_tasks(job)) == 1


# ---------------------------------------------------------------- errors


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "broken.yaml",
        "specificationVersion: jobtemplate-2023-09\nname: x\nsteps:\n  - name: [unclosed\n",
    )
    with pytest.raises(JobFileError) as caught:
        load_openjd(path)
    error = caught.value
    assert error.source == str(path)
    assert error.location is not None and error.location.startswith("line ")
    assert int(error.location.split()[1]) in (4, 5)
    assert "not valid YAML" in str(error) and str(path) in str(error)


def test_json_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", '{\n  "name": "x",\n  "steps": [\n}\n')
    with pytest.raises(JobFileError) as caught:
        load_openjd(path)
    assert caught.value.location == "line 4"
    assert "not valid JSON" in str(caught.value)


def test_unknown_specification_version() -> None:
    text = template(ECHO_STEP).replace("jobtemplate-2023-09", "jobtemplate-2031-01")
    with pytest.raises(JobFileError) as caught:
        parse_openjd(text, "future.yaml")
    error = caught.value
    assert error.location == "specificationVersion"
    assert "jobtemplate-2031-01" in str(error) and str(error).startswith("future.yaml")


def test_missing_steps() -> None:
    with pytest.raises(JobFileError) as caught:
        parse_openjd("specificationVersion: jobtemplate-2023-09\nname: x\n", "nosteps.yaml")
    assert caught.value.location == "steps"
    assert "Field required" in str(caught.value)


def test_not_a_mapping() -> None:
    with pytest.raises(JobFileError, match="must be a mapping"):
        parse_openjd("- just\n- a list\n", "list.yaml")


def test_bad_range_in_the_template() -> None:
    steps = """\
  - name: Setup
    script: {actions: {onRun: {command: echo}}}
  - name: Render
    parameterSpace:
      taskParameterDefinitions:
        - name: Frame
          type: INT
          range: "1-x"
    script: {actions: {onRun: {command: echo}}}
"""
    with pytest.raises(JobFileError) as caught:
        parse_openjd(template(steps), "range.yaml")
    error = caught.value
    assert error.location == "steps[1].parameterSpace.taskParameterDefinitions[0].range"
    assert "1-x" in error.problem


def test_bad_range_from_a_parameter_value() -> None:
    with pytest.raises(JobFileError) as caught:
        load_openjd(KICK, {"Frames": "1001-1100:0"})
    error = caught.value
    assert error.source == str(KICK)
    assert error.location == "steps[0].parameterSpace.taskParameterDefinitions[0].range"
    assert "Frames='1001-1100:0'" in str(error)


def test_unknown_parameter_override() -> None:
    with pytest.raises(JobFileError) as caught:
        load_openjd(KICK, {"Fraems": "1-10"})
    message = str(caught.value)
    assert "'Fraems'" in message and "not defined in the template" in message
    assert str(KICK) in message and "Frames" in message


def test_unknown_parameter_in_bundle_values(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "template.yaml").write_text((POVRAY / "template.yaml").read_text())
    write(
        bundle,
        "parameter_values.yaml",
        "parameterValues:\n  - name: deadline:priority\n    value: 50\n"
        "  - name: Widht\n    value: 800\n",
    )
    with pytest.raises(JobFileError) as caught:
        load_openjd(bundle)
    error = caught.value
    assert error.source == str(bundle / "parameter_values.yaml")
    assert error.location == "parameterValues[1].value"
    assert "'Widht'" in str(error)


def test_missing_required_parameter() -> None:
    text = template(
        ECHO_STEP,
        parameters="  - name: Scene\n    type: PATH\n  - name: Shot\n    type: STRING\n",
    )
    with pytest.raises(JobFileError) as caught:
        parse_openjd(text, "required.yaml")
    error = caught.value
    assert error.location == "parameterDefinitions[0]"
    assert "'Scene' has no default" in str(error)
    assert parse_openjd(text, "required.yaml", {"Scene": "/a.pov", "Shot": "s"}).name


def test_bad_parameter_value() -> None:
    with pytest.raises(JobFileError) as caught:
        load_openjd(KICK, {"Pass": "diffuse"})
    assert "Pass" in str(caught.value) and "allowedValues" in str(caught.value)
    assert caught.value.location is None  # the value came from the caller, not the file
    with pytest.raises(JobFileError) as caught:
        load_openjd(BLENDER, {"FramesPerTask": "500"})
    assert "FramesPerTask" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("RenderFarmPriority", "urgent", "must be one of low, medium, high, critical"),
        ("RenderFarmDeadline", "next friday", "ISO 8601"),
        ("RenderFarmEstimatedHours", "-3", "above 0"),
        ("RenderFarmMachineLimit", "0", "at least 1"),
    ],
)
def test_bad_farm_fields(name: str, value: str, expected: str) -> None:
    with pytest.raises(JobFileError) as caught:
        load_openjd(POVRAY, {name: value})
    assert name in str(caught.value) and expected in str(caught.value)


def test_dependency_on_an_unknown_step() -> None:
    steps = ECHO_STEP + "    dependencies:\n      - dependsOn: Simulate\n"
    with pytest.raises(JobFileError) as caught:
        parse_openjd(template(steps), "deps.yaml")
    error = caught.value
    assert error.location == "steps[0].dependencies[0].dependsOn"
    assert "Unknown step 'Simulate'" in str(error)


def test_chunk_parameter_needs_the_extension() -> None:
    steps = """\
  - name: Render
    parameterSpace:
      taskParameterDefinitions:
        - name: Frame
          type: CHUNK[INT]
          range: "1-10"
          chunks: {defaultTaskCount: 2, rangeConstraint: CONTIGUOUS}
    script: {actions: {onRun: {command: echo}}}
"""
    with pytest.raises(JobFileError, match="TASK_CHUNKING") as caught:
        parse_openjd(template(steps), "chunks.yaml")
    assert caught.value.location == "steps[0].parameterSpace.taskParameterDefinitions[0]"


def test_conflicting_os_families() -> None:
    steps = ECHO_STEP.replace("name: Render", "name: A") + ECHO_STEP.replace(
        "name: Render", "name: B"
    )
    steps = steps.replace(
        "    script:",
        "    hostRequirements:\n      attributes:\n"
        "        - {name: attr.worker.os.family, anyOf: [OS]}\n    script:",
    )
    steps = steps.replace("[OS]", "[linux]", 1).replace("[OS]", "[windows]", 1)
    with pytest.raises(JobFileError, match="different OS families"):
        parse_openjd(template(steps), "os.yaml")


def test_not_a_bundle_and_missing_path(tmp_path: Path) -> None:
    with pytest.raises(JobFileError, match=r"no template\.yaml"):
        load_openjd(tmp_path)
    with pytest.raises(JobFileError, match="no such file"):
        load_openjd(tmp_path / "nope.yaml")
