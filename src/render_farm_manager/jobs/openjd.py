"""Open Job Description (OpenJD) job templates and job bundles, read into a
:class:`~render_farm_manager.jobs.description.JobDescription`.

``openjd-model`` does the parsing, validation and parameter resolution (template defaults,
bundle values, overrides; format strings such as ``{{Param.Frames}}``); this module maps the
resulting job onto the farm's terms. Every problem raises
:class:`~render_farm_manager.core.errors.JobFileError` naming the file, the place in it (``line
12`` for a YAML/JSON syntax error, a field path such as
``steps[1].parameterSpace.taskParameterDefinitions[0].range`` otherwise) and what is wrong.

Input
    :func:`load_openjd` takes a template file (``.yaml``, ``.yml``, ``.json``) or a job bundle
    directory holding ``template.yaml`` (or ``.yml``/``.json``) and optionally
    ``parameter_values.yaml`` (or ``.yml``/``.json``) shaped ``parameterValues: [{name,
    value}]``. Values given to the function win over the bundle's, which win over the
    template's defaults. Bundle names with a vendor prefix (``deadline:priority``) are
    submission settings of another farm and are ignored. Extensions understood:
    ``TASK_CHUNKING``, ``EXPR``, ``FEATURE_BUNDLE_1``, ``REDACTED_ENV_VARS``, ``WRAP_ACTIONS``.

Steps and frames
    Each OpenJD step becomes a :class:`~render_farm_manager.core.models.JobStep` (same name,
    ``depends_on`` from its ``dependencies``). The step's frame dimension is its ``CHUNK[INT]``
    task parameter, else its ``INT`` parameter named ``Frame``, else its first ``INT``
    parameter; its range becomes ``frames`` (a list is written as a range expression). A
    ``CHUNK[INT]`` parameter also gives ``chunk_size`` (``chunks.defaultTaskCount``) and
    ``target_task_seconds`` (``chunks.targetRuntimeSeconds``). Any other task parameter must
    have exactly one value (the farm splits a step by frame only); a step without a frame
    parameter is one task.

Host requirements (minimums; ``max`` is not used)
    ``amount.worker.vcpu`` → ``cpu_requirements`` (rounded up); ``amount.worker.memory`` (MiB)
    → ``memory_requirements_gb`` (MiB / 1024); ``amount.worker.gpu`` → ``gpu_count`` and
    ``requires_gpu`` (when at least one); ``amount.worker.gpu.memory`` (MiB) →
    ``gpu_memory_gb``. These go on the step, and on the job too when there is only one step.
    ``attr.worker.os.family`` → ``os`` (one family per job); other ``attr.*`` →
    ``required_attributes`` keyed by the name without ``attr.`` (``attr.renderer`` →
    ``renderer``); custom ``amount.*`` (``amount.arnold``) → ``limits`` keyed the same way
    (``arnold``), rounded up. ``os``, attributes and limits of all steps are combined on the
    job; a step with limits also gets its own ``limits`` (then every step gets one, possibly
    empty). ``amount.worker.disk.scratch`` has no farm equivalent and is ignored.

Command
    ``JobStep.command`` is the ``onRun`` action as an argv list (``command`` then ``args``),
    job parameters resolved. References to the frame parameter become placeholders the farm
    fills per task: ``{{Task.Param.Frame}}`` → ``{frames}`` for a ``CHUNK[INT]`` parameter
    (the chunk's range expression) or ``{start}`` for an ``INT`` one (one frame per task);
    with the ``EXPR`` extension ``{{min(Task.Param.Frame)}}`` → ``{start}`` and
    ``{{max(Task.Param.Frame)}}`` → ``{end}``. Single-valued task parameters are replaced by
    their value. Other expressions (``{{Session.WorkingDirectory}}``, embedded files) are kept
    as written.

Sessions
    A template a command line cannot express (job or step environments, embedded files,
    step-level bindings, an action timeout or cancel method, expressions left in the command)
    keeps the template and its resolved parameter values in ``openjd_session``: its tasks run
    as openjd-sessions sessions (``execution.openjd_run``), exactly as the template says. The
    others run as the command line, where the renderer adapters resume and preview.

Farm fields OpenJD lacks (the extension block)
    OpenJD refuses unknown top-level keys and parameter names with dots, so the farm's business
    fields are *job parameters* with reserved names: ``RenderFarmClient`` (client id),
    ``RenderFarmPriority`` (``low``/``medium``/``high``/``critical``), ``RenderFarmDeadline``
    (ISO 8601), ``RenderFarmEstimatedHours`` (a number > 0) and ``RenderFarmMachineLimit`` (an
    integer ≥ 1). A template may declare them (``type: STRING``, or ``INT``/``FLOAT`` for the
    numbers) to give defaults; they may also be given without a declaration through the
    ``parameters`` argument or the bundle's values, which win. An empty value means "not set".
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

import yaml
from openjd.model import (
    DecodeValidationError,
    ModelValidationError,
    ParameterValue,
    create_job,
    decode_job_template,
    preprocess_job_parameters,
)
from openjd.model.v2023_09 import (
    AmountRequirement,
    AttributeRequirement,
    Job,
    JobTemplate,
    RangeExpressionTaskParameterDefinition,
    RangeListTaskParameterDefinition,
    Step,
    TaskParameterType,
)

from render_farm_manager.core.errors import InvalidInputError, JobFileError
from render_farm_manager.core.models import MAX_HOURS, JobPriority, JobStep
from render_farm_manager.jobs.description import JobDescription
from render_farm_manager.jobs.frame_range import format_frames, parse_frames

__all__ = [
    "FARM_PARAMETERS",
    "SUPPORTED_EXTENSIONS",
    "load_openjd",
    "parse_openjd",
]

TEMPLATE_FILES = ("template.yaml", "template.yml", "template.json")
VALUES_FILES = ("parameter_values.yaml", "parameter_values.yml", "parameter_values.json")
SUPPORTED_EXTENSIONS = (
    "TASK_CHUNKING",
    "EXPR",
    "FEATURE_BUNDLE_1",
    "REDACTED_ENV_VARS",
    "WRAP_ACTIONS",
)
CLIENT = "RenderFarmClient"
PRIORITY = "RenderFarmPriority"
DEADLINE = "RenderFarmDeadline"
ESTIMATED_HOURS = "RenderFarmEstimatedHours"
MACHINE_LIMIT = "RenderFarmMachineLimit"
FARM_PARAMETERS = (CLIENT, PRIORITY, DEADLINE, ESTIMATED_HOURS, MACHINE_LIMIT)
"""Reserved job parameter names carrying the farm's business fields."""

MIB_PER_GB = 1024
OS_FAMILIES = frozenset({"linux", "windows", "macos"})
_TYPE_TAG = re.compile(r"^[A-Z][A-Z0-9_]*(\[[A-Z0-9_\[\]]*\])?$")
_EXPRESSION = re.compile(r"\{\{(.*?)\}\}")
_TASK_PARAM = re.compile(r"^\s*Task\.(?:Raw)?Param\.(\w+)\s*$")
_TASK_PARAM_BOUND = re.compile(r"^\s*(min|max)\(\s*Task\.(?:Raw)?Param\.(\w+)\s*\)\s*$")
_JOB_PARAM = re.compile(r"^\s*(?:Raw)?Param\.(\w+)\s*$")
_PARAMETER_IN_MESSAGE = re.compile(r"\bparameter (\w+)")
_MISSING = "Values missing for required job parameters:"
_JOB_PARAM_NAME = re.compile(r"\bParam\.(\w+)")
_RANGE_PATH = re.compile(
    r"steps\[(\d+)\]\.parameterSpace\.taskParameterDefinitions\[(\d+)\]\.range"
)


@dataclass(frozen=True)
class _Given:
    """A parameter value from outside the template, and where it came from."""

    value: str
    source: str
    location: str | None


def load_openjd(
    path: str | Path,
    parameters: Mapping[str, str] | None = None,
    template_dir: Path | None = None,
) -> JobDescription:
    """Read an OpenJD job template file or job bundle directory.

    ``parameters`` (job parameter name → value) win over the bundle's
    ``parameter_values`` file, which wins over the template's defaults. Relative PATH
    parameters resolve against ``template_dir`` (default: the template's own directory; an
    uploaded template names the directory it came from). Raises :class:`JobFileError` for a
    file that cannot be read or used.
    """
    where = Path(path)
    given: dict[str, _Given] = {}
    if where.is_dir():
        template_path = _first_existing(where, TEMPLATE_FILES)
        if template_path is None:
            raise JobFileError(
                str(where),
                "not an Open Job Description job bundle: it has no template.yaml or template.json",
            )
        values_path = _first_existing(where, VALUES_FILES)
        if values_path is not None:
            given = _read_bundle_values(values_path)
    elif where.is_file():
        template_path = where
    else:
        raise JobFileError(str(where), "no such file or directory")
    text = _read_text(template_path)
    given.update(_explicit(parameters, str(template_path)))
    return _describe_text(
        text,
        source=str(where),
        file=str(template_path),
        as_json=template_path.suffix.lower() == ".json",
        template_dir=template_dir or template_path.parent.resolve(),
        given=given,
    )


def parse_openjd(
    text: str, source: str, parameters: Mapping[str, str] | None = None
) -> JobDescription:
    """Read an OpenJD job template (YAML or JSON) held in memory; ``source`` names it in
    errors. PATH parameters are kept as written (there is no directory to resolve them in)."""
    return _describe_text(
        text,
        source=source,
        file=source,
        as_json=text.lstrip().startswith("{"),
        template_dir=None,
        given=_explicit(parameters, source),
    )


# ------------------------------------------------------------------ reading documents


def _first_existing(directory: Path, names: Iterable[str]) -> Path | None:
    for name in names:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise JobFileError(str(path), f"cannot be read: {error}") from error


def _load_document(text: str, file: str, as_json: bool) -> Any:
    """The document as Python objects; a syntax error names its line."""
    if as_json:
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise JobFileError(
                file, f"not valid JSON: {error.msg}", f"line {error.lineno}"
            ) from error
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        location = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(error, "problem", None) or str(error)
        context = getattr(error, "context", None)
        detail = f"{problem} ({context})" if context else problem
        raise JobFileError(file, f"not valid YAML: {detail}", location) from error


def _explicit(parameters: Mapping[str, str] | None, file: str) -> dict[str, _Given]:
    return {
        str(name): _Given(_as_text(value), file, None) for name, value in (parameters or {}).items()
    }


def _read_bundle_values(path: Path) -> dict[str, _Given]:
    """``parameterValues: [{name, value}]`` from a bundle's parameter values file."""
    file = str(path)
    document = _load_document(_read_text(path), file, path.suffix.lower() == ".json")
    if document is None:
        return {}
    entries = document.get("parameterValues") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise JobFileError(
            file, "expected a mapping with a list 'parameterValues' of {name, value}"
        )
    given: dict[str, _Given] = {}
    for index, entry in enumerate(entries):
        location = f"parameterValues[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise JobFileError(file, "each entry must have a 'name' and a 'value'", location)
        if "value" not in entry:
            raise JobFileError(file, f"parameter {entry['name']!r} has no 'value'", location)
        name = entry["name"]
        if ":" in name:
            continue  # another farm's submission setting (deadline:priority, ...)
        given[name] = _Given(_as_text(entry["value"]), file, f"{location}.value")
    return given


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


# ------------------------------------------------------------------ openjd-model


def _describe_text(
    text: str,
    *,
    source: str,
    file: str,
    as_json: bool,
    template_dir: Path | None,
    given: dict[str, _Given],
) -> JobDescription:
    document = _load_document(text, file, as_json)
    if document is None:
        raise JobFileError(file, "the document is empty: expected a job template")
    if not isinstance(document, dict):
        raise JobFileError(
            file,
            "a job template must be a mapping (specificationVersion, name, steps, ...), "
            f"not {type(document).__name__}",
        )
    template = _decode(document, file)
    values = _resolve_parameters(template, file, given, template_dir)
    job = _create(template, values, file)
    description = _describe(job, template, values, given, source=source, file=file)
    if _needs_session(job, description):
        description.openjd_session = session_spec(document, values)
    return description


def session_spec(document: dict[str, Any], values: Mapping[str, ParameterValue]) -> dict[str, Any]:
    """What a node needs to run the job's tasks as openjd-sessions sessions."""
    return {
        "template": document,
        "parameters": {
            name: {"type": value.type.value, "value": str(value.value)}
            for name, value in values.items()
        },
    }


def _needs_session(job: Job, description: JobDescription) -> bool:
    """Whether a command line cannot say what the job's steps do: environments, embedded
    files, step-level bindings, action timeouts or cancel methods, or expressions left in the
    command once the parameters are in."""
    if job.jobEnvironments:
        return True
    for step in job.steps:
        script = step.script
        action = script.actions.onRun
        if step.stepEnvironments or script.embeddedFiles or getattr(script, "let", None):
            return True
        if action.timeout is not None or action.cancelation is not None:
            return True
    return any("{{" in argument for step in description.steps for argument in step.command)


def _decode(document: dict[str, Any], file: str) -> JobTemplate:
    try:
        template = decode_job_template(template=document, supported_extensions=SUPPORTED_EXTENSIONS)
    except (DecodeValidationError, ModelValidationError, ValueError) as error:
        _library_error(file, error)
    except NotImplementedError as error:
        raise JobFileError(file, str(error), "specificationVersion") from error
    if not isinstance(template, JobTemplate):  # pragma: no cover - one revision today
        raise JobFileError(file, "only jobtemplate-2023-09 is supported", "specificationVersion")
    return template


def _resolve_parameters(
    template: JobTemplate, file: str, given: dict[str, _Given], template_dir: Path | None
) -> dict[str, ParameterValue]:
    """Template defaults, then the given values, checked against the definitions."""
    definitions = [definition.name for definition in template.parameterDefinitions or []]
    for name, value in given.items():
        if name not in definitions and name not in FARM_PARAMETERS:
            defined = ", ".join(definitions) or "none"
            raise JobFileError(
                value.source,
                f"job parameter {name!r} is not defined in the template (it defines: {defined})",
                value.location,
            )
    inputs = {name: value.value for name, value in given.items() if name in definitions}
    try:
        return preprocess_job_parameters(
            job_template=template,
            job_parameter_values=inputs,
            job_template_dir=template_dir or Path(),
            current_working_dir=Path.cwd() if template_dir is not None else Path(),
            allow_job_template_dir_walk_up=True,
        )
    except ValueError as error:
        _parameter_error(file, str(error), definitions, given)


def _parameter_error(
    file: str, message: str, definitions: list[str], given: dict[str, _Given]
) -> NoReturn:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(_MISSING):
            missing = line[len(_MISSING) :].split(",")[0].strip()
            raise JobFileError(
                file,
                f"job parameter {missing!r} has no default and no value was given "
                "(give one in the parameters or the bundle's parameter_values)",
                _definition_location(missing, definitions),
            )
    for line in lines:
        found = _PARAMETER_IN_MESSAGE.search(line)
        name = found.group(1) if found else None
        source: str = file
        location = _definition_location(name, definitions)
        if name is not None and name in given:
            source, location = given[name].source, given[name].location
        raise JobFileError(source, f"bad job parameter value: {line}", location)
    raise JobFileError(file, f"bad job parameter values: {message}")  # pragma: no cover


def _definition_location(name: str | None, definitions: list[str]) -> str | None:
    if name is None or name not in definitions:
        return None
    return f"parameterDefinitions[{definitions.index(name)}]"


def _create(template: JobTemplate, values: dict[str, ParameterValue], file: str) -> Job:
    try:
        job = create_job(job_template=template, job_parameter_values=values)
    except (DecodeValidationError, ModelValidationError, ValueError) as error:
        try:
            _library_error(file, error)
        except JobFileError as mapped:
            written = _template_text_at(template, mapped.location)
            if written is None:
                raise
            used = ", ".join(
                f"{name}={str(values[name].value)!r}"
                for name in _JOB_PARAM_NAME.findall(written)
                if name in values
            )
            detail = f"written {written!r}" + (f" with {used}" if used else "")
            raise JobFileError(file, f"{mapped.problem} ({detail})", mapped.location) from error
    if not isinstance(job, Job):  # pragma: no cover - one revision today
        raise JobFileError(file, "only jobtemplate-2023-09 is supported", "specificationVersion")
    return job


def _template_text_at(template: JobTemplate, location: str | None) -> str | None:
    """The template's text of a task parameter's range that failed when the job was made."""
    found = _RANGE_PATH.fullmatch(location or "")
    if found is None:
        return None
    step, position = int(found.group(1)), int(found.group(2))
    try:
        space = template.steps[step].parameterSpace
        written = space.taskParameterDefinitions[position].range if space else None
    except IndexError:  # pragma: no cover - the library names existing places
        return None
    return None if written is None else _as_text(written)


def _library_error(file: str, error: Exception) -> NoReturn:
    """A JobFileError from openjd-model's message: the first error's field path as location,
    every error's text as the problem."""
    message = str(error).strip()
    lines = message.splitlines()
    if not lines or not re.match(r"^\d+ validation errors? for \w+", lines[0]):
        location = "specificationVersion" if "specificationVersion" in message else None
        raise JobFileError(file, " ".join(message.split()), location) from error
    entries: list[tuple[str | None, str]] = []
    for line in lines[1:]:
        if line.startswith(("\t", " ")):
            if entries:
                place, text = entries[-1]
                entries[-1] = (place, f"{text} {line.strip()}".strip())
        elif line.endswith(":"):
            entries.append((_field_path(line[:-1]), ""))
        else:
            _, _, text = line.partition(": ")
            entries.append((None, text.strip() or line.strip()))
    if not entries:  # pragma: no cover - the library always lists its errors
        raise JobFileError(file, " ".join(message.split())) from error
    location, problem = entries[0]
    others = [f"{place}: {text}" if place else text for place, text in entries[1:]]
    if others:
        problem = f"{problem} (and {len(others)} more: {'; '.join(others)})"
    raise JobFileError(file, problem, location) from error


def _field_path(loc: str) -> str:
    """``steps[0] -> parameterSpace -> INT -> range`` → ``steps[0].parameterSpace.range``."""
    parts = [part.strip() for part in loc.split(" -> ") if not _TYPE_TAG.match(part.strip())]
    if parts and parts[0].startswith("step["):
        parts[0] = "steps" + parts[0][len("step") :]
    return ".".join(parts)


# ------------------------------------------------------------------ mapping


@dataclass
class _Requirements:
    cpu: int | None = None
    memory_gb: float | None = None
    gpu_count: int | None = None
    gpu_memory_gb: float | None = None
    os: str | None = None
    attributes: dict[str, list[str]] | None = None
    limits: dict[str, int] | None = None


def _describe(
    job: Job,
    template: JobTemplate,
    values: dict[str, ParameterValue],
    given: dict[str, _Given],
    *,
    source: str,
    file: str,
) -> JobDescription:
    plain = {name: str(value.value) for name, value in values.items()}
    steps: list[JobStep] = []
    needs: list[_Requirements] = []
    for index, step in enumerate(job.steps):
        mapped, requirements = _step(index, step, plain, file)
        steps.append(mapped)
        needs.append(requirements)
    os_family: str | None = None
    attributes: dict[str, list[str]] = {}
    limits: dict[str, int] = {}
    for index, requirements in enumerate(needs):
        place = f"steps[{index}].hostRequirements.attributes"
        if requirements.os is not None:
            if os_family is not None and os_family != requirements.os:
                raise JobFileError(
                    file,
                    f"steps need different OS families ({os_family}, {requirements.os}); "
                    "a job runs on one",
                    place,
                )
            os_family = requirements.os
        for name, wanted in (requirements.attributes or {}).items():
            if name in attributes:
                both = [value for value in attributes[name] if value in wanted]
                if not both:
                    raise JobFileError(
                        file,
                        f"steps need attribute {name!r} to be one of {attributes[name]} and "
                        f"one of {wanted}: no node can be both",
                        place,
                    )
                attributes[name] = both
            else:
                attributes[name] = list(wanted)
        for name, count in (requirements.limits or {}).items():
            limits[name] = max(count, limits.get(name, 0))
    if limits:
        for mapped, requirements in zip(steps, needs, strict=True):
            mapped.limits = dict(requirements.limits or {})
    if len(steps) > 1:  # each step keeps its own host requirements
        for mapped, requirements in zip(steps, needs, strict=True):
            mapped.os = requirements.os
            mapped.required_attributes = dict(requirements.attributes or {})
    farm = _farm_fields(template, values, given, file)
    output = _output_directory(template, values)
    if output is not None and "output_path" not in farm:
        farm["output_path"] = output
    description: dict[str, Any] = {
        "source": source,
        "format": "openjd",
        "name": str(job.name),
        "steps": steps,
        "os": os_family,
        "required_attributes": attributes,
        "limits": limits,
        "parameters": {
            **{name: value.value for name, value in values.items()},
            **{name: given[name].value for name in FARM_PARAMETERS if name in given},
        },
        **farm,
    }
    if len(steps) == 1:
        only = steps[0]
        description.update(
            requires_gpu=only.requires_gpu,
            cpu_requirements=only.cpu_requirements,
            memory_requirements_gb=only.memory_requirements_gb,
            gpu_count=only.gpu_count,
            gpu_memory_gb=only.gpu_memory_gb,
        )
    try:
        return JobDescription(**description)
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        raise JobFileError(file, f"cannot be used as a job: {error}") from error


def _step(
    index: int, step: Step, job_values: dict[str, str], file: str
) -> tuple[JobStep, _Requirements]:
    where = f"steps[{index}]"
    definitions = step.parameterSpace.taskParameterDefinitions if step.parameterSpace else {}
    names = list(definitions)
    frame_name = frame_parameter(definitions)
    fixed: dict[str, str] = {}
    frames: str | None = None
    chunk_size: int | None = None
    target: float | None = None
    chunked = False
    for position, name in enumerate(names):
        definition = definitions[name]
        place = f"{where}.parameterSpace.taskParameterDefinitions[{position}].range"
        if name == frame_name:
            frames = _frames(definition, file, place)
            if definition.type == TaskParameterType.CHUNK_INT and definition.chunks is not None:
                chunked = True
                chunk_size = int(str(definition.chunks.defaultTaskCount))
                seconds = definition.chunks.targetRuntimeSeconds
                target = float(str(seconds)) if seconds is not None else None
                target = target or None
            continue
        count = len(definition.range)
        if count != 1:
            raise JobFileError(
                file,
                f"step {str(step.name)!r}: task parameter {name!r} has {count} values; the "
                "farm splits a step by frame only, so other task parameters must have exactly "
                "one value (make one step per value)",
                place,
            )
        fixed[name] = _as_text(next(iter(definition.range)))
    requirements = _requirements(step, file, where)
    gpu = requirements.gpu_count
    mapped = JobStep(
        name=str(step.name),
        frames=frames,
        chunk_size=chunk_size,
        target_task_seconds=target,
        depends_on=[str(dependency.dependsOn) for dependency in step.dependencies or []],
        command=_command(step, frame_name, chunked, fixed, job_values),
        requires_gpu=None if gpu is None else gpu >= 1,
        cpu_requirements=requirements.cpu,
        memory_requirements_gb=requirements.memory_gb,
        gpu_count=gpu,
        gpu_memory_gb=requirements.gpu_memory_gb,
    )
    return mapped, requirements


def frame_parameter(definitions: Mapping[str, Any]) -> str | None:
    chunked = [n for n, d in definitions.items() if d.type == TaskParameterType.CHUNK_INT]
    if chunked:
        return chunked[0]
    ints = [n for n, d in definitions.items() if d.type == TaskParameterType.INT]
    named = [name for name in ints if name.lower() == "frame"]
    candidates = named or ints
    return candidates[0] if candidates else None


def _frames(
    definition: RangeListTaskParameterDefinition | RangeExpressionTaskParameterDefinition,
    file: str,
    place: str,
) -> str:
    if isinstance(definition, RangeExpressionTaskParameterDefinition):
        text = str(definition.range)
    else:
        numbers = [int(str(value)) for value in definition.range]
        repeated = sorted({n for n in numbers if numbers.count(n) > 1})
        if repeated:
            raise JobFileError(file, f"frame {repeated[0]} is listed more than once", place)
        text = format_frames(numbers)
    try:
        parse_frames(text, field="range")
    except InvalidInputError as error:
        raise JobFileError(file, str(error), place) from error
    return text


def _requirements(step: Step, file: str, where: str) -> _Requirements:
    needs = _Requirements()
    host = step.hostRequirements
    if host is None:
        return needs
    for amount in host.amounts or []:
        _amount(needs, amount)
    for position, attribute in enumerate(host.attributes or []):
        _attribute(needs, attribute, file, f"{where}.hostRequirements.attributes[{position}]")
    return needs


def _amount(needs: _Requirements, amount: AmountRequirement) -> None:
    name = amount.name.lower()
    low = amount.min
    if low is None:
        return  # only a maximum: nothing the farm has to find
    if name == "amount.worker.vcpu":
        needs.cpu = math.ceil(low) if low > 0 else None
    elif name == "amount.worker.memory":
        needs.memory_gb = _gb(low)
    elif name == "amount.worker.gpu":
        needs.gpu_count = math.ceil(low)
    elif name == "amount.worker.gpu.memory":
        needs.gpu_memory_gb = _gb(low) or 0.0
    elif _capability(name, "amount.").startswith("worker."):
        return  # amount.worker.disk.scratch: nothing in the farm to match it against
    elif low > 0:
        needs.limits = {**(needs.limits or {}), _capability(name, "amount."): math.ceil(low)}


def _gb(mib: Decimal) -> float | None:
    return round(float(mib) / MIB_PER_GB, 3) if mib > 0 else None


def _capability(name: str, prefix: str) -> str:
    """``amount.arnold`` → ``arnold``; ``acme:attr.site`` → ``acme:site``."""
    vendor, _, rest = name.rpartition(":")
    short = rest[len(prefix) :] if rest.startswith(prefix) else rest
    return f"{vendor}:{short}" if vendor else short


def _attribute(
    needs: _Requirements, attribute: AttributeRequirement, file: str, place: str
) -> None:
    name = attribute.name.lower()
    any_of = [str(value) for value in attribute.anyOf or []]
    all_of = [str(value) for value in attribute.allOf or []]
    if len(all_of) > 1:
        raise JobFileError(
            file,
            f"{attribute.name}: allOf with several values is not supported (a node's attribute "
            "has one value); use anyOf",
            place,
        )
    if all_of and any_of and all_of[0] not in any_of:
        raise JobFileError(file, f"{attribute.name}: allOf value is not among anyOf", place)
    wanted = all_of or any_of
    if name == "attr.worker.os.family":
        families = sorted({value.lower() for value in wanted})
        if set(families) >= OS_FAMILIES:
            return
        if len(families) != 1:
            raise JobFileError(
                file,
                f"attr.worker.os.family: anyOf {families}: the farm runs a job on one OS "
                "family; name exactly one",
                place,
            )
        needs.os = families[0]
        return
    needs.attributes = {**(needs.attributes or {}), _capability(name, "attr."): wanted}


def _command(
    step: Step,
    frame_name: str | None,
    chunked: bool,
    fixed: dict[str, str],
    job_values: dict[str, str],
) -> list[str]:
    action = step.script.actions.onRun
    argv = [str(action.command), *(str(arg) for arg in action.args or [])]

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        task = _TASK_PARAM.match(inner)
        if task is not None:
            name = task.group(1)
            if name == frame_name:
                return "{frames}" if chunked else "{start}"
            return fixed.get(name, match.group(0))
        bound = _TASK_PARAM_BOUND.match(inner)
        if bound is not None and bound.group(2) == frame_name:
            return "{start}" if bound.group(1) == "min" else "{end}"
        job = _JOB_PARAM.match(inner)
        if job is not None and job.group(1) in job_values:
            return job_values[job.group(1)]  # PATH parameters are left for the host to map
        return match.group(0)

    return [_EXPRESSION.sub(replace, arg) for arg in argv]


def _output_directory(template: JobTemplate, values: dict[str, ParameterValue]) -> str | None:
    """The first PATH parameter that is an output directory (dataFlow OUT): the job's output
    path, which an executor creates before a task runs."""
    for definition in template.parameterDefinitions or []:
        kind = str(getattr(definition, "objectType", "") or "").upper()
        flow = str(getattr(definition, "dataFlow", "") or "").upper()
        if kind.endswith("DIRECTORY") and flow.endswith("OUT") and definition.name in values:
            return str(values[definition.name].value)
    return None


def _farm_fields(
    template: JobTemplate,
    values: dict[str, ParameterValue],
    given: dict[str, _Given],
    file: str,
) -> dict[str, Any]:
    """The reserved RenderFarm* parameters, from the resolved template parameters or, when the
    template does not declare them, from the given values."""
    definitions = [definition.name for definition in template.parameterDefinitions or []]
    fields: dict[str, Any] = {}
    converters: dict[str, tuple[str, Callable[[str], Any]]] = {
        CLIENT: ("client_id", str),
        PRIORITY: ("priority", _priority),
        DEADLINE: ("deadline", _deadline),
        ESTIMATED_HOURS: ("estimated_duration_hours", _hours),
        MACHINE_LIMIT: ("machine_limit", _machine_limit),
    }
    for name, (field, convert) in converters.items():
        if name in values:
            text = str(values[name].value).strip()
            source, location = file, _definition_location(name, definitions)
            if name in given:
                source, location = given[name].source, given[name].location
        elif name in given:
            text = given[name].value.strip()
            source, location = given[name].source, given[name].location
        else:
            continue
        if not text:
            continue
        try:
            fields[field] = convert(text)
        except ValueError as error:
            raise JobFileError(source, f"{name}: {error}", location) from error
    return fields


def _priority(text: str) -> JobPriority:
    try:
        return JobPriority(text.lower())
    except ValueError:
        choices = ", ".join(priority.value for priority in JobPriority)
        raise ValueError(f"must be one of {choices}, got {text!r}") from None


def _deadline(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"must be an ISO 8601 date and time such as 2026-12-04T18:00:00+00:00, got {text!r}"
        ) from None


def _hours(text: str) -> float:
    try:
        hours = float(text)
    except ValueError:
        hours = math.nan
    if not 0 < hours <= MAX_HOURS:
        raise ValueError(f"must be a number of hours above 0 and at most {MAX_HOURS}, got {text!r}")
    return hours


def _machine_limit(text: str) -> int:
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if limit < 1:
        raise ValueError(f"must be a whole number of machines, at least 1, got {text!r}")
    return limit
