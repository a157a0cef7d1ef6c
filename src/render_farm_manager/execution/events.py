"""What an executor tells the manager about the work it runs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

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
    at: float = field(default_factory=time.monotonic)
    """When it happened (``time.monotonic()``); ``started`` is when the first render process
    of the run was started."""
