"""The discrete-event simulation: events in, the real RenderFarmManager decides.

Events are job arrivals, periodic and on-demand scheduling cycles, render progress reports,
preview due times, completions, node failures and repairs, maintenance windows, nodes arriving
and retiring, and nodes waking from sleep. Between events the simulator integrates what it
measures (energy at the true power draw, utilization, guarantee shortfall). The manager sees only
what a live manager would: submissions, progress, completions and failures. Power is the
manager's decision too (:meth:`RenderFarmManager.plan_power`): the simulator only carries the plan
out, sleeping the nodes it names and waking them (each ready its class's wake-up time later), for
every policy that has a power policy (``Policy.power_down``).

Every policy is measured over the same horizon (the submission days plus ``drain_hours``),
whenever its work ends, so energy compares equal spans. Idle time of awake nodes is split by
reason (:mod:`~render_farm_manager.simulation.idle_time`): owed (work it could run waited and
may start), by choice (deferred for cheaper power, waiting for faster hardware), by contract (a
client at its ceiling) or no work; utilization counts only the owed idle time against the
scheduler.

Shots are submitted whole; the manager splits them into tasks, and from then on the simulator
renders tasks: a task's truth is its shot's (noise) applied to the task's share of the estimate,
at its node's own speed on the task's type, times the noise of that run on that node (see
:mod:`~render_farm_manager.simulation.workload`: nodes of a class differ, some are slow
outliers, and the tags and memory they declare are what the manager sees). A task renders its
frames in order; the frames done are reported (``report_frames_done``) with its progress, and
when the task is taken off its node (preempted, its node failed) the frames it finished by then
are reported too: they are on disk. So a requeued task starts again from its first frame not on
disk, and only the frame in progress is lost (nothing more than since its last report, for a
task that checkpoints). Per-job measures (first start, first preview, node-hours used,
deferrals, on time, turnaround) are those of the shot; a shot's first preview is its first
rendered frame (or an earlier progressive preview).
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from render_farm_manager.core.clock import ManualClock
from render_farm_manager.core.models import (
    NodeStatus,
    RenderJob,
    RenderJobStatus,
    RenderNode,
    RenderTask,
)
from render_farm_manager.simulation.idle_time import IDLE_REASONS, IdleClassifier
from render_farm_manager.simulation.metrics import Integrals, PolicyResult, percentile
from render_farm_manager.simulation.policies import Policy
from render_farm_manager.simulation.scarce import misused_nodes
from render_farm_manager.simulation.workload import JobSpec, NodeClassSpec, Workload, WorkloadError

S = RenderJobStatus
FINISHED = (S.COMPLETED, S.FAILED, S.CANCELLED)
ProgressCallback = Callable[[float], None]
_EPS = 1e-6


@dataclass
class Attempt:
    """One stretch of a job on one node."""

    node_id: str
    token: int
    start: float
    start_progress: float
    full_hours: float
    """True hours the whole job would take on this node (preview overhead included)."""
    frames: tuple[int, ...] = ()
    """A task's frames, in the order it renders them (empty for a job or a frameless task)."""
    reported: int = 0
    """How many of ``frames`` the manager has been told are done."""
    owner: str = ""
    """Id of the job (spec) the work belongs to: the shot of a task."""
    step: str = ""
    load_hours: float = 0.0
    """Spent loading the scene (a cold start) before the first frame."""

    def progress_at(self, now: float) -> float:
        remaining = self.full_hours * (1 - self.start_progress / 100.0)
        if remaining <= 0:
            return 100.0
        done = max(0.0, now - self.start - self.load_hours) / remaining
        return min(99.99, self.start_progress + (100.0 - self.start_progress) * done)

    def time_at(self, progress: float) -> float:
        """When this attempt reaches ``progress`` (inverse of :meth:`progress_at`)."""
        left = 100.0 - self.start_progress
        began = self.start + self.load_hours
        if left <= 0:
            return began
        remaining = self.full_hours * left / 100.0
        return began + remaining * (progress - self.start_progress) / left

    def frames_at(self, progress: float) -> int:
        """How many of the task's frames are rendered at ``progress`` (0-100)."""
        return min(len(self.frames), math.floor(progress * len(self.frames) / 100.0 + _EPS))


@dataclass
class FrameCounts:
    """Ground truth of a task's frames, for checking that none is rendered twice."""

    frames: int
    rendered: int = 0
    """Frames whose render finished, over every attempt (a frame lost mid-render not counted)."""
    attempts: int = 0
    interrupted_with_frames_done: int = 0
    """Attempts taken off their node after some of their frames were done."""
    starts: list[float] = field(default_factory=list)
    """Progress each attempt started from."""


class Simulation:
    def __init__(
        self,
        workload: Workload,
        policy: Policy,
        cycle_minutes: int = 15,
        progress_minutes: int = 30,
        drain_hours: float = 48.0,
        keep_awake: int = 2,
    ) -> None:
        if cycle_minutes <= 0 or 60 % cycle_minutes:
            raise WorkloadError(f"cycle_minutes must divide 60, got {cycle_minutes}")
        self.workload = workload
        self.policy = policy
        self.cycle_hours = cycle_minutes / 60.0
        self.progress_hours = progress_minutes / 60.0
        self.horizon = workload.hours + drain_hours
        self.keep_awake = keep_awake
        self.clock = ManualClock(workload.start)
        self.manager = policy.build_manager(workload, self.clock, workload.seed)
        self.specs = {job.id: job for job in workload.jobs}
        self.owner: dict[str, str] = {}
        """Task id → id of its shot (the spec id); jobs map to themselves implicitly."""
        self.frame_counts: dict[str, FrameCounts] = {}
        """Task id → truth about its frames (tasks with frames only)."""
        self._arrived = 0
        self._interrupting = False
        """Did something happen that may have taken running work off its node?"""
        self._stale = True
        """May the farm (nodes, queue, cycle plan) have changed since the last :meth:`_sync`?
        Only progress reports and previews of work that keeps running leave it as it was."""
        self.node_class: dict[str, NodeClassSpec] = {}
        self.attempts: dict[str, Attempt] = {}
        self.sleeping: set[str] = set()
        self.waking: set[str] = set()
        self.now = 0.0
        self._events: list[tuple[float, int, str, tuple[object, ...]]] = []
        self._seq = itertools.count()
        self._tokens = itertools.count(1)
        self._integrals = Integrals()
        self._idle_classifier = IdleClassifier()
        self._owed_since: dict[str, float] = {}
        """Node id → since when it has sat idle while work it could run may start."""
        self._longest_owed = 0.0
        self._runs: dict[str, int] = {}
        """Work id → attempts started (seeds each run's noise)."""
        self._idle_counts: dict[str, int] = {}
        self._last_completion = 0.0
        self._state_watts = 0.0
        self._misused = 0
        self._busy = 0
        self._online = 0
        self._running_by_client: dict[str, int] = {}
        self._used_hours: dict[str, float] = {}
        self._first_start: dict[str, float] = {}
        self._first_preview: dict[str, float] = {}
        self._deferred: set[str] = set()
        self._requeues = 0
        self._lost_failures = 0.0
        self._lost_preemption = 0.0
        self._cpu = 0.0
        self._cycles = 0
        self._overhead_pct: list[float] = []
        self._warm: dict[str, tuple[str, str]] = {}
        """Node id → the (job, step) whose scene it has loaded: the last work started there."""
        self._task_starts = 0
        self._cold_starts = 0
        self._load_hours = 0.0
        self.events_handled = 0
        """Events taken off the queue so far (periodic cycles included)."""
        self._schedule_world()

    # -- setting up ----------------------------------------------------------------------------

    def _push(self, at: float, kind: str, *data: object) -> None:
        heapq.heappush(self._events, (at, next(self._seq), kind, data))

    def _at(self, hours: float) -> datetime:
        return self.workload.start + timedelta(hours=hours)

    def _schedule_world(self) -> None:
        workload = self.workload
        for spec in workload.node_classes:
            for index in range(spec.count):
                node_id = f"{spec.name}-{index:03d}"
                self.node_class[node_id] = spec
                self._push(spec.arrives_at_hours, "add_node", node_id)
                if spec.retires_at_hours is not None:
                    self._push(spec.retires_at_hours, "retire", node_id)
                self._schedule_failures(node_id, spec)
        for window in workload.maintenance:
            node_id = f"{window.node_class}-{window.node_index:03d}"
            if node_id in self.node_class:
                self._push(window.start_hours, "maintenance", node_id)
                self._push(window.start_hours + window.duration_hours, "maintenance_end", node_id)
        for job in workload.jobs:
            self._push(job.submit_at_hours, "arrive", job.id)
        steps = int(self.horizon / self.cycle_hours)
        for step in range(steps + 1):
            self._push(step * self.cycle_hours, "cycle")

    def _schedule_failures(self, node_id: str, spec: NodeClassSpec) -> None:
        """Failure and repair times depend only on the workload seed and the node, so every
        policy meets the same failures."""
        rng = random.Random(f"{self.workload.seed}:{node_id}:failures")
        storm = self.workload.failure_storm
        at = spec.arrives_at_hours
        while True:
            at = self._next_failure(rng, at, spec.mtbf_hours, storm)
            if at >= self.horizon:
                return
            repair = rng.expovariate(1.0 / spec.mttr_hours)
            self._push(at, "fail", node_id)
            self._push(at + repair, "repair", node_id)
            at += repair

    @staticmethod
    def _next_failure(
        rng: random.Random, at: float, mtbf: float, storm: tuple[float, float, float] | None
    ) -> float:
        """Next failure after ``at``; during a storm failures come ``storm[2]`` times as often.
        Failures are memoryless, so a draw that crosses a rate change restarts there."""
        while True:
            in_storm = storm is not None and storm[0] <= at < storm[1]
            rate_mtbf = mtbf / storm[2] if in_storm and storm is not None else mtbf
            candidate = at + rng.expovariate(1.0 / rate_mtbf)
            if storm is None:
                return candidate
            boundary = storm[1] if in_storm else (storm[0] if at < storm[0] else None)
            if boundary is None or candidate < boundary:
                return candidate
            at = boundary

    # -- running -------------------------------------------------------------------------------

    def run(self, on_progress: ProgressCallback | None = None) -> PolicyResult:
        manager = self.manager
        last_report = 0.0
        while self._events:
            at = self._events[0][0]
            if at > self.horizon:
                break
            self._integrate(at)
            self.now = at
            self.clock.set(self._at(at))
            dispatch = False
            periodic = False
            while self._events and self._events[0][0] == at:
                _, _, kind, data = heapq.heappop(self._events)
                self.events_handled += 1
                if kind == "cycle":
                    periodic = True
                else:
                    dispatch = self._handle(kind, data) or dispatch
            if periodic and self._all_done():
                pass  # nothing left to schedule: the farm idles (or sleeps) to the horizon
            elif periodic or (dispatch and manager.queue_length):
                self._cycle()
            if periodic and self.policy.power_down:
                self._manage_power()
            if self._interrupting:
                self._salvage_frames()
            if self._stale:
                self._sync()
            if periodic:
                self._sample_clients()
            if on_progress is not None and at - last_report >= 1.0:
                on_progress(min(1.0, at / self.horizon))
                last_report = at
        self._integrate(self.horizon)
        self.now = self.horizon
        if on_progress is not None:
            on_progress(1.0)
        return self._result()

    def _all_done(self) -> bool:
        """Every submitted job (shot or single task) finished. Tasks are jobs of the manager
        too, so the count is of the workload's jobs, not of the manager's."""
        if self.attempts or self._arrived < len(self.specs):
            return False
        jobs = self.manager.jobs
        return all(jobs[job_id].status in FINISHED for job_id in self.specs)

    def _owner(self, job_id: str) -> str:
        return self.owner.get(job_id, job_id)

    def _cycle(self) -> None:
        self._interrupting = True  # a cycle may preempt
        self._stale = True
        started = time.process_time()
        self.manager.run_scheduling_cycle()
        self._cpu += time.process_time() - started
        self._cycles += 1
        plan = self.manager.last_cycle_plan
        if plan is not None and plan.deferred:
            self._deferred.update(self._owner(job_id) for job_id in plan.deferred)

    def _handle(self, kind: str, data: tuple[object, ...]) -> bool:
        """Apply one event; True when it may let waiting work start."""
        manager = self.manager
        if kind not in ("report", "preview"):
            self._stale = True
        if kind == "arrive":
            spec = self.specs[str(data[0])]
            job = self._render_job(spec)
            if spec.emergency:
                self._interrupting = True  # an emergency takes a node at once
                started = time.process_time()
                manager.submit_emergency_job(job)
                self._cpu += time.process_time() - started
                self._cycles += 1
            else:
                manager.submit_job(job)
            self._arrived += 1
            if spec.is_shot:
                for task in manager.tasks_of(spec.id):
                    self.owner[task.id] = spec.id
            return True
        if kind == "finish":
            return self._finish(str(data[0]), int(str(data[1])))
        if kind in ("report", "preview"):
            self._report(str(data[0]), int(str(data[1])))
            if kind == "preview":
                for job_id in manager.process_due_previews():
                    self._first_preview.setdefault(self._owner(job_id), self.now)
            return False
        node_id = str(data[0])
        if kind == "add_node":
            manager.add_node(self._render_node(node_id))
            return True
        if node_id not in manager.nodes:
            return False
        node = manager.nodes[node_id]
        if kind in ("fail", "maintenance", "retire"):
            self._warm.pop(node_id, None)  # its memory (and the scene in it) is gone
        if kind == "fail":
            if node.status == NodeStatus.ONLINE or node_id in self.sleeping:
                self.sleeping.discard(node_id)
                self.waking.discard(node_id)
                self._interrupting = True
                manager.handle_node_failure(node_id, "simulated hardware failure")
            return False
        if kind == "repair":
            if node.status == NodeStatus.ERROR:
                manager.set_node_online(node_id)
                return True
            return False
        if kind == "maintenance":
            if node.status == NodeStatus.ONLINE:
                manager.set_node_maintenance(node_id, drain=True)
            return False
        if kind == "maintenance_end":
            if node.status == NodeStatus.MAINTENANCE or node.draining:
                manager.set_node_online(node_id)
                return True
            return False
        if kind == "retire":
            self.sleeping.discard(node_id)
            self.waking.discard(node_id)
            manager.set_node_maintenance(node_id, drain=True)
            return False
        if kind == "woken":
            if node_id in self.waking:
                self.waking.discard(node_id)
                self.sleeping.discard(node_id)
                manager.set_node_online(node_id, reason="woken by the power plan")
                return True
            return False
        return False

    def _finish(self, job_id: str, token: int) -> bool:
        attempt = self.attempts.get(job_id)
        if attempt is None or attempt.token != token:
            return False
        job = self.manager.jobs[job_id]
        if job.status != S.RUNNING or job.assigned_node_id != attempt.node_id:
            return False
        del self.attempts[job_id]
        owner = attempt.owner
        self._used_hours[owner] = self._used_hours.get(owner, 0.0) + self.now - attempt.start
        if attempt.frames:
            self._count_frames(job_id, attempt, len(attempt.frames))
            self._saw_frames(attempt, attempt.frames_at(attempt.start_progress))
        self.manager.complete_job(job_id)
        self._last_completion = self.now
        return True

    def _report(self, job_id: str, token: int) -> None:
        attempt = self.attempts.get(job_id)
        if attempt is not None and attempt.token == token:
            progress = attempt.progress_at(self.now)
            if attempt.frames:
                self._report_frames(job_id, attempt, attempt.frames_at(progress))
            self.manager.update_job_progress(job_id, progress)
            job = self.manager.jobs[job_id]
            if job.status != S.RUNNING or job.assigned_node_id != attempt.node_id:
                self._stale = True  # a report never ends work, but were it to, follow it

    # -- frames of tasks -----------------------------------------------------------------------

    def _salvage_frames(self) -> None:
        """Frames a task rendered before it was taken off its node (preempted, its node failed)
        are on disk: the worker's report of them reaches the manager, which never renders them
        again (only the frame in progress is lost)."""
        self._interrupting = False
        jobs = self.manager.jobs
        for job_id, attempt in self.attempts.items():
            if not attempt.frames:
                continue
            job = jobs[job_id]
            if job.status in FINISHED or (
                job.status == S.RUNNING and job.assigned_node_id == attempt.node_id
            ):
                continue
            done = attempt.frames_at(attempt.progress_at(self.now))
            self._report_frames(job_id, attempt, done)

    def _report_frames(self, job_id: str, attempt: Attempt, done: int) -> None:
        if done <= attempt.reported:
            return
        self._saw_frames(attempt, attempt.reported)
        self.manager.report_frames_done(job_id, list(attempt.frames[attempt.reported : done]))
        attempt.reported = done

    def _saw_frames(self, attempt: Attempt, first_index: int) -> None:
        """A frame of a shot's render or composite is on disk: the shot's first preview."""
        if attempt.step == "sim" or attempt.owner in self._first_preview:
            return
        count = len(attempt.frames)
        at = attempt.time_at(100.0 * (first_index + 1) / count)
        self._first_preview[attempt.owner] = min(self.now, max(attempt.start, at))

    def _count_frames(self, job_id: str, attempt: Attempt, done: int) -> None:
        counts = self.frame_counts[job_id]
        counts.rendered += max(0, done - attempt.frames_at(attempt.start_progress))

    # -- objects the manager sees ----------------------------------------------------------------

    def _render_node(self, node_id: str) -> RenderNode:
        """The node as it declares itself: its own memory and tags, which may be wrong."""
        return self.workload.declared_node(node_id)

    def _render_job(self, spec: JobSpec) -> RenderJob:
        return spec.render_job(self.workload.start)

    # -- following the manager -----------------------------------------------------------------

    def _sync(self) -> None:
        """Start and end attempts to match what the manager decided; recompute node states."""
        self._stale = False
        manager = self.manager
        running: dict[str, str] = {}
        watts = 0.0
        busy = online = 0
        by_client: dict[str, int] = {}
        idle: list[RenderNode] = []
        draining = 0
        for node in manager.nodes.values():
            spec = self.node_class[node.id]
            if node.id in self.waking:
                watts += spec.idle_watts
            elif node.id in self.sleeping:
                watts += spec.sleep_watts
            elif node.status == NodeStatus.ONLINE:
                online += 1
                if node.current_job_id is not None:
                    busy += 1
                    watts += spec.busy_watts
                    running[node.current_job_id] = node.id
                    client = manager.jobs[node.current_job_id].client_id
                    by_client[client] = by_client.get(client, 0) + 1
                else:
                    watts += spec.idle_watts
                    if node.draining:
                        draining += 1
                    else:
                        idle.append(node)
        for job_id, attempt in list(self.attempts.items()):
            if running.get(job_id) != attempt.node_id:
                self._end_attempt(job_id, attempt)
        for job_id, node_id in running.items():
            if job_id not in self.attempts:
                self._start_attempt(job_id, node_id)
        self._state_watts, self._busy, self._online = watts, busy, online
        plan = manager.last_cycle_plan
        self._misused = misused_nodes(
            manager.nodes.values(),
            manager.jobs,
            manager.waiting_job_ids(),
            plan.deferred if plan is not None else (),
        )
        self._running_by_client = by_client
        states = self._classify_idle(idle) if idle else {}
        self._idle_counts = dict(Counter(states.values()))
        self._follow_owed_idle(states)
        if draining:  # an idle node being drained for maintenance takes no work
            self._idle_counts["no_work"] = self._idle_counts.get("no_work", 0) + draining

    def _follow_owed_idle(self, states: dict[str, str]) -> None:
        """Track each stretch in which a node sits idle while work it could run may start."""
        for node_id in list(self._owed_since):
            if states.get(node_id) != "runnable":
                since = self._owed_since.pop(node_id)
                self._longest_owed = max(self._longest_owed, self.now - since)
        for node_id, state in states.items():
            if state == "runnable":
                self._owed_since.setdefault(node_id, self.now)

    def _classify_idle(self, idle: list[RenderNode]) -> dict[str, str]:
        manager = self.manager
        plan = manager.last_cycle_plan
        jobs = manager.jobs
        return self._idle_classifier.classify(
            idle,
            (jobs[job_id] for job_id in manager.waiting_job_ids()),
            deferred=plan.deferred if plan is not None else (),
            holding=set(plan.waiting_for_faster) if plan is not None else (),
            running_by_client=self._running_by_client,
            ceilings_pct={c.id: c.max_resources for c in manager.clients.values()},
            online=self._online,
        )

    def _start_attempt(self, job_id: str, node_id: str) -> None:
        job = self.manager.jobs[job_id]
        owner = self._owner(job_id)
        spec = self.specs[owner]
        task = job if isinstance(job, RenderTask) else None
        # A task's type may be its step's (a simulation, a composite); a job's is its spec's.
        # The truth: this node's own speed, and this run's noise on this node.
        speed = self.workload.node_speed(node_id, job.job_type if task else spec.job_type)
        runs = self._runs[job_id] = self._runs.get(job_id, 0) + 1
        speed /= self.workload.run_noise(job_id, node_id, runs)
        overhead = 0.0
        if self.policy.previews and spec.supports_progressive_output:
            overhead = self.manager.progressive_renderer.estimate_overhead(job)
            self._overhead_pct.append(overhead)
        estimate = task.estimated_duration_hours if task else spec.estimated_duration_hours
        full = estimate * spec.noise / speed * (1 + overhead / 100.0)
        token = next(self._tokens)
        attempt = Attempt(node_id, token, self.now, job.progress, full, owner=owner)
        if task is not None:
            attempt.step = task.step
        attempt.load_hours = self._scene_load(node_id, spec, attempt.step, task is not None)
        if task is not None:
            attempt.frames = tuple(task.task_frames)
            if attempt.frames:
                attempt.reported = attempt.frames_at(job.progress)
                counts = self.frame_counts.setdefault(job_id, FrameCounts(len(attempt.frames)))
                counts.attempts += 1
                counts.starts.append(job.progress)
        self.attempts[job_id] = attempt
        self._first_start.setdefault(owner, self.now)
        finish = self.now + attempt.load_hours + full * (1 - job.progress / 100.0)
        self._push(finish, "finish", job_id, token)
        report = self.now + self.progress_hours
        while report < finish:
            self._push(report, "report", job_id, token)
            report += self.progress_hours
        if self.policy.previews and spec.supports_progressive_output:
            for due in self.manager.progressive_renderer.schedule_progressive_output(job):
                offset = (due - self.workload.start).total_seconds() / 3600.0
                if self.now <= offset < finish:
                    self._push(offset, "preview", job_id, token)

    def _scene_load(self, node_id: str, spec: JobSpec, step: str, is_task: bool) -> float:
        """Hours the node spends loading the scene first: none when the last work started on
        it was of the same job and step (it is still in memory)."""
        scene = (spec.id, step)
        cold = self._warm.get(node_id) != scene
        self._warm[node_id] = scene
        if is_task:
            self._task_starts += 1
            self._cold_starts += int(cold)
        load = spec.scene_load_minutes / 60.0 if cold else 0.0
        self._load_hours += load
        return load

    def _end_attempt(self, job_id: str, attempt: Attempt) -> None:
        del self.attempts[job_id]
        used = self.now - attempt.start
        owner = attempt.owner
        self._used_hours[owner] = self._used_hours.get(owner, 0.0) + used
        job = self.manager.jobs[job_id]
        if attempt.frames:
            done = attempt.frames_at(attempt.progress_at(self.now))
            self._count_frames(job_id, attempt, done)
            if done > attempt.frames_at(attempt.start_progress):
                self.frame_counts[job_id].interrupted_with_frames_done += 1
        kept = max(0.0, job.progress - attempt.start_progress) / 100.0 * attempt.full_hours
        lost = max(0.0, used - kept)
        node = self.manager.nodes.get(attempt.node_id)
        if job.status == S.QUEUED:
            self._requeues += 1
        if node is not None and node.status == NodeStatus.ERROR:
            self._lost_failures += lost
        elif job.status in (S.QUEUED, S.PAUSED):
            self._lost_preemption += lost
        else:
            self._lost_failures += lost

    def _manage_power(self) -> None:
        """Carry out the manager's power plan: wake the nodes it names (each is ready its
        class's wake-up time later) and put to sleep the idle nodes it names."""
        manager = self.manager
        self._stale = True
        plan = manager.plan_power(
            self.sleeping - self.waking,
            keep_awake=self.keep_awake,
            wake_minutes={n: self.node_class[n].wake_up_minutes for n in self.sleeping},
            lookahead_minutes=self.cycle_hours * 60.0,
        )
        for order in plan.wake:
            self.waking.add(order.node_id)
            wake_at = (order.wake_at - self.workload.start).total_seconds() / 3600.0
            ready = max(self.now, wake_at) + self.node_class[order.node_id].wake_up_minutes / 60
            self._push(ready, "woken", order.node_id)
        for advice in plan.sleep:
            manager.set_node_online(advice.node_id, False, f"asleep: {advice.reason}")
            self.sleeping.add(advice.node_id)
            self._warm.pop(advice.node_id, None)

    def _sample_clients(self) -> None:
        samples = self._integrals.utilization_by_client
        online = max(1, self._online)
        for client in self.workload.clients:
            share = self._running_by_client.get(client.id, 0) / online
            samples[client.id].append((round(self.now, 4), round(share, 4)))

    # -- measuring -----------------------------------------------------------------------------

    def _integrate(self, until: float) -> None:
        span = until - self.now
        if span <= 0:
            return
        integrals = self._integrals
        moment = self._at(self.now)
        price = self.manager.energy_optimizer.get_time_of_day_energy_price(moment)
        integrals.add_energy(moment.hour, self._state_watts / 1000.0 * span, price)
        integrals.busy += self._busy * span
        integrals.scarce_misused += self._misused * span
        integrals.online += self._online * span
        for reason, count in self._idle_counts.items():
            integrals.idle[reason] += count * span
        waiting = self.manager.waiting_by_client()
        total_guarantee = sum(c.guaranteed_resources for c in self.workload.clients)
        scale = min(1.0, 100.0 / total_guarantee) if total_guarantee else 1.0
        for client in self.workload.clients:
            running = self._running_by_client.get(client.id, 0)
            demand = running + waiting.get(client.id, 0)
            owed = client.guaranteed_resources * scale * self._online / 100.0
            integrals.shortfall += max(0.0, min(owed, demand) - running) * span

    def _result(self) -> PolicyResult:
        manager = self.manager
        result = PolicyResult(policy=self.policy.name, jobs_total=len(self.specs))
        end = self.now
        tardiness: list[float] = []
        efficiency_best = efficiency_used = 0.0
        preview_fractions: list[float] = []
        turnarounds: list[float] = []
        from_submit: list[float] = []
        from_submit_hours: list[float] = []
        bests: dict[str, tuple[float, float] | None] = {}
        earliest: dict[str, float | None] = {}
        for spec in self._dependency_order():
            bests[spec.id] = self._best_hours(spec, manager.jobs.get(spec.id))
            self._earliest_finish(spec, bests[spec.id], earliest)
        for spec in self.workload.jobs:
            job = manager.jobs.get(spec.id)
            deadline_h = spec.submit_at_hours + spec.deadline_after_hours
            best = bests[spec.id]
            done_by = earliest[spec.id]
            feasible = done_by is not None and done_by <= deadline_h + 1e-9
            result.feasible_total += int(feasible)
            if job is None or job.status in (S.PENDING, S.QUEUED, S.RUNNING, S.PAUSED):
                result.unfinished += 1
                tardiness.append(max(0.0, end - deadline_h))
                continue
            if job.status == S.FAILED:
                result.failed += 1
                tardiness.append(max(0.0, end - deadline_h))
                continue
            if job.status == S.CANCELLED or job.completed_at is None:
                result.cancelled += 1
                continue
            done_h = (job.completed_at - self.workload.start).total_seconds() / 3600.0
            turnarounds.append(max(0.0, done_h - spec.submit_at_hours))
            late = max(0.0, done_h - deadline_h)
            tardiness.append(late)
            if late <= 1e-9:
                result.completed_on_time += 1
                result.feasible_on_time += int(feasible)
            else:
                result.completed_late += 1
                if spec.id in self._deferred:
                    result.deferred_then_late += 1
            if best is not None:
                efficiency_best += best[1]
                efficiency_used += self._used_hours.get(spec.id, 0.0)
            first = self._first_preview.get(spec.id)
            started = self._first_start.get(spec.id)
            if first is not None and started is not None and done_h > started:
                preview_fractions.append((first - started) / (done_h - started))
            if first is not None and done_h > spec.submit_at_hours:
                from_submit.append((first - spec.submit_at_hours) / (done_h - spec.submit_at_hours))
                from_submit_hours.append(first - spec.submit_at_hours)
        integrals = self._integrals
        total = max(1, result.jobs_total)
        result.on_time_rate = result.completed_on_time / total
        result.feasible_on_time_rate = (
            result.feasible_on_time / result.feasible_total if result.feasible_total else 1.0
        )
        result.mean_tardiness_hours = sum(tardiness) / len(tardiness) if tardiness else 0.0
        result.p95_tardiness_hours = percentile(tardiness, 0.95)
        if turnarounds:
            result.turnaround_mean_hours = sum(turnarounds) / len(turnarounds)
            result.turnaround_p95_hours = percentile(turnarounds, 0.95)
        if from_submit:
            result.first_preview_from_submit_mean = sum(from_submit) / len(from_submit)
            result.first_preview_from_submit_p95 = percentile(from_submit, 0.95)
            result.first_preview_from_submit_hours_mean = sum(from_submit_hours) / len(
                from_submit_hours
            )
        owed = integrals.idle.get("runnable", 0.0)
        result.utilization = (
            integrals.busy / (integrals.busy + owed) if integrals.busy + owed > 0 else 1.0
        )
        result.idle_hours = {reason: integrals.idle.get(reason, 0.0) for reason in IDLE_REASONS}
        open_stretches = (end - since for since in self._owed_since.values())
        result.longest_owed_idle_hours = max(self._longest_owed, *open_stretches, 0.0)
        waits: dict[str, float] = {}
        for spec in self.workload.jobs:
            started = self._first_start.get(spec.id, end)
            wait = max(0.0, started - spec.submit_at_hours)
            waits[spec.priority] = max(waits.get(spec.priority, 0.0), wait)
        result.longest_wait_hours_by_priority = waits
        result.overall_utilization = integrals.busy / integrals.online if integrals.online else 0
        result.busy_node_hours, result.awake_node_hours = integrals.busy, integrals.online
        result.render_efficiency = efficiency_best / efficiency_used if efficiency_used else 0.0
        result.guarantee_shortfall_client_hours = integrals.shortfall
        result.scarce_node_hours_misused = integrals.scarce_misused
        if preview_fractions:
            result.first_preview_fraction_mean = sum(preview_fractions) / len(preview_fractions)
            result.first_preview_fraction_p95 = percentile(preview_fractions, 0.95)
        result.preview_overhead_percentage = (
            sum(self._overhead_pct) / len(self._overhead_pct) if self._overhead_pct else 0.0
        )
        result.energy_kwh, result.energy_cost = integrals.kwh, integrals.cost
        result.overnight_kwh, result.overnight_cost = (
            integrals.overnight_kwh,
            integrals.overnight_cost,
        )
        result.kwh_by_hour, result.cost_by_hour = integrals.kwh_by_hour, integrals.cost_by_hour
        result.task_starts = self._task_starts
        result.cold_starts = self._cold_starts
        starts = self._task_starts
        result.cold_start_share = self._cold_starts / starts if starts else 0.0
        result.scene_load_node_hours = self._load_hours
        result.preemptions = manager.performance_metrics.preemptions_count
        result.requeues = self._requeues
        result.work_lost_to_failures_node_hours = self._lost_failures
        result.work_lost_to_preemption_node_hours = self._lost_preemption
        result.deferred_jobs = len(self._deferred)
        result.scheduler_cpu_seconds = self._cpu
        render_seconds = integrals.busy * 3600.0
        result.scheduler_overhead = self._cpu / render_seconds if render_seconds else 0.0
        result.cycles = self._cycles
        result.simulated_hours = end
        result.last_completion_hours = self._last_completion
        result.utilization_by_client = {
            k: list(v) for k, v in integrals.utilization_by_client.items()
        }
        return result

    def _dependency_order(self) -> list[JobSpec]:
        """The workload's jobs, each after the jobs it depends on (the manager refuses
        cycles, so there are none among jobs it accepted; any left over come last)."""
        specs = self.specs
        placed: set[str] = set()
        order: list[JobSpec] = []

        def place(spec: JobSpec, path: set[str]) -> None:
            if spec.id in placed or spec.id in path:
                return
            path.add(spec.id)
            for dependency in spec.dependencies:
                if dependency in specs:
                    place(specs[dependency], path)
            placed.add(spec.id)
            order.append(spec)

        for spec in self.workload.jobs:
            place(spec, set())
        return order

    def _earliest_finish(
        self,
        spec: JobSpec,
        best: tuple[float, float] | None,
        earliest: dict[str, float | None],
    ) -> float | None:
        """Earliest hour ``spec`` could finish on an empty farm of the fastest fitting nodes:
        after its submission and after the earliest finish of every job it depends on (None if
        it or a job it depends on fits no node). Fills ``earliest``; jobs come in dependency
        order (:meth:`_dependency_order`), so a job's dependencies are filled first."""
        ready = spec.submit_at_hours
        for dependency in spec.dependencies:
            if dependency not in earliest:
                continue  # not in the workload: nothing to wait for
            finish = earliest[dependency]
            if finish is None:
                earliest[spec.id] = None
                return None
            ready = max(ready, finish)
        earliest[spec.id] = None if best is None else ready + best[0]
        return earliest[spec.id]

    def _best_speed(self, work: JobSpec | RenderJob) -> float | None:
        """True speed of the fastest node whose hardware fits the work (None if none)."""
        return self.workload.best_speed(work, work.job_type)

    def _best_hours(self, spec: JobSpec, job: RenderJob | None) -> tuple[float, float] | None:
        """(Hours to finish on an empty farm of the fastest fitting nodes, node-hours that takes),
        in truth; None when some of the work fits no node. For a shot: the longest chain of its
        tasks (as the manager split it), and the sum of its tasks."""
        tasks = self.manager.tasks_of(spec.id) if job is not None and spec.is_shot else []
        if not tasks:
            speed = self._best_speed(spec)
            if speed is None:
                return None
            hours = spec.estimated_duration_hours * spec.noise / speed
            return hours, hours
        finish: dict[str, float] = {}
        total = 0.0
        for task in tasks:  # queue order: a task comes after the tasks it waits for
            speed = self._best_speed(task)
            if speed is None:
                return None
            hours = task.estimated_duration_hours * spec.noise / speed
            total += hours
            ready = max((finish[d] for d in task.dependencies if d in finish), default=0.0)
            finish[task.id] = ready + hours
        return max(finish.values()), total
