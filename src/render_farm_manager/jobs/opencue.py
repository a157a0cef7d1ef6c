"""OpenCue job specs: the XML (cjsl DTD) that ``outline``/``pycuerun`` and CueSubmit send to
Cuebot, read into a :class:`~render_farm_manager.jobs.description.JobDescription`.

A spec holds one ``<job>`` (a spec with several is refused: split it, one job per file). How it
maps (checked against Cuebot's ``JobSpec`` and outline's spec writer):

* ``<job name>`` → ``name``; ``<show>``, ``<shot>``, ``<user>``, ``<facility>`` → ``parameters``
  (for the record); ``<os>`` → ``os`` (``Windows…`` → ``windows``, ``Linux``/``rhel…``/… →
  ``linux``, ``mac…``/``darwin`` → ``macos``, anything else lowercased).
* ``<priority>`` (a whole number, Cuebot's default 1, larger runs first) → :class:`JobPriority` by
  band: ``≤ 0`` low, ``1-99`` medium, ``100-999`` high, ``≥ 1000`` critical.
* Each ``<layer>`` → one :class:`JobStep` named like the layer:

  - ``<range>`` (OpenCue frame sets: ``1-100``, ``1-100x5``, ``100-1``, ``1,3,5``; ``1-100y5``
    (the frames ``x5`` skips) and ``1-100:5`` (every frame, staggered)) → ``frames`` in Open
    Job Description syntax (``1-100:5``). Frames run ascending, each once, where the written
    order cannot be kept (a note says so).
  - ``<chunk>`` → ``chunk_size``.
  - ``<cores>`` → ``cpu_requirements``, rounded up (``4.5`` → 5); ``0`` or less (all cores of the
    host) → no requirement. Unlike Cuebot, which reads a number without a decimal point as core
    *points* (hundredths of a core), every value is read as cores: outline always writes cores
    with one decimal (``8.0``), so the two agree on what outline submits.
  - ``<memory>`` and ``<gpu_memory>`` (or the deprecated ``<gpu>``) → GB, in Cuebot's units:
    ``4g`` = 4 GB, ``512m`` = 0.5 GB, a bare number = GB (``4`` = 4 GB). Cuebot falls back to a
    default on a value it cannot read; here such a value is an error.
  - ``<gpus>`` → ``gpu_count``; any GPU or GPU memory → ``requires_gpu``.
  - ``<cmd>`` → ``command``, split like a POSIX shell would (``shlex``; with backslashes, as on
    Windows, quotes group and backslashes stay). Cuebot's tokens become the farm's placeholders:
    ``#IFRAME#`` and ``#FRAME_START#`` → ``{start}``, ``#FRAME_END#`` → ``{end}``,
    ``#FRAMESPEC#`` → ``{frames}``; ``#FRAME_CHUNK#``, ``#LAYER#``, ``#JOB#`` are written out;
    the zero-padded ``#ZFRAME#`` (and ``#FRAME#``, ``0001-layer``) → ``{start}`` only when no
    frame of the layer needs padding (every frame has 4 digits or more), else kept as written
    (with a note).
  - ``<services>`` → ``job_type`` (the first service); ``<limits>`` → ``limits`` (one of each).
  - ``type="Post"`` layers (Cuebot runs them in a job after this one) wait for every other layer.
* ``<tags>`` (``a | b``: a host with either tag) of every layer → ``required_attributes``
  ``{"tags": [...]}`` for the whole job (the union: a note says so when the layers differ).
* ``job_type`` of the job: the service of its first ``Render`` layer (else of its first layer).
* ``<depends>``: ``LAYER_ON_LAYER`` between two layers → ``depends_on``; ``FRAME_BY_FRAME`` → the
  same with ``frame_by_frame``; a dependency on another job (``JOB_ON_JOB``, or a layer or frame
  of it) → ``dependencies`` (by job name; a layer waiting for another job makes the whole job
  wait). Frame-level dependencies inside the job (``LAYER_ON_FRAME``, ``FRAME_ON_FRAME``, …)
  become whole-layer ones (stricter; a note says so); a layer waiting on its own frames
  (``PREVIOUS_FRAME``, simulations) cannot be expressed and is left out with a note. A
  dependency naming an unknown layer is an error.

Not carried: ``<paused>``, ``<env>`` (notes when present), ``<maxretries>``, ``<maxcores>``,
``<maxgpus>``, ``<autoeat>``, ``<localbook>``, ``<timeout>``, ``<timeout_llu>``,
``<threadable>``, ``<slots_required>``, ``<outputs>``, ``<dept>``, ``<email>``, ``<uid>``.

Every file that cannot be read raises :class:`JobFileError` naming the file, the line (and the
element path, e.g. ``job[name=sh010]/layers/layer[name=render]/range``) and what is wrong. What
the farm cannot express is appended, as one sentence each, to ``notes`` when a list is passed.

The frame-list and command-splitting helpers here (:func:`frames_expression`,
:func:`split_command`, :func:`padding_fits`) are shared with the Deadline importer.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, TreeBuilder

import defusedxml.ElementTree as DefusedElementTree  # type: ignore[import-untyped]
from defusedxml import DefusedXmlException
from pydantic import ValidationError

from render_farm_manager.core.errors import DependencyCycleError, InvalidInputError, JobFileError
from render_farm_manager.core.models import MAX_FRAMES, JobPriority, JobStep
from render_farm_manager.jobs.description import JobDescription
from render_farm_manager.jobs.expansion import step_order
from render_farm_manager.jobs.frame_range import format_frames, parse_frames

FrameRun = tuple[int, int, int]
"""First frame, last frame as written (inclusive), signed step (never 0)."""

LAYER_TYPES = ("render", "util", "post")
DEPEND_TYPES = (
    "JOB_ON_JOB",
    "JOB_ON_LAYER",
    "JOB_ON_FRAME",
    "LAYER_ON_JOB",
    "LAYER_ON_LAYER",
    "LAYER_ON_FRAME",
    "LAYER_ON_SIM_FRAME",
    "FRAME_ON_JOB",
    "FRAME_ON_LAYER",
    "FRAME_ON_FRAME",
    "FRAME_BY_FRAME",
    "PREVIOUS_FRAME",
)
ZFRAME_WIDTH = 4
"""Cuebot pads ``#ZFRAME#`` (and the frame of ``#FRAME#``) to four digits."""

_MEMORY = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s*(?:(?P<unit>[mg])b?)?$", re.IGNORECASE)
_CUE_PART = re.compile(r"^(?P<a>-?\d+)(?:-(?P<b>-?\d+)(?:(?P<mode>[xy:])(?P<step>\d+))?)?$")
_TOKEN = re.compile(r"#([A-Z_]+)#")
_FRAME_NAME = re.compile(r"^(?P<frame>-?\d+)-(?P<layer>.+)$")


# Shared helpers (frame lists, commands) -----------------------------------------------------


def frames_expression(runs: Sequence[FrameRun]) -> tuple[str, list[int], bool]:
    """The Open Job Description expression for the frames of ``runs`` (each once), the frames in
    the order the farm will run them, and whether that order differs from the written one.

    Runs translate one for one (``1-100x5`` → ``1-100:5``) when Open Job Description can keep
    them as written; otherwise (overlapping or out-of-order runs) the frames are written as the
    shortest ascending expression. Raises ``ValueError`` saying what is wrong (too many frames,
    frame numbers out of range)."""
    total = sum(_run_length(run) for run in runs)
    if total > MAX_FRAMES:
        raise ValueError(f"has {total} frames; a shot may have at most {MAX_FRAMES}")
    written = [frame for first, last, step in runs for frame in _run_frames(first, last, step)]
    if not written:
        raise ValueError("has no frames")
    unique = list(dict.fromkeys(written))
    direct = ",".join(_run_token(run) for run in runs)
    try:
        if parse_frames(direct) == written:
            return direct, written, False
    except InvalidInputError:
        pass
    expression = format_frames(unique)
    try:
        frames = parse_frames(expression)
    except InvalidInputError as error:
        raise ValueError(str(error)) from error
    return expression, frames, frames != unique


def padding_fits(frames: Iterable[int], width: int) -> bool:
    """Does writing every frame without padding give the same text as zero-padding it to
    ``width`` digits? (Then ``{start}`` can stand for a padded frame number.)"""
    listed = list(frames)
    return bool(listed) and all(frame >= 0 and len(str(frame)) >= width for frame in listed)


def split_command(text: str) -> list[str]:
    """Split a command line into arguments like a POSIX shell; a line with backslashes (Windows
    paths) is split on spaces outside quotes, keeping the backslashes and dropping the quotes.
    Raises ``ValueError`` on an unclosed quote."""
    if "\\" not in text:
        return shlex.split(text)
    parts = shlex.split(text, posix=False)
    return [
        part[1:-1] if len(part) >= 2 and part[0] == part[-1] and part[0] in "\"'" else part
        for part in parts
    ]


def _run_length(run: FrameRun) -> int:
    first, last, step = run
    if step > 0:
        return 0 if last < first else (last - first) // step + 1
    return 0 if last > first else (first - last) // -step + 1


def _run_frames(first: int, last: int, step: int) -> range:
    return range(first, last + (1 if step > 0 else -1), step)


def _run_token(run: FrameRun) -> str:
    first, last, step = run
    if first == last:
        return str(first)
    return f"{first}-{last}" if step == 1 else f"{first}-{last}:{step}"


# Public API ---------------------------------------------------------------------------------


def load_opencue(path: str | Path, *, notes: list[str] | None = None) -> JobDescription:
    """Read the OpenCue job spec at ``path`` (see the module documentation for the mapping)."""
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise JobFileError(source, f"cannot read the file: {error.strerror or error}") from error
    return _parse(data, source, notes)


def parse_opencue(
    text: str | bytes, source: str, *, notes: list[str] | None = None
) -> JobDescription:
    """Read an OpenCue job spec given as text; ``source`` names it in errors."""
    return _parse(text, source, notes)


def opencue_priority(value: int) -> JobPriority:
    """The farm's priority for an OpenCue job priority (``≤ 0`` low, ``1-99`` medium,
    ``100-999`` high, ``≥ 1000`` critical)."""
    if value <= 0:
        return JobPriority.LOW
    if value < 100:
        return JobPriority.MEDIUM
    if value < 1000:
        return JobPriority.HIGH
    return JobPriority.CRITICAL


def opencue_memory_gb(text: str) -> float:
    """GB for an OpenCue memory value (``4g``, ``512m``, a bare number of GB); raises
    ``ValueError`` for anything else or for zero."""
    match = _MEMORY.match(text.strip())
    if match is None:
        raise ValueError(
            f"{text!r} is not an amount of memory: write it like '8g' (GB), '512m' (MB) or '8'"
        )
    number = float(match["number"])
    gb = number / 1024 if (match["unit"] or "g").lower() == "m" else number
    if gb <= 0:
        raise ValueError(f"{text!r} is no memory at all; give more than 0")
    return gb


def opencue_frames(text: str) -> tuple[list[FrameRun], bool]:
    """The runs of an OpenCue frame set, and whether its order is staggered (``a-b:n``).
    Raises ``ValueError`` naming the part that is not a frame range."""
    runs: list[FrameRun] = []
    staggered = False
    parts = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not part for part in parts):
        raise ValueError(f"{text!r} is not a frame range (write it like '1-100', '1-100x5')")
    for part in parts:
        match = _CUE_PART.match(part)
        shown = repr(part) if part == text.strip() else f"{part!r} in {text!r}"
        if match is None:
            raise ValueError(
                f"{shown} is not a frame range (write it like '1-100', '1-100x5', '1,3,5')"
            )
        first = int(match["a"])
        last = int(match["b"]) if match["b"] is not None else first
        step = int(match["step"]) if match["step"] is not None else 1
        if step == 0:
            raise ValueError(f"{shown} has a step of 0")
        direction = 1 if last >= first else -1
        mode = match["mode"]
        if mode == "y":  # the frames that the same range with "x" skips
            taken = set(_run_frames(first, last, step * direction))
            for frame in _run_frames(first, last, direction):
                if frame in taken:
                    continue
                if runs and runs[-1][2] == direction and frame == runs[-1][1] + direction:
                    runs[-1] = (runs[-1][0], frame, direction)
                else:
                    runs.append((frame, frame, direction))
        elif mode == ":":  # every frame, in a coarse-to-fine order
            staggered = staggered or step > 1
            runs.append((first, last, direction))
        else:
            runs.append((first, last, step * direction))
    return runs, staggered


# Parsing ------------------------------------------------------------------------------------


class _LineTracker:
    """An ElementTree parser target that remembers the line each element starts on."""

    def __init__(self) -> None:
        self._builder = TreeBuilder()
        self.lines: dict[int, int] = {}
        self.parser: Any = None

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        element = self._builder.start(tag, attrs)
        if self.parser is not None:
            self.lines[id(element)] = int(self.parser.parser.CurrentLineNumber)
        return element

    def end(self, tag: str) -> Element:
        return self._builder.end(tag)

    def data(self, data: str) -> None:
        self._builder.data(data)

    def close(self) -> Element:
        return self._builder.close()


class _Spec:
    """The parsed document, with the line of each element, for error messages."""

    def __init__(self, source: str, root: Element, lines: dict[int, int]) -> None:
        self.source = source
        self.root = root
        self._lines = lines

    def where(self, path: str, element: Element | None = None) -> str:
        line = self._lines.get(id(element)) if element is not None else None
        return f"line {line}: {path}" if line is not None else path

    def fail(self, problem: str, path: str, element: Element | None = None) -> JobFileError:
        return JobFileError(self.source, problem, self.where(path, element))


def _parse(data: str | bytes, source: str, notes: list[str] | None) -> JobDescription:
    tracker = _LineTracker()
    parser = DefusedElementTree.DefusedXMLParser(target=tracker)
    tracker.parser = parser
    try:
        parser.feed(data)
        root: Element = parser.close()
    except DefusedElementTree.ParseError as error:
        line, column = getattr(error, "position", (None, None))
        reason = str(error).split(":", 1)[0]
        location = f"line {line}, column {column}" if line is not None else None
        raise JobFileError(source, f"not well-formed XML: {reason}", location) from error
    except DefusedXmlException as error:
        raise JobFileError(
            source, f"refused: the XML declares entities or external references ({error!r})"
        ) from error
    spec = _Spec(source, root, tracker.lines)
    return _Reader(spec, notes if notes is not None else []).read()


class _Layer:
    def __init__(self, name: str, kind: str, element: Element, path: str) -> None:
        self.name = name
        self.kind = kind
        self.element = element
        self.path = path
        self.values: dict[str, Any] = {}
        self.tags: list[str] = []
        self.depends: list[tuple[str, str]] = []
        """(layer it waits for, LAYER_ON_LAYER or FRAME_BY_FRAME)."""


class _Reader:
    def __init__(self, spec: _Spec, notes: list[str]) -> None:
        self.spec = spec
        self.notes = notes

    def note(self, where: str, message: str) -> None:
        self.notes.append(f"{where}: {message}")

    def read(self) -> JobDescription:
        root = self.spec.root
        if root.tag != "spec":
            raise self.spec.fail(
                f"the root element must be <spec> (an OpenCue job spec), got <{root.tag}>",
                root.tag,
                root,
            )
        jobs = root.findall("job")
        if not jobs:
            raise self.spec.fail("the spec has no <job>", "spec", root)
        if len(jobs) > 1:
            names = ", ".join(repr(job.get("name")) for job in jobs)
            raise self.spec.fail(
                f"the spec has {len(jobs)} jobs ({names}); only one job per file is supported: "
                "write each job to its own spec",
                f"job[name={jobs[1].get('name')}]",
                jobs[1],
            )
        return self._job(jobs[0])

    def _job(self, job: Element) -> JobDescription:
        name = (job.get("name") or "").strip()
        if not name:
            raise self.spec.fail("the job has no name attribute", "job", job)
        path = f"job[name={name}]"
        parameters = {
            tag: text
            for tag in ("facility", "show", "shot", "user")
            if (text := _text(self.spec.root, tag))
        }
        layers = self._layers(job, name, path)
        dependencies = self._depends(name, parameters, layers)
        self._unsupported(job, path, layers)
        steps = [self._step(layer, layers) for layer in layers.values()]
        description: dict[str, Any] = {
            "source": self.spec.source,
            "format": "opencue",
            "name": name,
            "steps": steps,
            "dependencies": dependencies,
            "parameters": parameters,
            "job_type": self._job_type(layers),
        }
        priority = _text(job, "priority")
        if priority:
            value = self._integer(priority, f"{path}/priority", job.find("priority"))
            description["priority"] = opencue_priority(value)
        os_name = _text(job, "os")
        if os_name:
            description["os"] = _os_family(os_name)
        tags = self._tags(layers, path)
        if tags:
            description["required_attributes"] = {"tags": tags}
        self._check_order(name, steps, job)
        try:
            return JobDescription(**description)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"])
            raise self.spec.fail(f"{field}: {first['msg']}", path, job) from error

    # Layers ---------------------------------------------------------------------------------

    def _layers(self, job: Element, job_name: str, path: str) -> dict[str, _Layer]:
        container = job.find("layers")
        elements = container.findall("layer") if container is not None else []
        if not elements:
            raise self.spec.fail(
                "the job has no layers",
                f"{path}/layers",
                container if container is not None else job,
            )
        layers: dict[str, _Layer] = {}
        for element in elements:
            name = (element.get("name") or "").strip()
            if not name:
                raise self.spec.fail(
                    "a layer has no name attribute", f"{path}/layers/layer", element
                )
            layer_path = f"{path}/layers/layer[name={name}]"
            kind = (element.get("type") or "Render").strip()
            if kind.lower() not in LAYER_TYPES:
                raise self.spec.fail(
                    f"layer type {kind!r} is not one of Render, Util, Post", layer_path, element
                )
            key = _layer_key(name)
            if key in layers:
                raise self.spec.fail(f"the job has two layers named {name!r}", layer_path, element)
            layer = _Layer(name, kind.lower(), element, layer_path)
            self._layer_values(layer, job_name)
            layers[key] = layer
        return layers

    def _layer_values(self, layer: _Layer, job_name: str) -> None:
        element, path = layer.element, layer.path
        values = layer.values
        range_text = self._required(element, "range", path)
        try:
            runs, staggered = opencue_frames(range_text)
            frames_text, frames, reordered = frames_expression(runs)
        except ValueError as error:
            raise self.spec.fail(
                f"<range> {error}", f"{path}/range", element.find("range")
            ) from error
        if staggered or reordered:
            self.note(
                f"{path}/range",
                f"frames {range_text!r} run in ascending order ({frames_text}); the written "
                "order is not kept",
            )
        values["frames"] = frames_text
        chunk = self._integer(
            self._required(element, "chunk", path), f"{path}/chunk", element.find("chunk")
        )
        if chunk < 1:
            raise self.spec.fail(
                f"<chunk> must be 1 or more frames per task, got {chunk}",
                f"{path}/chunk",
                element.find("chunk"),
            )
        values["chunk_size"] = chunk
        values["command"] = self._command(
            self._required(element, "cmd", path), layer, job_name, chunk, frames
        )
        self._resources(layer)
        services = element.find("services")
        if services is not None:
            names = [(service.text or "").strip() for service in services.findall("service")]
            names = [service for service in names if service]
            if names:
                values["job_type"] = names[0]
        limits = element.find("limits")
        if limits is not None:
            names = [(limit.text or "").strip() for limit in limits.findall("limit")]
            if any(names):
                values["limits"] = {limit: 1 for limit in names if limit}
        tags = _text(element, "tags")
        if tags:
            layer.tags = list(dict.fromkeys(tag.strip() for tag in tags.split("|") if tag.strip()))

    def _resources(self, layer: _Layer) -> None:
        element, path, values = layer.element, layer.path, layer.values
        cores = _text(element, "cores")
        if cores:
            try:
                amount = float(cores)
                if not math.isfinite(amount):
                    raise ValueError
            except ValueError as error:
                raise self.spec.fail(
                    f"<cores> must be a number of cores such as '8.0', got {cores!r}",
                    f"{path}/cores",
                    element.find("cores"),
                ) from error
            if amount > 0:
                values["cpu_requirements"] = math.ceil(amount)
        memory = _text(element, "memory")
        if memory:
            values["memory_requirements_gb"] = self._memory(memory, element, "memory", path)
        gpus_text = _text(element, "gpus")
        gpus = None
        if gpus_text:
            gpus = self._integer(gpus_text, f"{path}/gpus", element.find("gpus"))
            if gpus < 0:
                raise self.spec.fail(
                    f"<gpus> cannot be negative, got {gpus}", f"{path}/gpus", element.find("gpus")
                )
            values["gpu_count"] = gpus
        gpu_tag = "gpu_memory" if element.find("gpu_memory") is not None else "gpu"
        gpu_memory_text = _text(element, gpu_tag)
        gpu_memory = None
        if gpu_memory_text:
            gpu_memory = self._memory(gpu_memory_text, element, gpu_tag, path)
            values["gpu_memory_gb"] = gpu_memory
        if (gpus or 0) > 0 or gpu_memory:
            values["requires_gpu"] = True

    def _memory(self, text: str, element: Element, tag: str, path: str) -> float:
        try:
            return opencue_memory_gb(text)
        except ValueError as error:
            raise self.spec.fail(f"<{tag}> {error}", f"{path}/{tag}", element.find(tag)) from error

    def _command(
        self, text: str, layer: _Layer, job_name: str, chunk: int, frames: list[int]
    ) -> list[str]:
        path = f"{layer.path}/cmd"
        kept: list[str] = []
        padded = padding_fits(frames, ZFRAME_WIDTH)
        simple: dict[str, str] = {
            "IFRAME": "{start}",
            "FRAME_START": "{start}",
            "FRAME_END": "{end}",
            "FRAMESPEC": "{frames}",
            "FRAME_CHUNK": str(chunk),
            "LAYER": layer.name,
            "JOB": job_name,
        }

        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token in simple:
                return simple[token]
            if token in ("ZFRAME", "FRAME") and padded:
                return "{start}" if token == "ZFRAME" else f"{{start}}-{layer.name}"
            kept.append(match.group(0))
            return match.group(0)

        command = _TOKEN.sub(replace, text)
        if kept:
            self.note(
                path,
                f"{', '.join(dict.fromkeys(kept))} kept as written: the farm's placeholders "
                "({start}, {end}, {frames}) cannot express it for these frames",
            )
        try:
            return split_command(command)
        except ValueError as error:
            raise self.spec.fail(
                f"<cmd> cannot be split into arguments: {error}",
                path,
                layer.element.find("cmd"),
            ) from error

    def _step(self, layer: _Layer, layers: dict[str, _Layer]) -> JobStep:
        values = dict(layer.values)
        depends_on = list(dict.fromkeys(layers[_layer_key(on)].name for on, _ in layer.depends))
        kinds = {kind for _, kind in layer.depends}
        if layer.kind == "post":
            others = [other.name for other in layers.values() if other.kind != "post"]
            depends_on = list(dict.fromkeys([*depends_on, *others]))
            kinds.add("LAYER_ON_LAYER")
        frame_by_frame = kinds == {"FRAME_BY_FRAME"}
        if "FRAME_BY_FRAME" in kinds and not frame_by_frame:
            self.note(
                layer.path,
                "waits frame by frame for some layers and for whole layers for others; the farm "
                "has one kind per step, so it waits for each whole layer",
            )
        try:
            return JobStep(
                name=layer.name,
                depends_on=depends_on,
                frame_by_frame=frame_by_frame and bool(depends_on),
                **values,
            )
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"])
            raise self.spec.fail(f"{field}: {first['msg']}", layer.path, layer.element) from error

    def _job_type(self, layers: dict[str, _Layer]) -> str | None:
        ordered = sorted(layers.values(), key=lambda layer: layer.kind != "render")
        for layer in ordered:
            job_type = layer.values.get("job_type")
            if job_type:
                return str(job_type)
        return None

    def _tags(self, layers: dict[str, _Layer], path: str) -> list[str]:
        tagged = [layer for layer in layers.values() if layer.tags]
        union = list(dict.fromkeys(tag for layer in tagged for tag in layer.tags))
        if len({tuple(sorted(layer.tags)) for layer in tagged}) > 1 or (
            tagged and len(tagged) < len(layers)
        ):
            self.note(
                f"{path}/layers",
                "host tags differ between layers, but the farm's are per job: every task needs "
                f"a host with one of {', '.join(union)}",
            )
        return union

    # Dependencies ---------------------------------------------------------------------------

    def _depends(
        self, job_name: str, parameters: dict[str, str], layers: dict[str, _Layer]
    ) -> list[str]:
        is_this_job = _job_matcher(job_name, parameters)
        dependencies: list[str] = []
        for container in self.spec.root.findall("depends"):
            for index, depend in enumerate(container.findall("depend"), start=1):
                where = f"depends/depend[{index}]"
                on_job = self._depend(depend, where, is_this_job, job_name, layers)
                if on_job is not None and on_job not in dependencies:
                    dependencies.append(on_job)
        return dependencies

    def _depend(
        self,
        depend: Element,
        where: str,
        is_this_job: Callable[[str], bool],
        job_name: str,
        layers: dict[str, _Layer],
    ) -> str | None:
        """Record one ``<depend>``; the other job it waits for, if any."""
        kind = (depend.get("type") or "").strip().upper()
        if kind not in DEPEND_TYPES:
            raise self.spec.fail(
                f"depend type {depend.get('type')!r} is not one of {', '.join(DEPEND_TYPES)}",
                where,
                depend,
            )
        dep_job, on_job = _text(depend, "depjob"), _text(depend, "onjob")
        if not dep_job or not on_job:
            raise self.spec.fail("a <depend> needs <depjob> and <onjob>", where, depend)
        if not is_this_job(dep_job):
            raise self.spec.fail(
                f"<depjob> {dep_job!r} is not this file's job {job_name!r}: only what this job "
                "waits for can be imported",
                f"{where}/depjob",
                depend.find("depjob"),
            )
        dep_layer = self._depend_layer(depend, "dep", where)
        on_layer = self._depend_layer(depend, "on", where)
        if not is_this_job(on_job):
            if dep_layer is not None or kind != "JOB_ON_JOB":
                self.note(
                    where,
                    f"{kind}: the whole job waits for job {on_job!r} (the farm's dependencies "
                    "between jobs are whole jobs)",
                )
            return on_job
        if on_layer is None:
            raise self.spec.fail(
                f"{kind}: the job {job_name!r} would wait for itself", where, depend
            )
        if dep_layer is None:
            raise self.spec.fail(
                f"{kind}: the job {job_name!r} would wait for its own layer {on_layer!r}",
                where,
                depend,
            )
        waiting = self._known_layer(dep_layer, layers, where, depend, "dep")
        upon = self._known_layer(on_layer, layers, where, depend, "on")
        if waiting is upon:
            self.note(
                where,
                f"{kind}: layer {waiting.name!r} waiting on its own frames cannot be expressed; "
                "left out",
            )
            return None
        if kind not in ("LAYER_ON_LAYER", "FRAME_BY_FRAME"):
            self.note(
                where,
                f"{kind}: layer {waiting.name!r} waits for the whole layer {upon.name!r} "
                "(stricter than the frame-level dependency written)",
            )
        elif kind == "LAYER_ON_LAYER" and (depend.get("anyframe") or "").lower() == "true":
            self.note(
                where,
                f"anyframe: layer {waiting.name!r} waits for the whole layer {upon.name!r}",
            )
        stored = "FRAME_BY_FRAME" if kind == "FRAME_BY_FRAME" else "LAYER_ON_LAYER"
        waiting.depends.append((upon.name, stored))
        return None

    def _depend_layer(self, depend: Element, side: str, where: str) -> str | None:
        layer = _text(depend, f"{side}layer")
        if layer:
            return layer
        frame = _text(depend, f"{side}frame")
        if not frame:
            return None
        match = _FRAME_NAME.match(frame)
        if match is None:
            raise self.spec.fail(
                f"<{side}frame> {frame!r} is not a frame name like '0001-render'",
                f"{where}/{side}frame",
                depend.find(f"{side}frame"),
            )
        return match["layer"]

    def _known_layer(
        self, name: str, layers: dict[str, _Layer], where: str, depend: Element, side: str
    ) -> _Layer:
        layer = layers.get(_layer_key(name))
        if layer is None:
            tag = f"{side}layer" if depend.find(f"{side}layer") is not None else f"{side}frame"
            known = ", ".join(repr(layer.name) for layer in layers.values())
            raise self.spec.fail(
                f"unknown layer {name!r} (the job's layers: {known})",
                f"{where}/{tag}",
                depend.find(tag),
            )
        return layer

    def _check_order(self, name: str, steps: list[JobStep], job: Element) -> None:
        try:
            step_order(name, steps)
        except (DependencyCycleError, InvalidInputError) as error:
            raise self.spec.fail(f"layer dependencies: {error}", "depends", job) from error

    # Small readers --------------------------------------------------------------------------

    def _unsupported(self, job: Element, path: str, layers: dict[str, _Layer]) -> None:
        if (_text(job, "paused") or "").lower() in ("true", "1", "yes"):
            self.note(f"{path}/paused", "the job was to start paused; it is submitted runnable")
        variables = [key for env in job.findall("env") for key in env.findall("key")]
        for layer in layers.values():
            variables += [key for env in layer.element.findall("env") for key in env.findall("key")]
        if variables:
            self.note(
                path,
                f"{len(variables)} environment variable(s) not carried (the farm's jobs have no "
                "environment)",
            )

    def _required(self, element: Element, tag: str, path: str) -> str:
        text = _text(element, tag)
        if not text:
            child = element.find(tag)
            raise self.spec.fail(
                f"the layer needs a non-empty <{tag}>",
                f"{path}/{tag}",
                child if child is not None else element,
            )
        return text

    def _integer(self, text: str, path: str, element: Element | None) -> int:
        try:
            return int(text)
        except ValueError as error:
            tag = path.rsplit("/", 1)[-1]
            raise self.spec.fail(
                f"<{tag}> must be a whole number, got {text!r}", path, element
            ) from error


def _text(element: Element, tag: str) -> str | None:
    child = element.find(tag)
    if child is None:
        return None
    return (child.text or "").strip()


def _layer_key(name: str) -> str:
    """Cuebot's form of a layer name (lowercase, ``-`` as ``_``): how depends find layers."""
    return name.strip().lower().replace("-", "_")


def _job_matcher(job_name: str, parameters: dict[str, str]) -> Callable[[str], bool]:
    """Does a job name in a depend mean this job? As written, or as Cuebot names it
    (``show-shot-user_name``, lowercase)."""
    names = {job_name.lower()}
    show, shot, user = (parameters.get(key) for key in ("show", "shot", "user"))
    if show and shot and user:
        names.add(f"{show}-{shot}-{user}_{job_name}".lower())

    def matches(name: str) -> bool:
        return name.strip().lower() in names

    return matches


def _os_family(name: str) -> str:
    lowered = name.strip().lower()
    if lowered.startswith("win"):
        return "windows"
    if lowered.startswith(("mac", "darwin", "osx")):
        return "macos"
    if lowered.startswith(("linux", "rhel", "centos", "rocky", "alma", "ubuntu", "debian")):
        return "linux"
    return lowered
