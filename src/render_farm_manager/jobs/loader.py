"""Read a job file of any supported format: Open Job Description templates and bundles,
OpenCue job specs, Deadline job info files.

The format is told by the file: a directory is an OpenJD job bundle; ``.yaml``/``.yml``/``.json``
an OpenJD template; ``.xml`` an OpenCue spec; ``.job``/``.txt``/``.ini`` a Deadline job info file
(its plugin info file is the one given, else a sibling whose name has ``plugin`` in place of
``job``, e.g. ``shot_plugin_info.job`` beside ``shot_job_info.job``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from render_farm_manager.core.errors import JobFileError
from render_farm_manager.jobs.description import JobDescription

MAX_JOB_FILE_BYTES = 10 * 1024 * 1024
OPENJD_SUFFIXES = (".yaml", ".yml", ".json")
DEADLINE_SUFFIXES = (".job", ".txt", ".ini")


def job_file_format(path: Path) -> str:
    if path.is_dir():
        return "openjd"
    suffix = path.suffix.lower()
    if suffix in OPENJD_SUFFIXES:
        return "openjd"
    if suffix == ".xml":
        return "opencue"
    if suffix in DEADLINE_SUFFIXES:
        return "deadline"
    raise JobFileError(
        str(path),
        f"unknown job file type {suffix or '(no suffix)'!r}: expected an Open Job Description "
        "template (.yaml, .json) or bundle directory, an OpenCue spec (.xml) or a Deadline job "
        "info file (.job)",
    )


def _plugin_info_beside(job_info: Path) -> Path | None:
    name = job_info.name
    for old, new in (("job_info", "plugin_info"), ("JobInfo", "PluginInfo"), ("job", "plugin")):
        if old in name:
            candidate = job_info.with_name(name.replace(old, new, 1))
            if candidate != job_info and candidate.is_file():
                return candidate
    return None


def load_job_file(
    path: str | Path,
    parameters: Mapping[str, str] | None = None,
    plugin_info: str | Path | None = None,
    directory: Path | None = None,
) -> JobDescription:
    """The job a file describes; raises :class:`JobFileError` naming the file, where in it and
    what is wrong. ``parameters`` are OpenJD job parameter values (other formats take none);
    ``directory``: where an OpenJD template's relative paths point (default: beside it)."""
    file = Path(path)
    if not file.exists():
        raise JobFileError(str(file), "no such file or directory")
    if file.is_file() and file.stat().st_size > MAX_JOB_FILE_BYTES:
        raise JobFileError(
            str(file), f"is larger than {MAX_JOB_FILE_BYTES // (1024 * 1024)} MB; not a job file"
        )
    kind = job_file_format(file)
    if parameters and kind != "openjd":
        raise JobFileError(
            str(file), "--param applies to Open Job Description templates only", "parameters"
        )
    if kind == "openjd":
        from render_farm_manager.jobs.openjd import load_openjd

        return load_openjd(file, parameters, directory)
    if kind == "opencue":
        from render_farm_manager.jobs.opencue import load_opencue

        return load_opencue(file)
    from render_farm_manager.jobs.deadline import load_deadline

    plugin = Path(plugin_info) if plugin_info is not None else _plugin_info_beside(file)
    return load_deadline(file, plugin)
