"""What an executor tells the manager about the work it runs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from render_farm_manager.core.models import RenderFailure


class EventKind(StrEnum):
    STARTED = "started"
    PROGRESS = "progress"
    FRAME_DONE = "frame_done"
    FINISHED = "finished"
    FAILED = "failed"
    NODE_LOST = "node_lost"
    PREVIEW = "preview"
    """A low-resolution pass of ``frame`` was written (in ``path``)."""
    NODE_JOINED = "node_joined"
    """A render node connected (``node``: its advert); no task."""


@dataclass(frozen=True)
class TaskEvent:
    kind: EventKind
    task_id: str
    node_id: str
    attempt: int
    """Which start of the task this is about (events of an older, cancelled run are stale)."""
    frame: int | None = None
    progress: float | None = None
    """Percent of the task's remaining work done in this run."""
    error: str | None = None
    failure: RenderFailure | None = None
    log: Path | None = None
    path: Path | None = None
    seconds: float | None = None
    """On ``finished`` and ``failed``: how long the renderer processes of this run took."""
    node: dict[str, Any] | None = None
    """On ``node_joined``: what the node advertises (see ``execution.hardware``)."""
    at: float = field(default_factory=time.monotonic)
    """When it happened (``time.monotonic()``); ``started`` is when the first render process
    of the run was started."""


def event_message(event: TaskEvent, seq: int) -> dict[str, object]:
    """The event as a plain message (msgpack-safe) for the wire; ``seq`` orders a run's
    messages, so one that arrives twice (streamed, and with the run's result) counts once."""
    return {
        "seq": seq,
        "kind": event.kind.value,
        "task_id": event.task_id,
        "node_id": event.node_id,
        "attempt": event.attempt,
        "frame": event.frame,
        "progress": event.progress,
        "error": event.error,
        "failure": event.failure.value if event.failure is not None else None,
        "log": str(event.log) if event.log is not None else None,
        "path": str(event.path) if event.path is not None else None,
        "seconds": event.seconds,
    }


def event_from_message(message: dict[str, object]) -> TaskEvent:
    """The event a message of :func:`event_message` carries (stamped with the time it is read
    here: the sender's monotonic clock is not this machine's)."""

    def number(key: str) -> float | None:
        value = message.get(key)
        return float(value) if isinstance(value, int | float) else None

    frame = message.get("frame")
    failure = message.get("failure")
    log, path, error = message.get("log"), message.get("path"), message.get("error")
    return TaskEvent(
        EventKind(str(message["kind"])),
        str(message["task_id"]),
        str(message["node_id"]),
        int(message["attempt"]),  # type: ignore[call-overload]
        frame=frame if isinstance(frame, int) else None,
        progress=number("progress"),
        error=str(error) if error is not None else None,
        failure=RenderFailure(str(failure)) if failure is not None else None,
        log=Path(str(log)) if log is not None else None,
        path=Path(str(path)) if path is not None else None,
        seconds=number("seconds"),
    )
