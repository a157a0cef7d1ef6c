"""One exception root for the whole project; each subclass names the ids involved.

Every error message says what is wrong and, where it can, what to do about it. Operations that
raise change nothing.
"""

from __future__ import annotations


class RenderFarmError(Exception):
    """Something the render farm manager was asked to do cannot be done."""


class UnknownClientError(RenderFarmError, KeyError):
    """No client with this id is registered."""

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        super().__init__(f"unknown client {client_id!r}: register it with add_client() first")

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownJobError(RenderFarmError, KeyError):
    """No job with this id has been submitted."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"unknown job {job_id!r}")

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownNodeError(RenderFarmError, KeyError):
    """No node with this id is registered."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        super().__init__(f"unknown node {node_id!r}: register it with add_node() first")

    def __str__(self) -> str:
        return str(self.args[0])


class DuplicateIdError(RenderFarmError, ValueError):
    """An object with this id is already registered."""

    def __init__(self, kind: str, object_id: str) -> None:
        self.kind = kind
        self.object_id = object_id
        super().__init__(
            f"a {kind} with id {object_id!r} already exists; ids must be unique "
            f"(remove the old {kind} first or choose another id)"
        )


class IllegalTransitionError(RenderFarmError, ValueError):
    """A job was asked to move between two lifecycle states that are not connected."""

    def __init__(self, job_id: str, current: str, requested: str) -> None:
        self.job_id = job_id
        self.current = current
        self.requested = requested
        super().__init__(
            f"job {job_id!r} cannot go from {current!r} to {requested!r}; "
            "see render_farm_manager.core.lifecycle.TRANSITIONS for the allowed moves"
        )


class ClientInUseError(RenderFarmError, ValueError):
    """A client that still has unfinished jobs cannot be removed."""

    def __init__(self, client_id: str, active_job_ids: list[str]) -> None:
        self.client_id = client_id
        self.active_job_ids = active_job_ids
        shown = ", ".join(active_job_ids[:5]) + (" ..." if len(active_job_ids) > 5 else "")
        super().__init__(
            f"client {client_id!r} still has {len(active_job_ids)} unfinished job(s) ({shown}); "
            "cancel or finish them before removing the client"
        )


class NodeMismatchError(RenderFarmError, ValueError):
    """A node reported on a job it is not running."""

    def __init__(self, job_id: str, node_id: str, assigned: str | None) -> None:
        self.job_id = job_id
        self.node_id = node_id
        super().__init__(
            f"node {node_id!r} reported on job {job_id!r}, but that job is assigned to "
            f"{assigned!r}; the report was ignored"
        )


class ProgressiveOutputNotSupportedError(RenderFarmError, ValueError):
    """The job does not support progressive output."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(
            f"job {job_id!r} does not support progressive output "
            "(set supports_progressive_output=True when submitting it)"
        )


class InvalidInputError(RenderFarmError, ValueError):
    """A value given to the manager or a component is not acceptable; nothing was changed."""

    def __init__(self, message: str, *, field: str | None = None, object_id: str | None = None):
        self.field = field
        self.object_id = object_id
        super().__init__(message)


class NodeUnavailableError(RenderFarmError, ValueError):
    """A job was put on a node that cannot take it now."""

    def __init__(self, job_id: str, node_id: str, reason: str) -> None:
        self.job_id = job_id
        self.node_id = node_id
        self.reason = reason
        super().__init__(f"node {node_id!r} cannot take job {job_id!r}: {reason}")


class JobNotReadyError(RenderFarmError, ValueError):
    """A job was started before the jobs it depends on completed."""

    def __init__(self, job_id: str, waiting_for: list[str]) -> None:
        self.job_id = job_id
        self.waiting_for = waiting_for
        shown = ", ".join(repr(d) for d in waiting_for[:5]) + (
            " ..." if len(waiting_for) > 5 else ""
        )
        super().__init__(
            f"job {job_id!r} cannot start before its dependencies complete (waiting for {shown})"
        )


class JobFinishedError(RenderFarmError, ValueError):
    """A finished (completed, failed or cancelled) job cannot be changed that way."""

    def __init__(self, job_id: str, status: str, change: str) -> None:
        self.job_id = job_id
        self.status = status
        super().__init__(f"job {job_id!r} is {status}; its {change} can no longer change")


class DependencyCycleError(RenderFarmError, ValueError):
    """Dependencies that would make a job wait for itself."""

    def __init__(self, job_id: str, cycle: list[str]) -> None:
        self.job_id = job_id
        self.cycle = cycle
        super().__init__(
            f"job {job_id!r} would wait for itself: circular dependency {' -> '.join(cycle)}"
        )


class ClockError(RenderFarmError, TypeError):
    """The clock given to the manager did not return a usable time."""


class CyclePlanError(RenderFarmError, ValueError):
    """A scheduler planned something the farm cannot do; nothing of the cycle was applied."""


class JobFileError(RenderFarmError, ValueError):
    """A job file that cannot be read: names the file, where in it, and what is wrong."""

    def __init__(self, source: str, problem: str, location: str | None = None) -> None:
        self.source = source
        self.location = location
        self.problem = problem
        where = f"{source}: {location}" if location else source
        super().__init__(f"{where}: {problem}")


class StoreError(RenderFarmError):
    """The store could not read or commit the farm's state (the database is unreachable, its
    schema is not this version's, or a write failed). After a failed commit the manager refuses
    further changes: its memory is ahead of what was stored, so reopen it to reload."""
