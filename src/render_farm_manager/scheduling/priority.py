"""Effective priority: base priority, priority inheritance, emergency and deadline slack.

Times are handled as POSIX-like float seconds (``datetime.timestamp()`` of naive local times) so
that the ordering of 100,000 jobs costs arithmetic, not datetime objects.

* The **latest start** of a job is its deadline minus its remaining work at reference speed; its
  **slack** is latest start minus now.
* A job with slack below the safety margin is **at risk** and runs at the critical level, among
  other urgent work by least slack: priority orders work that can afford to wait, urgency orders
  work that cannot. A job with negative slack is **late** (it can no longer make it, so it yields
  to work that can still be saved, but goes before work of its level that has slack to spare).
* A job others wait on **inherits** the highest priority among its waiting dependents, and must
  finish by their latest start (deadline inheritance).
* Emergency jobs form a level above critical.
"""

from __future__ import annotations

from render_farm_manager.core.models import PRIORITY_RANK, JobPriority
from render_farm_manager.core.work import UnitOfWork, remaining_hours

EMERGENCY_RANK = 4
"""Level of emergency jobs: above every priority."""
MAX_BASE_RANK = PRIORITY_RANK[JobPriority.CRITICAL]


_NONE: dict[str, float] = {}


def own_rank(job: UnitOfWork) -> int:
    """Rank of the job's own priority; emergencies rank above critical."""
    if job.emergency:
        return EMERGENCY_RANK
    rank = PRIORITY_RANK.get(job.priority)
    return rank if rank is not None else PRIORITY_RANK[JobPriority(job.priority)]


def own_latest_start(job: UnitOfWork) -> float:
    """Deadline minus remaining work at reference speed, in timestamp seconds. A task of a shot
    has the slack of its shot: the shot's work per node it can get (when that is longer than
    the task's own), so all its tasks share one latest start and keep the shot's order."""
    # read from the instance's fields: a plain job has none (and a failed attribute lookup
    # on a pydantic model is slow)
    shot_hours: float = getattr(job, "__dict__", _NONE).get("shot_hours_per_node", 0.0)
    return job.deadline.timestamp() - max(remaining_hours(job), shot_hours) * 3600.0


def is_at_risk(latest_start: float, now: float, margin_seconds: float) -> bool:
    """Slack below the safety margin, but not yet late: the job can still be saved."""
    return 0.0 <= latest_start - now < margin_seconds


def effective_rank(base_rank: int, latest_start: float, now: float, margin_seconds: float) -> int:
    """The level a job is ordered at: critical while at risk (emergencies stay above)."""
    if base_rank < MAX_BASE_RANK and is_at_risk(latest_start, now, margin_seconds):
        return MAX_BASE_RANK
    return base_rank
