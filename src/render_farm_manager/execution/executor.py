"""The executor interface: start a task on a node, cancel it, and report what happens.

Implementations: :class:`~render_farm_manager.execution.local.LocalExecutor` (render processes
on this machine) and the simulator's engine (which carries decisions out in simulated time).
An executor never changes the manager's state itself: its events go through the manager's
methods (see :mod:`~render_farm_manager.execution.runner`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from render_farm_manager.core.models import RenderJob
from render_farm_manager.execution.events import TaskEvent


class Executor(ABC):
    @abstractmethod
    def start(self, task: RenderJob, node_id: str, job: RenderJob | None = None) -> int:
        """Start rendering what ``task`` still has to render on ``node_id``; returns the
        attempt number its events will carry. ``job``: the shot ``task`` is a task of (what
        its tasks share, such as an Open Job Description session), None for a job of one
        task."""

    @abstractmethod
    def cancel(self, task_id: str) -> None:
        """Stop the task's render (its process group is killed); no-op when not running."""

    @abstractmethod
    def running(self) -> dict[str, str]:
        """Task id → node id of every render under way."""

    @abstractmethod
    def events(self) -> list[TaskEvent]:
        """Events since the last call, in the order they happened."""

    def watch(self, wake: Callable[[], None] | None) -> bool:
        """Have ``wake`` called whenever :meth:`events` has something new (from any thread, so
        it must be quick: set a flag), so that a caller can wait for events instead of asking
        for them at intervals; None stops it. False when this executor cannot (its caller then
        polls), as by default."""
        return False

    def task_log(self, task_id: str, tail_bytes: int = 65536) -> str | None:
        """The end of the output of the task's latest render (``render.log``: its commands and
        everything they printed); None when there is none."""
        return None

    def connected_nodes(self) -> set[str] | None:
        """The nodes whose machines are connected now, for an executor whose nodes join and
        leave (their arrivals and departures come as ``node_joined`` and ``node_lost``
        events); None when its nodes are always there (this machine's slots, a simulation)."""
        return None

    def close(self) -> None:  # noqa: B027 - optional
        """Stop everything (renders are killed)."""
