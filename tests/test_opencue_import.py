"""OpenCue job specs (outline / pycuerun XML) read into job descriptions, and their shots."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from render_farm_manager.core.errors import JobFileError
from render_farm_manager.core.models import JobPriority, JobStep, RenderJob
from render_farm_manager.jobs.description import JobDescription
from render_farm_manager.jobs.expansion import PlannedTask, plan_tasks
from render_farm_manager.jobs.frame_range import parse_frames
from render_farm_manager.jobs.opencue import (
    load_opencue,
    opencue_memory_gb,
    opencue_priority,
    parse_opencue,
)

SAMPLES = Path(__file__).parent.parent / "examples" / "jobs" / "opencue"
NOW = datetime(2026, 3, 2, 9, 30)
SOURCE = "shot.xml"


def spec(layers: str, depends: str = "", job: str = "", name: str = "sh010_light") -> str:
    """A spec with one job; ``layers`` is the XML inside ``<layers>``."""
    return f"""<?xml version="1.0"?>
<spec>
  <show>orbit</show>
  <shot>sh010</shot>
  <user>mchen</user>
  <job name="{name}">
{job}    <layers>
{layers}
    </layers>
  </job>
  <depends>
{depends}
  </depends>
</spec>
"""


def layer(name: str = "render", **fields: str) -> str:
    values = {
        "cmd": "render -s #FRAME_START# -e #FRAME_END# scene.ma",
        "range": "1-10",
        "chunk": "1",
    }
    values.update(fields)
    body = "".join(f"<{tag}>{text}</{tag}>" for tag, text in values.items() if text is not None)
    return f'      <layer name="{name}" type="Render">{body}</layer>'


def depend(kind: str, **fields: str) -> str:
    body = "".join(f"<{tag}>{text}</{tag}>" for tag, text in fields.items())
    return f'    <depend type="{kind}">{body}</depend>'


def read(text: str, notes: list[str] | None = None) -> JobDescription:
    return parse_opencue(text, SOURCE, notes=notes)


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


def no_preview_tasks(job: RenderJob) -> list[PlannedTask]:
    job.preview_first = False
    return plan_tasks(job)


def step(description: JobDescription, name: str) -> JobStep:
    return next(s for s in description.steps if s.name == name)


# The samples --------------------------------------------------------------------------------


def test_maya_arnold_sample_reads_render_and_frame_by_frame_comp():
    notes: list[str] = []
    description = load_opencue(SAMPLES / "maya_arnold_shot.xml", notes=notes)
    assert description.format == "opencue"
    assert description.name == "sq020_sh010_lighting_v012"
    assert description.priority is JobPriority.HIGH  # 150
    assert description.os == "linux"
    assert description.job_type == "arnold"
    assert description.required_attributes == {"tags": ["general", "lighting"]}
    assert description.dependencies == []
    assert description.parameters == {
        "facility": "local",
        "show": "orbit",
        "shot": "sq020_sh010",
        "user": "mchen",
    }
    beauty, comp = description.steps
    assert (beauty.name, beauty.frames, beauty.chunk_size) == ("beauty", "1001-1100", 5)
    assert (beauty.cpu_requirements, beauty.memory_requirements_gb) == (16, 48.0)
    assert beauty.job_type == "arnold" and beauty.limits == {"arnold": 1}
    assert beauty.command[0] == "/opt/autodesk/maya2024/bin/Render"
    assert beauty.command[1:7] == ["-r", "arnold", "-s", "{start}", "-e", "{end}"]
    assert (comp.name, comp.frames, comp.chunk_size) == ("slapcomp", "1001-1100", 1)
    assert comp.memory_requirements_gb == 8.0  # 8192m
    assert comp.depends_on == ["beauty"] and comp.frame_by_frame
    assert comp.command[1:3] == ["-F", "{start}"]
    assert notes == [
        "job[name=sq020_sh010_lighting_v012]: 1 environment variable(s) not carried (the "
        "farm's jobs have no environment)"
    ]


def test_maya_arnold_sample_makes_a_shot_whose_comp_frames_wait_for_their_render_chunk():
    job = load_opencue(SAMPLES / "maya_arnold_shot.xml").to_job(now=NOW, client_id="c")
    assert isinstance(job, RenderJob) and job.is_shot
    assert job.priority is JobPriority.HIGH and job.required_attributes["tags"]
    tasks = no_preview_tasks(job)
    assert len(tasks) == 100 // 5 + 100
    by_id = {task.id: task for task in tasks}
    comp_1003 = next(t for t in tasks if t.step.name == "slapcomp" and t.frames == (1003,))
    (upstream,) = comp_1003.depends_on
    assert by_id[upstream].frames == (1001, 1002, 1003, 1004, 1005)


def test_blender_sample_reads_bake_gpu_render_post_layer_and_job_dependency():
    notes: list[str] = []
    description = load_opencue(SAMPLES / "blender_layers.xml", notes=notes)
    assert notes == []
    assert description.priority is JobPriority.MEDIUM  # 40
    assert description.dependencies == ["ks_0340_layout_publish_v007"]
    assert description.job_type == "blender"
    assert description.required_attributes == {}
    bake = step(description, "cloth_bake")
    assert (bake.frames, bake.depends_on, bake.cpu_requirements) == ("1", [], 4)
    render = step(description, "render")
    assert (render.frames, render.chunk_size) == ("1001-1240:2", 4)
    assert render.cpu_requirements == 5  # 4.5 cores, rounded up
    assert render.memory_requirements_gb == 24.0  # 24576m
    assert (render.gpu_count, render.gpu_memory_gb, render.requires_gpu) == (1, 12.0, True)
    assert render.depends_on == ["cloth_bake"] and not render.frame_by_frame
    assert render.limits == {"blender": 1}
    assert "/shows/kestrel/ks_0340/render/anim_v003/ks_0340.####" in render.command
    movie = step(description, "review_movie")  # a Post layer: after everything else
    assert movie.depends_on == ["cloth_bake", "render"]
    assert movie.memory_requirements_gb == 4.0  # a bare number is GB
    assert movie.job_type == "shell"


def test_blender_sample_makes_a_shot_of_the_expected_tasks():
    job = load_opencue(SAMPLES / "blender_layers.xml").to_job(now=NOW, client_id="c")
    assert job.dependencies == ["ks_0340_layout_publish_v007"]
    tasks = no_preview_tasks(job)
    assert len(tasks) == 1 + 120 // 4 + 1
    assert [t.step.name for t in tasks[:1]] == ["cloth_bake"] and tasks[-1].step.name == (
        "review_movie"
    )
    assert len(tasks[-1].depends_on) == 1 + 30


@pytest.mark.parametrize("name", ["maya_arnold_shot.xml", "blender_layers.xml"])
def test_with_previews_first_every_frame_of_every_layer_is_still_rendered_once(name):
    description = load_opencue(SAMPLES / name)
    tasks = plan_tasks(description.to_job(now=NOW, client_id="c"))
    for s in description.steps:
        rendered = sorted(f for t in tasks if t.step.name == s.name for f in t.frames)
        assert rendered == sorted(parse_frames(s.frames or ""))


# Mapping choices ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "gb"),
    [("4g", 4.0), ("4G", 4.0), ("2.5g", 2.5), ("512m", 0.5), ("1024MB", 1.0), ("4", 4.0)],
)
def test_memory_units_follow_cuebot(text, gb):
    assert opencue_memory_gb(text) == gb


@pytest.mark.parametrize("text", ["4k", "", "0", "0m", "-1g", "lots", "4 gigs"])
def test_memory_that_is_not_an_amount_is_refused(text):
    with pytest.raises(ValueError, match="memory"):
        opencue_memory_gb(text)


@pytest.mark.parametrize(
    ("value", "priority"),
    [
        (-5, "low"),
        (0, "low"),
        (1, "medium"),
        (99, "medium"),
        (100, "high"),
        (999, "high"),
        (1000, "critical"),
        (50_000, "critical"),
    ],
)
def test_priority_bands(value, priority):
    assert opencue_priority(value) is JobPriority(priority)


@pytest.mark.parametrize(
    ("cores", "expected"), [("8.0", 8), ("4.5", 5), ("0.5", 1), ("2", 2), ("0", None), ("-2", None)]
)
def test_cores_round_up_and_zero_or_less_means_no_requirement(cores, expected):
    description = read(spec(layer(cores=cores)))
    assert description.steps[0].cpu_requirements == expected


@pytest.mark.parametrize(
    ("written", "frames", "reordered"),
    [
        ("1-100", "1-100", False),
        ("1-100x5", "1-100:5", False),
        ("1,3,5", "1,3,5", False),
        ("5", "5", False),
        ("10-1", "10-1:-1", False),
        ("-5--1", "-5--1", False),
        ("1-10y3", "2-3,5-6,8-9", False),
        ("1-10:3", "1-10", True),
        ("20-30,1-5", "1-5,20-30", True),
        ("1-5,3-8", "1-8", False),
    ],
)
def test_ranges_become_open_job_description_frames(written, frames, reordered):
    notes: list[str] = []
    description = read(spec(layer(range=written)), notes)
    assert description.steps[0].frames == frames
    assert any("ascending order" in note for note in notes) is reordered


def test_cuebot_tokens_become_the_farms_placeholders():
    cmd = "tool #IFRAME# #FRAME_START# #FRAME_END# #FRAMESPEC# #FRAME_CHUNK# #LAYER# #JOB#"
    description = read(spec(layer(cmd=cmd, chunk="3")))
    assert description.steps[0].command == [
        "tool",
        "{start}",
        "{start}",
        "{end}",
        "{frames}",
        "3",
        "render",
        "sh010_light",
    ]


def test_padded_tokens_become_start_only_when_no_frame_needs_padding():
    cmd = "nuke -F #ZFRAME# --name #FRAME#"
    description = read(spec(layer(cmd=cmd, range="1001-1010")))
    assert description.steps[0].command == ["nuke", "-F", "{start}", "--name", "{start}-render"]
    notes: list[str] = []
    description = read(spec(layer(cmd=cmd, range="1-10")), notes)
    assert description.steps[0].command == ["nuke", "-F", "#ZFRAME#", "--name", "#FRAME#"]
    assert len(notes) == 1 and "#ZFRAME#, #FRAME# kept as written" in notes[0]


def test_command_quotes_group_and_windows_paths_keep_their_backslashes():
    description = read(spec(layer(cmd='tool -o "/renders/my shot/f.exr" -x')))
    assert description.steps[0].command == ["tool", "-o", "/renders/my shot/f.exr", "-x"]
    windows = r'"C:\Program Files\Maya\Render.exe" -r arnold S:\shows\sh010.ma'
    description = read(spec(layer(cmd=windows)))
    assert description.steps[0].command == [
        r"C:\Program Files\Maya\Render.exe",
        "-r",
        "arnold",
        r"S:\shows\sh010.ma",
    ]


def test_tags_of_different_layers_are_merged_with_a_note():
    notes: list[str] = []
    layers = layer("sim", tags="sim | general") + layer("render", tags="gpu")
    description = read(spec(layers), notes)
    assert description.required_attributes == {"tags": ["sim", "general", "gpu"]}
    assert len(notes) == 1 and "host tags differ" in notes[0]


def test_gpu_memory_alone_asks_for_a_gpu_and_the_deprecated_gpu_element_is_read():
    description = read(spec(layer(gpu="6g")))
    s = description.steps[0]
    assert (s.gpu_memory_gb, s.requires_gpu, s.gpu_count) == (6.0, True, None)


def test_unsupported_job_settings_are_noted():
    notes: list[str] = []
    job = "    <paused>True</paused>\n    <maxretries>3</maxretries>\n"
    read(spec(layer(), job=job), notes)
    assert notes == [
        "job[name=sh010_light]/paused: the job was to start paused; it is submitted runnable"
    ]


# Dependencies -------------------------------------------------------------------------------


def test_layer_on_layer_and_frame_by_frame_within_the_job():
    layers = layer("sim") + layer("render") + layer("comp")
    depends = depend(
        "LAYER_ON_LAYER",
        depjob="sh010_light",
        deplayer="render",
        onjob="sh010_light",
        onlayer="sim",
    ) + depend(
        "FRAME_BY_FRAME",
        depjob="sh010_light",
        deplayer="comp",
        onjob="sh010_light",
        onlayer="render",
    )
    description = read(spec(layers, depends))
    assert (step(description, "render").depends_on, step(description, "render").frame_by_frame) == (
        ["sim"],
        False,
    )
    assert (step(description, "comp").depends_on, step(description, "comp").frame_by_frame) == (
        ["render"],
        True,
    )


def test_cuebot_job_names_and_layer_name_case_are_matched():
    depends = depend(
        "LAYER_ON_LAYER",
        depjob="orbit-sh010-mchen_sh010_light",
        deplayer="Comp",
        onjob="sh010_light",
        onlayer="RENDER",
    )
    description = read(spec(layer("render") + layer("comp"), depends))
    assert step(description, "comp").depends_on == ["render"]


def test_dependencies_on_other_jobs_are_job_dependencies():
    notes: list[str] = []
    depends = (
        depend("JOB_ON_JOB", depjob="sh010_light", onjob="sh010_anim")
        + depend("LAYER_ON_JOB", depjob="sh010_light", deplayer="render", onjob="sh010_layout")
        + depend("JOB_ON_JOB", depjob="sh010_light", onjob="sh010_anim")
    )
    description = read(spec(layer(), depends), notes)
    assert description.dependencies == ["sh010_anim", "sh010_layout"]
    assert (
        len(notes) == 1 and "LAYER_ON_JOB: the whole job waits for job 'sh010_layout'" in (notes[0])
    )


def test_frame_level_dependencies_inside_the_job_become_whole_layer_ones():
    notes: list[str] = []
    depends = depend(
        "LAYER_ON_FRAME",
        depjob="sh010_light",
        deplayer="render",
        onjob="sh010_light",
        onframe="0001-sim",
    ) + depend(
        "PREVIOUS_FRAME",
        depjob="sh010_light",
        deplayer="sim",
        onjob="sh010_light",
        onlayer="sim",
    )
    description = read(spec(layer("sim") + layer("render"), depends), notes)
    assert step(description, "render").depends_on == ["sim"]
    assert step(description, "sim").depends_on == []
    assert "stricter" in notes[0] and "left out" in notes[1]


def test_a_layer_waiting_frame_by_frame_and_for_a_whole_layer_waits_for_whole_layers():
    notes: list[str] = []
    depends = depend(
        "FRAME_BY_FRAME",
        depjob="sh010_light",
        deplayer="comp",
        onjob="sh010_light",
        onlayer="render",
    ) + depend(
        "LAYER_ON_LAYER",
        depjob="sh010_light",
        deplayer="comp",
        onjob="sh010_light",
        onlayer="sim",
    )
    description = read(spec(layer("sim") + layer("render") + layer("comp"), depends), notes)
    comp = step(description, "comp")
    assert comp.depends_on == ["render", "sim"] and not comp.frame_by_frame
    assert len(notes) == 1 and "frame by frame" in notes[0]


# Broken files -------------------------------------------------------------------------------


def broken(text: str, *expected: str) -> JobFileError:
    with pytest.raises(JobFileError) as caught:
        read(text)
    message = str(caught.value)
    assert message.startswith(f"{SOURCE}: ")
    for part in expected:
        assert part in message, message
    return caught.value


def test_xml_that_is_not_well_formed_names_line_and_column():
    text = spec(layer()).replace("</job>", "</jobb>")
    broken(text, f"line {line_of(text, '</jobb>')}, column", "not well-formed XML")


def test_entity_declarations_are_refused():
    text = '<?xml version="1.0"?><!DOCTYPE spec [<!ENTITY a "aaaa">]><spec>&a;</spec>'
    broken(text, "refused")


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("range", "1-x", "<range> '1-x' is not a frame range"),
        ("range", "1-5,7-", "<range> '7-' in '1-5,7-' is not a frame range"),
        ("range", "1-10x0", "has a step of 0"),
        ("range", "1-200000", "a shot may have at most 100000"),
        ("chunk", "0", "<chunk> must be 1 or more"),
        ("chunk", "five", "<chunk> must be a whole number, got 'five'"),
        ("cores", "lots", "<cores> must be a number of cores"),
        ("memory", "4k", "<memory> '4k' is not an amount of memory"),
        ("gpu_memory", "0g", "<gpu_memory> '0g' is no memory at all"),
        ("gpus", "-1", "<gpus> cannot be negative"),
        ("gpus", "one", "<gpus> must be a whole number"),
        ("cmd", 'render "unclosed', "<cmd> cannot be split into arguments"),
        ("cmd", "", "the layer needs a non-empty <cmd>"),
    ],
)
def test_bad_layer_values_name_the_line_and_element(field, value, problem):
    text = spec(layer("beauty", **{field: value}))
    broken(
        text,
        f"line {line_of(text, 'layer name=')}",
        f"job[name=sh010_light]/layers/layer[name=beauty]/{field}",
        problem,
    )


def test_missing_range_is_refused():
    text = spec('      <layer name="beauty" type="Render"><cmd>x</cmd><chunk>1</chunk></layer>')
    broken(text, "layer[name=beauty]/range", "needs a non-empty <range>")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("<job name='a'/>", "the root element must be <spec>"),
        ("<spec><show>s</show></spec>", "the spec has no <job>"),
        ("<spec><job name='a'><layers/></job></spec>", "the job has no layers"),
        ("<spec><job><layers/></job></spec>", "the job has no name attribute"),
    ],
)
def test_specs_without_a_usable_job_are_refused(text, problem):
    broken(text, problem)


def test_several_jobs_in_one_spec_are_refused_naming_the_second():
    text = spec(layer()).replace("</job>", '</job>\n  <job name="sh010_comp"></job>')
    broken(
        text,
        f"line {line_of(text, 'sh010_comp')}: job[name=sh010_comp]",
        "only one job per file is supported",
    )


def test_layer_problems():
    broken(spec(layer() + layer()), "two layers named 'render'")
    broken(spec(layer().replace("Render", "Batch")), "layer type 'Batch' is not one of")
    broken(spec(layer().replace("JUNK", "") + "<layer type='Render'/>"), "a layer has no name")
    broken(spec(layer(), job="    <priority>urgent</priority>\n"), "job[name=sh010_light]/priority")


def test_depends_on_unknown_layers_are_refused():
    for side in ("deplayer", "onlayer"):
        fields = {"deplayer": "comp", "onlayer": "render", side: "lighting"}
        text = spec(
            layer("render") + layer("comp"),
            depend("LAYER_ON_LAYER", depjob="sh010_light", onjob="sh010_light", **fields),
        )
        broken(
            text,
            f"line {line_of(text, '<depend ')}: depends/depend[1]/{side}",
            "unknown layer 'lighting' (the job's layers: 'render', 'comp')",
        )


@pytest.mark.parametrize(
    ("kind", "fields", "problem"),
    [
        ("SOMETIMES", {"depjob": "sh010_light", "onjob": "x"}, "depend type 'SOMETIMES'"),
        ("JOB_ON_JOB", {"depjob": "sh010_light"}, "needs <depjob> and <onjob>"),
        ("JOB_ON_JOB", {"depjob": "other", "onjob": "sh010_light"}, "<depjob> 'other' is not"),
        ("JOB_ON_JOB", {"depjob": "sh010_light", "onjob": "sh010_light"}, "wait for itself"),
        (
            "JOB_ON_LAYER",
            {"depjob": "sh010_light", "onjob": "sh010_light", "onlayer": "render"},
            "would wait for its own layer",
        ),
        (
            "LAYER_ON_FRAME",
            {
                "depjob": "sh010_light",
                "deplayer": "render",
                "onjob": "sh010_light",
                "onframe": "first-frame",
            },
            "is not a frame name",
        ),
    ],
)
def test_bad_depends_are_refused(kind, fields, problem):
    broken(spec(layer(), depend(kind, **fields)), "depends/depend[1]", problem)


def test_layer_dependency_cycles_are_refused():
    depends = depend(
        "LAYER_ON_LAYER", depjob="sh010_light", deplayer="a", onjob="sh010_light", onlayer="b"
    ) + depend(
        "LAYER_ON_LAYER", depjob="sh010_light", deplayer="b", onjob="sh010_light", onlayer="a"
    )
    broken(spec(layer("a") + layer("b"), depends), "layer dependencies", "a -> b -> a")


def test_unreadable_files_name_the_file(tmp_path):
    missing = tmp_path / "missing.xml"
    with pytest.raises(JobFileError, match=r"missing\.xml: cannot read the file"):
        load_opencue(missing)
