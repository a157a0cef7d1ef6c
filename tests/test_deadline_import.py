"""Deadline submission files (job + plugin info) read into job descriptions, and their shots."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from render_farm_manager.core.errors import JobFileError
from render_farm_manager.core.models import JobPriority, RenderJob
from render_farm_manager.jobs.deadline import (
    deadline_priority,
    load_deadline,
    parse_deadline,
)
from render_farm_manager.jobs.description import JobDescription
from render_farm_manager.jobs.expansion import PlannedTask, plan_tasks
from render_farm_manager.jobs.frame_range import parse_frames

SAMPLES = Path(__file__).parent.parent / "examples" / "jobs" / "deadline"
NOW = datetime(2026, 3, 2, 9, 30)
SOURCE = "job_info.job"
PLUGIN_SOURCE = "plugin_info.job"


def read(
    job_info: str, plugin_info: str | None = None, notes: list[str] | None = None
) -> JobDescription:
    return parse_deadline(job_info, plugin_info, SOURCE, plugin_source=PLUGIN_SOURCE, notes=notes)


def job_info(**keys: str) -> str:
    values = {"Plugin": "CommandLine", "Name": "sh010_test", "Frames": "1-10"}
    values.update(keys)
    return "".join(f"{key}={value}\n" for key, value in values.items() if value is not None)


def no_preview_tasks(job: RenderJob) -> list[PlannedTask]:
    job.preview_first = False
    return plan_tasks(job)


# The samples --------------------------------------------------------------------------------


def test_blender_sample():
    notes: list[str] = []
    description = load_deadline(
        SAMPLES / "blender_job_info.job", SAMPLES / "blender_plugin_info.job", notes=notes
    )
    assert notes == []
    assert description.format == "deadline"
    assert description.name == "ks_0410_lighting_v005 [beauty]"
    assert description.priority is JobPriority.HIGH  # 60
    assert description.job_type == "blender"
    assert description.cpu_requirements == 16  # Threads
    assert description.machine_limit == 12
    assert description.limits == {"blender_cycles": 1}
    assert description.required_attributes == {
        "pool": ["gpu", "cpu_overflow"],
        "group": ["blender_4_1"],
    }
    assert description.excluded_node_ids == ["rn-gpu-017", "rn-gpu-022"]
    assert description.output_path == "/shows/kestrel/ks_0410/render/lighting_v005/beauty"
    assert description.dependencies == []
    assert description.parameters["extra_info"] == {"Show": "kestrel", "Shot": "ks_0410"}
    assert description.parameters["department"] == "lighting"
    (main,) = description.steps
    assert (main.name, main.frames, main.chunk_size) == ("main", "1001-1250", 10)
    assert main.command == [
        "blender",
        "-b",
        "/shows/kestrel/ks_0410/lighting/ks_0410_lighting_v005.blend",
        "-t",
        "16",
        "-x",
        "1",
        "-o",
        "/shows/kestrel/ks_0410/render/lighting_v005/beauty/ks_0410_beauty.####",
        "-s",
        "{start}",
        "-e",
        "{end}",
        "-a",
    ]
    job = description.to_job(now=NOW, client_id="c")
    assert (job.frames, job.chunk_size, job.steps) == ("1001-1250", 10, [])
    assert job.command == main.command and job.cpu_requirements == 16
    assert len(no_preview_tasks(job)) == 25


def test_vray_sample_keeps_job_dependencies_and_notes_the_frame_dependency():
    notes: list[str] = []
    description = load_deadline(SAMPLES / "vray_job_info.job", notes=notes)  # plugin info found
    assert description.priority is JobPriority.CRITICAL  # 85
    assert description.dependencies == ["6650c2f1a3e9b41d2c7f0a11", "6650c2f1a3e9b41d2c7f0a12"]
    assert description.machine_limit is None  # MachineLimit=0
    assert description.required_attributes == {
        "pool": ["vray"],
        "group": ["linux_64g"],
        "machine": ["rn-cpu-101", "rn-cpu-102", "rn-cpu-103", "rn-cpu-104"],
    }
    assert description.cpu_requirements is None  # Threads=0: every core
    (main,) = description.steps
    assert (main.frames, main.chunk_size) == ("1001-1100:2", 5)
    assert main.command == [
        "vray",
        "-sceneFile=/shows/orbit/sq030/sh020/vrscene/sq030_sh020_env_v021.vrscene",
        "-interactive=0",
        "-display=0",
        "-frames={start}-{end}",
        "-imgFile=/shows/orbit/sq030/sh020/render/env_v021/sq030_sh020_env.exr",
        "-numThreads=0",
        "-imgWidth=2048",
        "-imgHeight=858",
        "-verboseLevel=3",
    ]
    assert len(notes) == 2
    assert notes[0].startswith("IsFrameDependent: frame-by-frame dependencies between jobs")
    assert "1 environment variable(s) not carried" in notes[1]
    job = description.to_job(now=NOW, client_id="c")
    assert job.dependencies == description.dependencies
    assert len(no_preview_tasks(job)) == 50 // 5


def test_prman_sample_renders_one_frame_per_task_from_per_frame_ribs():
    notes: list[str] = []
    description = load_deadline(
        SAMPLES / "prman_job_info.job", SAMPLES / "prman_plugin_info.job", notes=notes
    )
    assert notes == []
    assert description.priority is JobPriority.MEDIUM  # 30
    assert description.required_attributes == {"pool": ["prman"]}  # Group=none
    assert (description.machine_limit, description.limits) == (20, {"prman_license": 1})
    assert description.job_type == "renderman" and description.cpu_requirements == 8
    (main,) = description.steps
    assert (main.frames, main.chunk_size) == ("1001-1048", 1)
    assert main.command == [
        "prman",
        "-Progress",
        "-t:8",
        "/shows/mercury/sq04/sh110/rib/fx_smoke_v002/{start}/smoke.{start}.rib",
    ]
    assert len(no_preview_tasks(description.to_job(now=NOW, client_id="c"))) == 48


@pytest.mark.parametrize("name", ["blender", "vray", "prman"])
def test_with_previews_first_every_frame_is_still_rendered_once(name):
    description = load_deadline(SAMPLES / f"{name}_job_info.job")
    tasks = plan_tasks(description.to_job(now=NOW, client_id="c"))
    rendered = sorted(frame for task in tasks for frame in task.frames)
    assert rendered == sorted(parse_frames(description.steps[0].frames or ""))


# Mapping choices ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "frames", "reordered"),
    [
        ("1-100", "1-100", False),
        ("1-100x5", "1-100:5", False),
        ("1:100:5", "1-100:5", False),
        ("1-100step5", "1-100:5", False),
        ("1-100by5", "1-100:5", False),
        ("1-100every5", "1-100:5", False),
        ("1:100", "1-100", False),
        ("100-1", "100-1:-1", False),
        ("100-1x5", "100-1:-5", False),
        ("1,3,5", "1,3,5", False),
        ("1 3 5", "1,3,5", False),
        ("1-10, 20-30", "1-10,20-30", False),
        ("5,5,5", "5", False),
        ("-10--5", "-10--5", False),
        ("10,1-3", "1-3,10", True),
    ],
)
def test_frame_lists_become_open_job_description_frames(written, frames, reordered):
    notes: list[str] = []
    description = read(job_info(Frames=written), notes=notes)
    assert description.steps[0].frames == frames
    assert any("ascending order" in note for note in notes) is reordered


@pytest.mark.parametrize(
    ("priority", "band"),
    [
        (0, "low"),
        (24, "low"),
        (25, "medium"),
        (49, "medium"),
        (50, "high"),
        (74, "high"),
        (75, "critical"),
        (100, "critical"),
    ],
)
def test_priority_bands(priority, band):
    assert deadline_priority(priority) is JobPriority(band)
    assert read(job_info(Priority=str(priority))).priority is JobPriority(band)


def test_without_frames_the_job_is_one_task():
    description = read(job_info(Frames=None), "Executable=/studio/bin/publish_plates\n")
    assert description.steps[0].frames is None
    job = description.to_job(now=NOW, client_id="c")
    assert not job.is_shot
    (task,) = plan_tasks(job)
    assert task.frames == ()


def test_defaults_keys_in_any_case_comments_and_repeated_keys():
    text = "# written by the pipeline\n\nplugin=CommandLine\nFRAMES=1-5\nframes=1-8\n"
    description = read(text, "Executable=true\n")
    assert description.name == "Untitled"
    assert description.steps[0].frames == "1-8"
    assert description.priority is None and description.machine_limit is None


def test_allowlist_denylist_and_none_pools():
    description = read(
        job_info(Allowlist="a, b", Denylist="c", Pool="none", SecondaryPool="", Group="None")
    )
    assert description.required_attributes == {"machine": ["a", "b"]}
    assert description.excluded_node_ids == ["c"]


def test_command_line_arguments_get_frame_placeholders_and_quotes():
    plugin = (
        "Executable=/studio/bin/nuke_render\n"
        "Arguments=-F <STARTFRAME>-<ENDFRAME> -o <QUOTE>/renders/my shot/f.####.exr<QUOTE> "
        "--tag <STARTFRAME%4>\n"
        "StartupDirectory=/tmp\n"
    )
    description = read(job_info(Frames="1001-1100", ChunkSize="10"), plugin)
    assert description.steps[0].command == [
        "/studio/bin/nuke_render",
        "-F",
        "{start}-{end}",
        "-o",
        "/renders/my shot/f.####.exr",
        "--tag",
        "{start}",
    ]
    assert description.job_type == "commandline"


def test_padded_command_line_frames_are_kept_when_frames_need_padding():
    notes: list[str] = []
    plugin = "Executable=tool\nArguments=<STARTFRAME%4> <ENDFRAME%2> <AUXFILE0>\n"
    description = read(job_info(Frames="10-20"), plugin, notes)
    assert description.steps[0].command == ["tool", "<STARTFRAME%4>", "{end}", "<AUXFILE0>"]
    assert len(notes) == 2
    assert "<STARTFRAME%4> kept as written" in notes[0] and "<AUXFILE#>" in notes[1]


def test_arnold_renders_one_frame_per_task_from_per_frame_ass_files():
    notes: list[str] = []
    plugin = (
        "InputFile=/shows/orbit/ass/sh010_beauty.1001.ass\n"
        "OutputFile=/renders/sh010/beauty.exr\n"
        "Threads=12\n"
        "CommandLineOptions=-set options.AA_samples 4\n"
    )
    description = read(job_info(Plugin="Arnold", Frames="1001-1010", ChunkSize="5"), plugin, notes)
    (main,) = description.steps
    assert main.chunk_size == 1
    assert main.command == [
        "kick",
        "-nstdin",
        "-dw",
        "-dp",
        "-i",
        "/shows/orbit/ass/sh010_beauty.{start}.ass",
        "-o",
        "/renders/sh010/beauty{start}.exr",
        "-v",
        "4",
        "-t",
        "12",
        "-set",
        "options.AA_samples",
        "4",
    ]
    assert notes == ["ChunkSize: the Arnold plugin renders one frame per task: ChunkSize 5 → 1"]
    assert len(no_preview_tasks(description.to_job(now=NOW, client_id="c"))) == 10


def test_padded_scene_file_names_are_kept_when_frames_need_padding():
    notes: list[str] = []
    plugin = "InputFile=/ass/sh010.0001.ass\n"
    description = read(job_info(Plugin="Arnold", Frames="1-10"), plugin, notes)
    assert "/ass/sh010.0001.ass" in description.steps[0].command
    assert (
        len(notes) == 1
        and "zero-padded" in notes[0]
        and notes[0].startswith("InputFile (plugin info, line 1): ")
    )


def test_vray_separate_files_per_frame():
    plugin = "InputFilename=/vrscene/env.####.vrscene\nSeparateFilesPerFrame=True\n"
    description = read(job_info(Plugin="Vray", Frames="1000-1009", ChunkSize="4"), plugin)
    (main,) = description.steps
    assert main.chunk_size == 1
    assert main.command[1] == "-sceneFile=/vrscene/env.{start}.vrscene"


def test_jobs_without_a_known_command_are_noted():
    notes: list[str] = []
    description = read(job_info(Plugin="MayaBatch"), "SceneFile=/a.ma\n", notes)
    assert description.steps[0].command == [] and description.job_type == "mayabatch"
    assert notes == [
        "Plugin: no command for the MayaBatch plugin (known: Blender, Arnold, Vray, RenderMan, "
        "CommandLine)"
    ]
    notes.clear()
    description = read(job_info(Plugin="Blender"), None, notes)
    assert description.steps[0].command == []
    assert notes == ["Plugin: no plugin info file: the Blender job has no command"]


def test_the_plugin_info_file_next_to_the_job_info_file_is_found(tmp_path):
    (tmp_path / "sh010_job_info.job").write_text(job_info(Plugin="Blender"))
    description = load_deadline(tmp_path / "sh010_job_info.job")
    assert description.steps[0].command == []
    (tmp_path / "sh010_plugin_info.job").write_text("SceneFile=/s.blend\n")
    description = load_deadline(tmp_path / "sh010_job_info.job")
    assert description.steps[0].command[:3] == ["blender", "-b", "/s.blend"]


def test_utf16_and_bom_files_are_read(tmp_path):
    (tmp_path / "a_job_info.job").write_text(job_info(Name="héros"), encoding="utf-16")
    (tmp_path / "a_plugin_info.job").write_text("Executable=x\n", encoding="utf-8-sig")
    description = load_deadline(tmp_path / "a_job_info.job")
    assert description.name == "héros" and description.steps[0].command == ["x"]


# Broken files -------------------------------------------------------------------------------


def broken(text: str, plugin: str | None, *expected: str) -> JobFileError:
    with pytest.raises(JobFileError) as caught:
        read(text, plugin)
    message = str(caught.value)
    for part in expected:
        assert part in message, message
    return caught.value


def test_a_line_without_equals_names_the_file_and_line():
    text = "Plugin=Blender\nName=sh010\nFrames 1-100\n"
    broken(text, None, "job_info.job: line 3: expected a Key=Value line, got 'Frames 1-100'")


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("Priority", "abc", "must be a whole number from 0 to 100"),
        ("Priority", "101", "got '101'"),
        ("Priority", "-1", "got '-1'"),
        ("ChunkSize", "0", "must be a whole number from 1 to 100000 (frames per task)"),
        ("ChunkSize", "ten", "got 'ten'"),
        ("MachineLimit", "-2", "0 for no limit"),
        ("Frames", "1-x", "'1-x' is not a frame list: '1-x' is not a frame range"),
        ("Frames", "1-10x0", "has a step of 0"),
        ("Frames", "1-1000000", "a shot may have at most 100000"),
        ("Frames", "2000000000", "beyond"),
        ("IsFrameDependent", "maybe", "must be True or False"),
    ],
)
def test_bad_values_name_the_file_line_and_key(key, value, problem):
    text = job_info(**{key: value}, JobDependencies="abc")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith(f"{key}="))
    broken(text, None, f"job_info.job: line {line}, {key}: ", problem)


def test_a_job_without_a_plugin_is_refused():
    broken("Name=sh010\nFrames=1-10\n", None, "job_info.job: Plugin is missing")


@pytest.mark.parametrize(
    ("plugin", "plugin_info", "expected"),
    [
        ("Blender", "OutputFile=/o\n", "plugin_info.job: SceneFile is missing"),
        ("Arnold", "Threads=4\n", "plugin_info.job: InputFile is missing"),
        ("Vray", "", "plugin_info.job: InputFilename is missing"),
        ("RenderMan", "Threads=4\n", "plugin_info.job: RibFile is missing"),
        ("CommandLine", "Arguments=-v\n", "plugin_info.job: Executable is missing"),
        ("Blender", "SceneFile=/s.blend\nThreads=all\n", "plugin_info.job: line 2, Threads"),
        ("CommandLine", 'Executable=x\nArguments=-o "open\n', "line 2, Arguments: cannot be split"),
        ("Arnold", "InputFile=/a.ass\nCommandLineOptions='x\n", "line 2, CommandLineOptions"),
        ("Vray", "InputFilename=/a.vrscene\nnonsense\n", "plugin_info.job: line 2: expected"),
    ],
)
def test_bad_plugin_info_names_the_plugin_info_file(plugin, plugin_info, expected):
    broken(job_info(Plugin=plugin), plugin_info, expected)


def test_unreadable_files_name_the_file(tmp_path):
    with pytest.raises(JobFileError, match=r"missing_job_info\.job: cannot read the file"):
        load_deadline(tmp_path / "missing_job_info.job")
    (tmp_path / "bad.job").write_bytes(b"Plugin=Blender\nName=\xff\xfe\xfa\n")
    with pytest.raises(JobFileError, match=r"bad\.job: not UTF-8 or UTF-16 text"):
        load_deadline(tmp_path / "bad.job")
