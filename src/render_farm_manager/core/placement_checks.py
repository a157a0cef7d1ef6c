"""Can the farm run a job at all, in time, and on which nodes may it go?

At submission a job is checked against the farm: could even an empty farm finish it by its
deadline (``deadline_feasible``), and does any node have the hardware to run it
(``placement_warning`` says so when none does)? Nodes that failed a job repeatedly are blocklisted
for it, but a blocklist never strands a job: when every node that fits it is blocklisted, the
least-failing of them stays allowed and the job's ``placement_warning`` says so. Jobs whose
placement depends on which nodes exist are re-examined when nodes come, go or change hardware.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from render_farm_manager.core.change_path import ChangePath
from render_farm_manager.core.models import FINISHED_STATUSES, LogLevel, RenderJob
from render_farm_manager.core.work import remaining_hours
from render_farm_manager.node_specialization.fit import hardware_misfit
from render_farm_manager.scheduling.feasibility import FastestFit, why_nothing_fits

if TYPE_CHECKING:
    from render_farm_manager.core.interfaces import NodeSpecializerInterface


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class PlacementChecks:
    def __init__(
        self, path: ChangePath, matcher: NodeSpecializerInterface, node_blocklist_threshold: int
    ) -> None:
        self.path = path
        self.matcher = matcher
        self.node_blocklist_threshold = node_blocklist_threshold
        self.fastest = FastestFit(matcher.expected_speed)
        self.failures_on_node: dict[str, Counter[str]] = {}
        """Job id → node id → how often that node failed that job."""
        self.watched: set[str] = set()
        """Jobs whose placement depends on which nodes exist (no node fits them, or nodes are
        blocklisted for them)."""

    def best_speed(self, job: RenderJob, online_only: bool = False) -> float | None:
        """The fastest expected speed of a node that fits ``job``, or None when none does."""
        version = (self.path.nodes_version, self.matcher.learned_version)
        return self.fastest.best_speed(job, self.path.nodes.values(), version, online_only)

    # -- at submission -------------------------------------------------------------------------

    def check_feasibility(self, job: RenderJob, now: datetime) -> None:
        """Could an empty farm finish the job in time, and can any node run it at all?"""
        path = self.path
        speed = self.best_speed(job)
        if speed is None:
            feasible = False
            why = why_nothing_fits(job, path.nodes.values())
            self._warn(job, why, "job_unplaceable")
        else:
            # timedelta(hours=h), with h passed by position: parsing keywords costs more
            # than the rest of the check
            finish = now + timedelta(0, 0, 0, 0, 0, remaining_hours(job) / speed)
            feasible = finish <= job.deadline
            why = ""  # written only when it is logged (formatting a time is not free)
            if not feasible:
                why = f"even on the fastest fitting node it would finish at {finish:%Y-%m-%d %H:%M}"
        path.write(job, "deadline_feasible", feasible)
        if not feasible:
            path.log(
                "log_event",
                "deadline_infeasible",
                f"Job {job.id} cannot meet its deadline {job.deadline:%Y-%m-%d %H:%M}: {why}",
                job_id=job.id,
                client_id=job.client_id,
                log_level=LogLevel.WARNING,
            )

    # -- blocklists ----------------------------------------------------------------------------

    def record_failure(self, job: RenderJob, node_id: str) -> None:
        """``node_id`` failed ``job`` once more."""
        tx = self.path.tx
        counts = self.failures_on_node.get(job.id)
        if counts is None:
            counts = Counter()
            tx.set_item(self.failures_on_node, job.id, counts)
        tx.set_item(counts, node_id, counts[node_id] + 1)

    def update_exclusions(self, job: RenderJob, newly_failed: str | None = None) -> None:
        """Blocklist the nodes that failed ``job`` ``node_blocklist_threshold`` times, unless
        that leaves no node able to run it: then the least-failing of them stays allowed."""
        path = self.path
        counts = self.failures_on_node.get(job.id, Counter())
        failing = {n for n, c in counts.items() if c >= self.node_blocklist_threshold}
        excluded = set(job.excluded_node_ids) | failing
        if newly_failed in failing and newly_failed not in job.excluded_node_ids:
            path.log(
                "log_event",
                "node_blocklisted_for_job",
                f"Node {newly_failed} failed job {job.id} {plural(counts[newly_failed], 'time')}; "
                "it will not get this job again",
                job_id=job.id,
                node_id=newly_failed,
                client_id=job.client_id,
                log_level=LogLevel.WARNING,
            )
        if excluded:
            self._watch(job)
        fitting = [n for n in path.nodes.values() if hardware_misfit(job, n.capabilities) is None]
        warning = None
        if fitting and all(n.id in excluded for n in fitting):
            least = min(fitting, key=lambda n: (counts[n.id], n.id))
            excluded.discard(least.id)
            warning = (
                f"every node that can run it is blocklisted for it; it runs on the "
                f"least-failing one, {least.id} ({plural(counts[least.id], 'failure')})"
            )
        new = sorted(excluded)
        if new != sorted(job.excluded_node_ids):
            path.write(job, "excluded_node_ids", new)
        self._warn(job, warning, "blocklist_relaxed")

    # -- when nodes change ---------------------------------------------------------------------

    def nodes_changed(self) -> None:
        """Nodes came, went or changed hardware: re-examine the jobs whose placement depended
        on which nodes exist."""
        for job_id in sorted(self.watched):
            job = self.path.jobs.get(job_id)
            if job is None or job.status in FINISHED_STATUSES:
                continue
            if self.best_speed(job) is None:
                self._warn(job, why_nothing_fits(job, self.path.nodes.values()), "job_unplaceable")
            else:
                self.update_exclusions(job)

    def _watch(self, job: RenderJob) -> None:
        if job.id not in self.watched:
            self.path.tx.on_rollback(lambda: self.watched.discard(job.id))
            self.watched.add(job.id)

    def _warn(self, job: RenderJob, warning: str | None, event: str) -> None:
        path = self.path
        if job.placement_warning == warning:
            return
        path.write(job, "placement_warning", warning)
        if warning is None:
            path.log(
                "log_event",
                event,
                f"Job {job.id} can be placed again",
                job_id=job.id,
                client_id=job.client_id,
            )
            return
        self._watch(job)
        path.log(
            "log_event",
            event,
            f"Job {job.id}: {warning}",
            job_id=job.id,
            client_id=job.client_id,
            log_level=LogLevel.WARNING,
        )
