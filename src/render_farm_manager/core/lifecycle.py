"""The one table of legal job lifecycle transitions.

Every status change in the manager goes through :func:`check_transition`; an illegal move raises
:class:`IllegalTransitionError` before anything is changed.
"""

from __future__ import annotations

from render_farm_manager.core.errors import IllegalTransitionError
from render_farm_manager.core.models import RenderJobStatus as S

TRANSITIONS: dict[S, frozenset[S]] = {
    # submitted, waiting for dependencies or the first cycle
    S.PENDING: frozenset({S.QUEUED, S.RUNNING, S.COMPLETED, S.FAILED, S.CANCELLED}),
    # eligible, waiting for a node (or back from a failure/preemption)
    S.QUEUED: frozenset({S.PENDING, S.RUNNING, S.PAUSED, S.COMPLETED, S.FAILED, S.CANCELLED}),
    # on a node
    S.RUNNING: frozenset({S.QUEUED, S.PAUSED, S.COMPLETED, S.FAILED, S.CANCELLED}),
    # held by an operator
    S.PAUSED: frozenset({S.QUEUED, S.COMPLETED, S.FAILED, S.CANCELLED}),
    # a failed job may be retried by an operator
    S.FAILED: frozenset({S.QUEUED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
}


def can_transition(current: S | str, requested: S | str) -> bool:
    allowed = TRANSITIONS[current] if isinstance(current, S) else TRANSITIONS[S(current)]
    return requested in allowed if isinstance(requested, S) else S(requested) in allowed


def check_transition(job_id: str, current: S | str, requested: S | str) -> None:
    """Raise :class:`IllegalTransitionError` unless ``current -> requested`` is allowed."""
    if not can_transition(current, requested):
        raise IllegalTransitionError(job_id, S(current).value, S(requested).value)
