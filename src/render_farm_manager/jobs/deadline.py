"""Thinkbox Deadline job submission files (a job info file and a plugin info file, each made of
``Key=Value`` lines) read into a :class:`~render_farm_manager.jobs.description.JobDescription`.

The job becomes one step, ``main`` (so :meth:`JobDescription.to_job` makes a plain shot). How the
job info keys map (keys match whatever their case; unknown keys are ignored; blank lines and
lines starting with ``#`` or ``;`` are skipped; a key given twice keeps its last value):

* ``Name`` → ``name`` (Deadline's default ``Untitled``); ``Comment``, ``Department``,
  ``BatchName``, ``UserName`` and the ``ExtraInfo0``-``9`` / ``ExtraInfoKeyValueN`` pairs →
  ``parameters`` (for the record).
* ``Frames`` (Deadline frame lists: ``1-100``, ``1:100``, ``1-100x5`` and the ``:5``, ``step5``,
  ``by5``, ``every5`` forms, ``100-1``, ``1,3,5`` or ``1 3 5``) → ``frames`` in Open Job
  Description syntax (``1-100:5``); frames given twice run once, and where the written order
  cannot be kept they run ascending (a note says so). No ``Frames``: one task, no frames.
* ``ChunkSize`` → ``chunk_size``.
* ``Priority`` (0-100) → :class:`JobPriority` by band: 0-24 low, 25-49 medium, 50-74 high,
  75-100 critical.
* ``Pool``, ``SecondaryPool`` → ``required_attributes["pool"]`` (a node in either);
  ``Group`` → ``required_attributes["group"]``; the value ``none`` means no restriction.
* ``Whitelist`` (or ``Allowlist``) → ``required_attributes["machine"]``; ``Blacklist`` (or
  ``Denylist``) → ``excluded_node_ids``.
* ``MachineLimit`` → ``machine_limit`` (0: unlimited).
* ``LimitGroups`` → ``limits`` (one of each).
* ``JobDependencies`` (comma-separated job ids) → ``dependencies``. ``IsFrameDependent=true``
  (frame N waits for frame N of the other jobs) cannot be expressed between jobs: the job waits
  for the whole jobs it depends on, and a note says so.
* ``OutputDirectory0`` → ``output_path``.
* ``Plugin`` → ``job_type`` (lowercased) and, with the plugin info file, the task ``command``
  (argv, as Deadline's own plugin builds it, with the executable's usual name rather than the
  path configured in the Deadline repository):

  - ``Blender``: ``SceneFile``, ``OutputFile``, ``Threads`` →
    ``blender -b SCENE -t N [-x 1 -o OUT] -s {start} -e {end} -a``.
  - ``Arnold``: ``InputFile``, ``OutputFile``, ``Verbose``, ``Threads``, ``CommandLineOptions``
    → ``kick -nstdin -dw -dp -i FILE [-o OUT] -v 4 [-t N] ...``; one frame per task.
  - ``Vray``: ``InputFilename``, ``OutputFilename``, ``Threads``, ``Width``, ``Height``,
    ``SeparateFilesPerFrame``, ``CommandLineOptions`` → ``vray -sceneFile=FILE -interactive=0
    -display=0 -frames={start}-{end} [-imgFile=OUT] -numThreads=N ...``.
  - ``RenderMan``: ``RibFile`` (or ``SceneFile``), ``Threads``, ``CommandLineOptions`` →
    ``prman ... -Progress -t:N RIB``; one frame per task.
  - ``CommandLine``: ``Executable`` and ``Arguments``, where ``<STARTFRAME>`` → ``{start}``,
    ``<ENDFRAME>`` → ``{end}``, ``<QUOTE>`` → ``"``.

  The frame number in a per-frame scene file (``shot.1001.ass``, a RenderMan
  ``rib/1001/beauty.1001.rib``) and the padded ``<STARTFRAME%4>`` become ``{start}`` when no
  frame of the job needs padding (every frame has at least as many digits), and are kept as
  written otherwise, with a note. Plugins that render one frame per task (Arnold, RenderMan,
  V-Ray with separate files per frame) get ``chunk_size`` 1. ``Threads`` above 0 →
  ``cpu_requirements``.

Not carried: ``ConcurrentTasks``, ``InitialStatus`` (a note when ``Suspended``), environment
variables (a note), timeouts, notifications, ``OnJobComplete``, scheduling dates, other plugins'
commands (a note).

Every file that cannot be read raises :class:`JobFileError` naming the file, the line and key,
and what is wrong. What the farm cannot express is appended to ``notes`` when a list is passed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from render_farm_manager.core.errors import JobFileError
from render_farm_manager.core.models import MAX_FRAMES, JobPriority, JobStep
from render_farm_manager.jobs.description import JobDescription
from render_farm_manager.jobs.opencue import (
    FrameRun,
    frames_expression,
    padding_fits,
    split_command,
)

DEADLINE_MAX_PRIORITY = 100
KNOWN_PLUGINS = ("Blender", "Arnold", "Vray", "RenderMan", "CommandLine")
_RECORDED = {
    "Comment": "comment",
    "Department": "department",
    "BatchName": "batch_name",
    "UserName": "user",
}
"""Job info keys kept in ``parameters``, and their names there."""
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")
_PART = re.compile(
    r"^(?P<a>-?\d+)(?:[-:](?P<b>-?\d+)(?:(?:x|:|step|by|every)(?P<step>\d+))?)?$",
    re.IGNORECASE,
)
_FRAME_FILE = re.compile(r"^(?P<stem>.*?)(?P<frame>\d+|#+)(?P<ext>(?:\.[A-Za-z]\w*)+)$")
_ARGUMENT_TOKEN = re.compile(r"<(STARTFRAME|ENDFRAME)(?:%(\d+))?>|<QUOTE>", re.IGNORECASE)


# Public API ---------------------------------------------------------------------------------


def load_deadline(
    job_info_path: str | Path,
    plugin_info_path: str | Path | None = None,
    *,
    notes: list[str] | None = None,
) -> JobDescription:
    """Read a Deadline job info file and its plugin info file (see the module documentation).

    Without ``plugin_info_path``, the file next to the job info file whose name has
    ``plugin_info`` where the job info file's has ``job_info`` is used when it exists
    (``shot_job_info.job`` → ``shot_plugin_info.job``); without one, the job has no command."""
    job_source = str(job_info_path)
    job_text = _read(Path(job_info_path))
    plugin_path = Path(plugin_info_path) if plugin_info_path is not None else None
    if plugin_path is None:
        plugin_path = _sibling_plugin_info(Path(job_info_path))
    plugin_text = _read(plugin_path) if plugin_path is not None else None
    return parse_deadline(
        job_text,
        plugin_text,
        job_source,
        plugin_source=str(plugin_path) if plugin_path is not None else None,
        notes=notes,
    )


def parse_deadline(
    job_info_text: str,
    plugin_info_text: str | None,
    source: str,
    *,
    plugin_source: str | None = None,
    notes: list[str] | None = None,
) -> JobDescription:
    """Read a Deadline job given as the text of its job info and plugin info files; ``source``
    (and ``plugin_source``, default ``source`` + `` (plugin info)``) name them in errors."""
    job = _KeyValues(job_info_text, source)
    plugin = (
        _KeyValues(plugin_info_text, plugin_source or f"{source} (plugin info)")
        if plugin_info_text is not None
        else None
    )
    return _Reader(job, plugin, notes if notes is not None else []).read()


def deadline_priority(value: int) -> JobPriority:
    """The farm's priority for a Deadline priority (0-24 low, 25-49 medium, 50-74 high,
    75-100 critical)."""
    return JobPriority.from_rank(min(3, max(0, value) // 25))


def deadline_frames(text: str) -> list[FrameRun]:
    """The runs of a Deadline frame list; raises ``ValueError`` naming the part that is not
    one."""
    parts = [part for part in re.split(r"[,\s]+", text.strip()) if part]
    if not parts:
        raise ValueError("is empty")
    runs: list[FrameRun] = []
    for part in parts:
        match = _PART.match(part)
        if match is None:
            raise ValueError(
                f"{part!r} is not a frame range (write it like '1-100', '1-100x5', '1,3,5')"
            )
        first = int(match["a"])
        last = int(match["b"]) if match["b"] is not None else first
        step = int(match["step"]) if match["step"] is not None else 1
        if step == 0:
            raise ValueError(f"{part!r} has a step of 0")
        runs.append((first, last, step if last >= first else -step))
    return runs


# Files --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    key: str
    value: str
    line: int


class _KeyValues:
    """One ``Key=Value`` file, keys looked up whatever their case."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self._entries: dict[str, _Entry] = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            key, equals, value = line.partition("=")
            key = key.strip()
            if not equals or not key:
                shown = line if len(line) <= 60 else line[:57] + "..."
                raise JobFileError(
                    source, f"expected a Key=Value line, got {shown!r}", f"line {number}"
                )
            self._entries[key.lower()] = _Entry(key, value.strip(), number)

    def get(self, key: str) -> _Entry | None:
        entry = self._entries.get(key.lower())
        return entry if entry is not None and entry.value else None

    def value(self, key: str) -> str | None:
        entry = self.get(key)
        return entry.value if entry is not None else None

    def entries(self) -> list[_Entry]:
        return list(self._entries.values())

    def fail(self, entry: _Entry, problem: str) -> JobFileError:
        return JobFileError(self.source, problem, f"line {entry.line}, {entry.key}")

    def missing(self, key: str, problem: str) -> JobFileError:
        return JobFileError(self.source, f"{key} is missing: {problem}")

    def integer(self, key: str, low: int, high: int, meaning: str) -> int | None:
        entry = self.get(key)
        if entry is None:
            return None
        try:
            number = int(entry.value)
        except ValueError:
            number = None
        if number is None or not low <= number <= high:
            raise self.fail(
                entry,
                f"must be a whole number from {low} to {high} ({meaning}), got {entry.value!r}",
            )
        return number

    def boolean(self, key: str) -> bool:
        entry = self.get(key)
        if entry is None:
            return False
        lowered = entry.value.lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        raise self.fail(entry, f"must be True or False, got {entry.value!r}")

    def names(self, *keys: str) -> list[str]:
        """The comma-separated names of the first of ``keys`` given."""
        for key in keys:
            text = self.value(key)
            if text:
                return list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
        return []


def _read(path: Path) -> str:
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise JobFileError(source, f"cannot read the file: {error.strerror or error}") from error
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise JobFileError(
            source, f"not UTF-8 or UTF-16 text (byte {error.start} cannot be decoded)"
        ) from error


def _sibling_plugin_info(job_info: Path) -> Path | None:
    name = job_info.name
    for written, wanted in (("job_info", "plugin_info"), ("jobinfo", "plugininfo")):
        index = name.lower().find(written)
        if index >= 0:
            candidate = job_info.with_name(name[:index] + wanted + name[index + len(written) :])
            return candidate if candidate.is_file() else None
    return None


# The job ------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, job: _KeyValues, plugin: _KeyValues | None, notes: list[str]) -> None:
        self.job = job
        self.plugin = plugin
        self.notes = notes
        self.frames: list[int] | None = None
        self.single_frames = False

    def note(self, where: str, message: str) -> None:
        self.notes.append(f"{where}: {message}")

    def read(self) -> JobDescription:
        job = self.job
        plugin_entry = job.get("Plugin")
        if plugin_entry is None:
            raise job.missing("Plugin", "a Deadline job names the plugin that renders it")
        plugin_name = plugin_entry.value
        frames = self._frames()
        chunk = job.integer("ChunkSize", 1, MAX_FRAMES, "frames per task")
        command, cpus = self._command(plugin_name)
        if self.single_frames:
            if chunk is not None and chunk > 1:
                self.note(
                    "ChunkSize",
                    f"the {plugin_name} plugin renders one frame per task: ChunkSize {chunk} → 1",
                )
            chunk = 1
        if self.frames is None and any(
            placeholder in argument
            for argument in command
            for placeholder in ("{start}", "{end}", "{frames}")
        ):
            self.note("Frames", "no Frames: the command's frame placeholders get no frames")
        try:
            step = JobStep(
                name="main",
                frames=frames,
                chunk_size=chunk,
                command=command,
                job_type=plugin_name.lower(),
            )
        except ValidationError as error:
            raise self._invalid(error) from error
        values: dict[str, Any] = {
            "source": job.source,
            "format": "deadline",
            "name": job.value("Name") or "Untitled",
            "steps": [step],
            "job_type": plugin_name.lower(),
            "cpu_requirements": cpus,
            "dependencies": self._dependencies(),
            "limits": dict.fromkeys(job.names("LimitGroups"), 1),
            "required_attributes": self._attributes(),
            "excluded_node_ids": job.names("Blacklist", "Denylist"),
            "output_path": job.value("OutputDirectory0"),
            "parameters": self._parameters(),
        }
        priority = job.integer("Priority", 0, DEADLINE_MAX_PRIORITY, "Deadline's job priority")
        if priority is not None:
            values["priority"] = deadline_priority(priority)
        machine_limit = job.integer("MachineLimit", 0, 1_000_000, "0 for no limit")
        if machine_limit:
            values["machine_limit"] = machine_limit
        self._unsupported()
        try:
            return JobDescription(**values)
        except ValidationError as error:
            raise self._invalid(error) from error

    def _invalid(self, error: ValidationError) -> JobFileError:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        return JobFileError(self.job.source, f"{field}: {first['msg']}")

    def _frames(self) -> str | None:
        entry = self.job.get("Frames")
        if entry is None:
            return None
        try:
            expression, frames, reordered = frames_expression(deadline_frames(entry.value))
        except ValueError as error:
            raise self.job.fail(entry, f"{entry.value!r} is not a frame list: {error}") from error
        if reordered:
            self.note(
                f"Frames (line {entry.line})",
                f"frames {entry.value!r} run in ascending order ({expression}); the written "
                "order is not kept",
            )
        self.frames = frames
        return expression

    def _dependencies(self) -> list[str]:
        dependencies = self.job.names("JobDependencies")
        if dependencies and self.job.boolean("IsFrameDependent"):
            self.note(
                "IsFrameDependent",
                "frame-by-frame dependencies between jobs cannot be expressed: the job waits "
                f"for the whole of {', '.join(dependencies)}",
            )
        return dependencies

    def _attributes(self) -> dict[str, list[str]]:
        job = self.job
        attributes: dict[str, list[str]] = {}
        pools = [
            pool
            for pool in (job.value("Pool"), job.value("SecondaryPool"))
            if pool and pool.lower() != "none"
        ]
        if pools:
            attributes["pool"] = list(dict.fromkeys(pools))
        group = job.value("Group")
        if group and group.lower() != "none":
            attributes["group"] = [group]
        machines = job.names("Whitelist", "Allowlist")
        if machines:
            attributes["machine"] = machines
        return attributes

    def _parameters(self) -> dict[str, Any]:
        job = self.job
        parameters: dict[str, Any] = {
            name: text for key, name in _RECORDED.items() if (text := job.value(key))
        }
        extra: dict[str, str] = {}
        for entry in job.entries():
            lowered = entry.key.lower()
            if lowered.startswith("extrainfokeyvalue") and entry.value:
                key, _, value = entry.value.partition("=")
                extra[key.strip()] = value.strip()
            elif re.fullmatch(r"extrainfo\d", lowered) and entry.value:
                extra[entry.key] = entry.value
        if extra:
            parameters["extra_info"] = extra
        return parameters

    def _unsupported(self) -> None:
        status = self.job.value("InitialStatus")
        if status and status.lower() == "suspended":
            self.note("InitialStatus", "the job was to start suspended; it is submitted runnable")
        variables = [
            entry
            for entry in self.job.entries()
            if entry.key.lower().startswith("environmentkeyvalue") and entry.value
        ]
        if variables:
            self.note(
                "EnvironmentKeyValue",
                f"{len(variables)} environment variable(s) not carried (the farm's jobs have no "
                "environment)",
            )

    # The command ----------------------------------------------------------------------------

    def _command(self, plugin_name: str) -> tuple[list[str], int | None]:
        """The argv of a task and the threads it asks for."""
        builders = {
            "blender": self._blender,
            "arnold": self._arnold,
            "vray": self._vray,
            "renderman": self._renderman,
            "commandline": self._command_line,
        }
        build = builders.get(plugin_name.lower())
        if build is None:
            self.note(
                "Plugin",
                f"no command for the {plugin_name} plugin (known: {', '.join(KNOWN_PLUGINS)})",
            )
            return [], None
        if plugin_name.lower() in ("arnold", "renderman"):
            self.single_frames = True
        if self.plugin is None:
            self.note("Plugin", f"no plugin info file: the {plugin_name} job has no command")
            return [], None
        return build(self.plugin)

    def _blender(self, info: _KeyValues) -> tuple[list[str], int | None]:
        scene = self._required(info, "SceneFile", "the .blend file to render")
        threads = info.integer("Threads", 0, 1_000_000, "0 for every core") or 0
        command = ["blender", "-b", scene, "-t", str(threads)]
        output = info.value("OutputFile")
        if output:
            command += ["-x", "1", "-o", output]
        return [*command, "-s", "{start}", "-e", "{end}", "-a"], threads or None

    def _arnold(self, info: _KeyValues) -> tuple[list[str], int | None]:
        entry = self._required_entry(info, "InputFile", "the .ass file to render")
        threads = info.integer("Threads", 0, 1_000_000, "0 for every core") or 0
        scene, output_frame = entry.value, None
        if not info.boolean("DisableFrameInterpretation"):
            scene, output_frame = self._frame_file(info, entry, first_number=False)
        command = ["kick", "-nstdin", "-dw", "-dp", "-i", scene]
        output = info.value("OutputFile")
        if output:
            if output_frame is not None:  # Deadline appends the frame to the output's name
                head, name = _split_path(output)
                stem, dot, ext = name.rpartition(".")
                name = f"{stem}{output_frame}.{ext}" if dot else f"{name}{output_frame}"
                output = head + name
            command += ["-o", output]
        command += ["-v", info.value("Verbose") or "4"]
        if threads:
            command += ["-t", str(threads)]
        command += self._options(info)
        return command, threads or None

    def _vray(self, info: _KeyValues) -> tuple[list[str], int | None]:
        entry = self._required_entry(info, "InputFilename", "the .vrscene file to render")
        threads = info.integer("Threads", 0, 1_000_000, "0 for every core") or 0
        scene = entry.value
        if info.boolean("SeparateFilesPerFrame"):
            self.single_frames = True
            scene, _ = self._frame_file(info, entry, first_number=False)
        command = [
            "vray",
            f"-sceneFile={scene}",
            "-interactive=0",
            "-display=0",
            "-frames={start}-{end}",
        ]
        output = info.value("OutputFilename")
        if output:
            command.append(f"-imgFile={output}")
        command.append(f"-numThreads={threads}")
        for key, flag in (("Width", "-imgWidth"), ("Height", "-imgHeight")):
            size = info.integer(key, 0, 1_000_000, "pixels, 0 for the scene's")
            if size:
                command.append(f"{flag}={size}")
        return command + self._options(info), threads or None

    def _renderman(self, info: _KeyValues) -> tuple[list[str], int | None]:
        entry = info.get("RibFile") or info.get("SceneFile")
        if entry is None:
            raise info.missing("RibFile", "the RenderMan plugin renders a .rib file")
        threads = info.integer("Threads", 0, 1_000_000, "0 for every core") or 0
        rib, _ = self._frame_file(info, entry, first_number=True)
        command = ["prman", *self._options(info), "-Progress", f"-t:{threads}", rib]
        return command, threads or None

    def _command_line(self, info: _KeyValues) -> tuple[list[str], int | None]:
        executable = self._required(info, "Executable", "the program each task runs")
        entry = info.get("Arguments")
        if entry is None:
            return [executable], None
        kept: list[str] = []

        def replace(match: re.Match[str]) -> str:
            if match.group(1) is None:
                return '"'
            placeholder = "{start}" if match.group(1).upper() == "STARTFRAME" else "{end}"
            width = int(match.group(2) or 1)
            if self.frames is not None and padding_fits(self.frames, width):
                return placeholder
            kept.append(match.group(0))
            return match.group(0)

        arguments = _ARGUMENT_TOKEN.sub(replace, entry.value)
        if kept:
            self.note(
                f"Arguments (plugin info, line {entry.line})",
                f"{', '.join(dict.fromkeys(kept))} kept as written: zero-padded frame numbers "
                "cannot be written with the farm's placeholders for these frames",
            )
        if "<AUXFILE" in arguments.upper():
            self.note(
                f"Arguments (plugin info, line {entry.line})",
                "<AUXFILE#> kept as written: the farm has no auxiliary files",
            )
        try:
            return [executable, *split_command(arguments)], None
        except ValueError as error:
            raise info.fail(entry, f"cannot be split into arguments: {error}") from error

    # Plugin info helpers --------------------------------------------------------------------

    def _required(self, info: _KeyValues, key: str, meaning: str) -> str:
        return self._required_entry(info, key, meaning).value

    def _required_entry(self, info: _KeyValues, key: str, meaning: str) -> _Entry:
        entry = info.get(key)
        if entry is None:
            plugin = self.job.value("Plugin")
            raise info.missing(key, f"the {plugin} plugin needs {meaning}")
        return entry

    def _options(self, info: _KeyValues) -> list[str]:
        entry = info.get("CommandLineOptions")
        if entry is None:
            return []
        try:
            return split_command(entry.value)
        except ValueError as error:
            raise info.fail(entry, f"cannot be split into arguments: {error}") from error

    def _frame_file(
        self, info: _KeyValues, entry: _Entry, *, first_number: bool
    ) -> tuple[str, str | None]:
        """``entry``'s file with its frame number as ``{start}``, the way Deadline swaps in the
        task's frame (the last number before the extension, or for RenderMan the first number of
        the name and a frame-number folder); also what stands for the frame (None: no frame in
        the name). Kept as written, with a note, when padding makes ``{start}`` wrong."""
        head, name = _split_path(entry.value)
        if first_number:
            match = re.search(r"\d+", name)
            spans = [(match.start(), match.end())] if match else []
        else:
            match = _FRAME_FILE.match(name)
            spans = [match.span("frame")] if match else []
        if not spans:
            return entry.value, None
        folder_head, folder = _split_path(head.rstrip("/\\"))
        folder_is_frame = first_number and folder.isdigit() and bool(folder_head)
        widths = [end - start for start, end in spans]
        if folder_is_frame:
            widths.append(len(folder))
        if self.frames is None or not all(padding_fits(self.frames, width) for width in widths):
            self.note(
                f"{entry.key} (plugin info, line {entry.line})",
                "the frame number in the file name is zero-padded and cannot be written with "
                "{start} for these frames: kept as written",
            )
            return entry.value, None
        start, end = spans[0]
        name = name[:start] + "{start}" + name[end:]
        if folder_is_frame:
            head = folder_head + "{start}" + head[len(head.rstrip("/\\")) :]
        return head + name, "{start}"


def _split_path(path: str) -> tuple[str, str]:
    """(everything up to and including the last ``/`` or ``\\``, the name after it)."""
    cut = max(path.rfind("/"), path.rfind("\\")) + 1
    return path[:cut], path[cut:]
