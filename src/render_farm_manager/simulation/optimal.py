"""An optimal reference for small instances, from OR-Tools CP-SAT (the ``optimal`` extra).

The model knows what no scheduler knows: every job's true duration on every node and every
arrival in advance. A shot is split into tasks as the manager splits it at reference speed (the
finest split: a manager that has learned faster nodes makes fewer, longer tasks). It places each
task (a single-task job is one) on a node of some class (the nodes of a class are alike, so at
most as many tasks run at once on a class as it has nodes), after its release and what it waits
for, and maximises the number of jobs (shots) whose every task finishes by their deadline; among
schedules that do, it then looks for little total node time (for at most half as long again as
the first search took: ``node_hours`` is informative, not proven least). Failures and maintenance
are left out (use :func:`reference_workload`, which switches them off, to compare policies
fairly). On the same workload, each policy's gap to this reference bounds how much better any
policy could do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from render_farm_manager.jobs.expansion import plan_tasks
from render_farm_manager.simulation.workload import JobSpec, Workload, WorkloadError

MINUTES_PER_HOUR = 60
MAX_OPTIMAL_JOBS = 120


@dataclass(frozen=True)
class OptimalReference:
    on_time: int
    jobs: int
    proven_optimal: bool
    upper_bound: int
    """No schedule can have more jobs on time than this (equal to ``on_time`` when proven)."""
    node_hours: float
    """Node time of the schedule found (the least found, not proven least)."""
    solve_seconds: float

    @property
    def on_time_rate(self) -> float:
        return self.on_time / self.jobs if self.jobs else 1.0


def reference_workload(workload: Workload) -> Workload:
    """The same workload without failures, maintenance or nodes arriving later."""
    data = workload.model_dump()
    data["maintenance"] = []
    data["failure_storm"] = None
    data["node_classes"] = [
        {**spec, "mtbf_hours": 1e9, "retires_at_hours": None}
        for spec in data["node_classes"]
        if spec["arrives_at_hours"] == 0
    ]
    return Workload.model_validate(data)


@dataclass(frozen=True)
class _Work:
    """One task of the reference: what it needs and how long it is at reference speed."""

    id: str
    job_type: str
    hours: float
    depends_on: tuple[str, ...]
    requires_gpu: bool
    memory_requirements_gb: float
    cpu_requirements: int
    gpu_count: int = 0


def _tasks(workload: Workload, job: JobSpec) -> list[_Work]:
    """The job's tasks: itself, or the shot's tasks as the manager splits it at speed 1."""
    if not job.is_shot:
        return [
            _Work(
                job.id,
                job.job_type,
                job.estimated_duration_hours,
                (),
                job.requires_gpu,
                job.memory_requirements_gb,
                job.cpu_requirements,
            )
        ]
    shot = job.render_job(workload.start)
    tasks = []
    for planned in plan_tasks(shot, speed=1.0, hours_left=job.deadline_after_hours):
        step = planned.step
        gpus = step.gpu_count if step.gpu_count is not None else shot.gpu_count
        tasks.append(
            _Work(
                planned.id,
                step.job_type or shot.job_type,
                planned.hours,
                planned.depends_on,
                bool(gpus)
                or (step.requires_gpu if step.requires_gpu is not None else shot.requires_gpu),
                step.memory_requirements_gb or shot.memory_requirements_gb,
                step.cpu_requirements or shot.cpu_requirements,
                gpus,
            )
        )
    return tasks


def solve_optimal(
    workload: Workload, time_limit_seconds: float = 20.0, max_jobs: int = MAX_OPTIMAL_JOBS
) -> OptimalReference:
    """Solve the reference for ``workload`` (at most ``max_jobs`` jobs)."""
    try:
        from ortools.sat.python import cp_model
    except ImportError as error:  # pragma: no cover - the extra is installed with the dev tools
        raise WorkloadError(
            "the optimal reference needs OR-Tools: install the extra with "
            "`uv sync --extra optimal` (or `pip install render-farm-manager[optimal]`)"
        ) from error
    if len(workload.jobs) > max_jobs:
        raise WorkloadError(
            f"the CP-SAT reference is for small instances: {len(workload.jobs)} jobs is more "
            f"than {max_jobs}; use fewer nodes or days"
        )
    classes = [spec for spec in workload.node_classes if spec.arrives_at_hours == 0 and spec.count]
    tasks_of = {job.id: _tasks(workload, job) for job in workload.jobs}
    jobs = _dependencies_first(workload)
    # minutes of each task on each class that fits it
    options: dict[str, list[tuple[int, int]]] = {}
    for job in jobs:
        for task in tasks_of[job.id]:
            options[task.id] = [
                (n, _minutes(task.hours * job.noise / c.speed(task.job_type)))
                for n, c in enumerate(classes)
                if c.fits(task)
            ]
            if not options[task.id]:
                raise WorkloadError(f"no node of the reference farm can run job {task.id!r}")
    greedy = _list_schedule(jobs, tasks_of, options, [c.count for c in classes])
    horizon = max(
        max(greedy.ends.values(), default=0),
        math.ceil(
            MINUTES_PER_HOUR * workload.hours
            + sum(max(m for _, m in choices) for choices in options.values())
        ),
    )
    model = cp_model.CpModel()
    starts, ends, job_starts, job_ends, on_time, node_time = {}, {}, {}, {}, [], []
    hints: dict[int, tuple[cp_model.IntVar, int]] = {}
    greedy_on_time = 0
    intervals_by_class: dict[int, list[cp_model.IntervalVar]] = {i: [] for i in range(len(classes))}
    for job in jobs:
        release = round(job.submit_at_hours * MINUTES_PER_HOUR)
        deadline = math.floor((job.submit_at_hours + job.deadline_after_hours) * MINUTES_PER_HOUR)
        for task in tasks_of[job.id]:
            start = model.new_int_var(release, horizon, f"start_{task.id}")
            end = model.new_int_var(release, horizon, f"end_{task.id}")
            presences = []
            for n, minutes in options[task.id]:
                present = model.new_bool_var(f"on_{task.id}_{n}")
                interval = model.new_optional_interval_var(
                    start, minutes, end, present, f"run_{task.id}_{n}"
                )
                intervals_by_class[n].append(interval)
                presences.append(present)
                node_time.append(minutes * present)
                hints[present.index] = (present, int(greedy.classes[task.id] == n))
            model.add_exactly_one(presences)
            starts[task.id], ends[task.id] = start, end
            hints[start.index] = (start, greedy.starts[task.id])
            hints[end.index] = (end, greedy.ends[task.id])
        for task in tasks_of[job.id]:
            for dep in task.depends_on:
                model.add(starts[task.id] >= ends[dep])
        ids = [t.id for t in tasks_of[job.id]]
        if len(ids) == 1:
            job_starts[job.id], job_ends[job.id] = starts[ids[0]], ends[ids[0]]
        else:
            job_starts[job.id] = model.new_int_var(release, horizon, f"start_{job.id}")
            job_ends[job.id] = model.new_int_var(release, horizon, f"end_{job.id}")
            model.add_min_equality(job_starts[job.id], [starts[t] for t in ids])
            model.add_max_equality(job_ends[job.id], [ends[t] for t in ids])
            hints[job_starts[job.id].index] = (job_starts[job.id], greedy.job_start(ids))
            hints[job_ends[job.id].index] = (job_ends[job.id], greedy.job_end(ids))
        late_ok = model.new_bool_var(f"on_time_{job.id}")
        model.add(job_ends[job.id] <= deadline).only_enforce_if(late_ok)
        on_time.append(late_ok)
        greedy_on_time += int(greedy.job_end(ids) <= deadline)
        hints[late_ok.index] = (late_ok, int(greedy.job_end(ids) <= deadline))
    for job in jobs:
        for dep in job.dependencies:
            if dep in job_ends:
                model.add(job_starts[job.id] >= job_ends[dep])
    for n, intervals in intervals_by_class.items():
        if len(intervals) > 1:
            # Alike nodes: a class runs at most as many tasks at once as it has nodes (and an
            # assignment to its nodes then exists: intervals overlapping at most k at a time can
            # be spread over k nodes).
            model.add_cumulative(intervals, [1] * len(intervals), classes[n].count)
    # Start from a list schedule (the search may not find one soon by itself). Lexicographic:
    # the most jobs on time first, then (keeping that many) less node time, for at most half as
    # long again.
    for variable, value in hints.values():
        model.add_hint(variable, value)
    solver = _solver(cp_model, time_limit_seconds)
    model.maximize(sum(on_time))
    status = solver.solve(model)
    seconds = solver.wall_time
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    if found:
        achieved = sum(int(solver.value(v)) for v in on_time)
        minutes_used = sum(solver.value(term) for term in node_time)
    else:  # nothing better than the list schedule
        achieved = greedy_on_time
        minutes_used = greedy.minutes
    bound = solver.best_objective_bound
    upper = achieved if status == cp_model.OPTIMAL else len(on_time)
    if status != cp_model.OPTIMAL and math.isfinite(bound):
        upper = min(upper, math.floor(bound + 1e-6))
    left = min(time_limit_seconds - seconds, max(1.0, seconds / 2))
    if found and left > 0.5:
        model.clear_hints()  # type: ignore[no-untyped-call]
        for variable, _ in hints.values():
            model.add_hint(variable, solver.value(variable))
        model.add(sum(on_time) >= achieved)
        model.minimize(sum(node_time))
        second = _solver(cp_model, left)
        if second.solve(model) in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            minutes_used = min(minutes_used, sum(second.value(term) for term in node_time))
        seconds += second.wall_time
    return OptimalReference(
        on_time=achieved,
        jobs=len(workload.jobs),
        proven_optimal=status == cp_model.OPTIMAL,
        upper_bound=max(achieved, upper),
        node_hours=minutes_used / MINUTES_PER_HOUR,
        solve_seconds=seconds,
    )


def _minutes(hours: float) -> int:
    return max(1, math.ceil(MINUTES_PER_HOUR * hours))


def _solver(cp_model: Any, seconds: float) -> Any:
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 2
    solver.parameters.random_seed = 0
    solver.parameters.max_time_in_seconds = seconds
    return solver


def _dependencies_first(workload: Workload) -> list[JobSpec]:
    """The jobs by submission, each after the jobs it depends on."""
    by_id = {job.id: job for job in workload.jobs}
    ordered: list[JobSpec] = []
    seen: set[str] = set()

    def visit(job: JobSpec) -> None:
        if job.id in seen:
            return
        seen.add(job.id)
        for dep in job.dependencies:
            if dep in by_id:
                visit(by_id[dep])
        ordered.append(job)

    for job in sorted(workload.jobs, key=lambda j: j.submit_at_hours):
        visit(job)
    return ordered


@dataclass
class _ListSchedule:
    starts: dict[str, int]
    ends: dict[str, int]
    classes: dict[str, int]
    minutes: int

    def job_start(self, task_ids: list[str]) -> int:
        return min(self.starts[t] for t in task_ids)

    def job_end(self, task_ids: list[str]) -> int:
        return max(self.ends[t] for t in task_ids)


def _list_schedule(
    jobs: list[JobSpec],
    tasks_of: dict[str, list[_Work]],
    options: dict[str, list[tuple[int, int]]],
    counts: list[int],
) -> _ListSchedule:
    """Each task, in order, on the node that finishes it first (a valid, plain schedule)."""
    free = [[0] * count for count in counts]
    schedule = _ListSchedule({}, {}, {}, 0)
    for job in jobs:
        ready = round(job.submit_at_hours * MINUTES_PER_HOUR)
        for dep in job.dependencies:
            if dep in tasks_of and tasks_of[dep][0].id in schedule.ends:
                ready = max(ready, schedule.job_end([t.id for t in tasks_of[dep]]))
        for task in tasks_of[job.id]:
            at = max([ready, *(schedule.ends[d] for d in task.depends_on)])
            best: tuple[int, int, int, int] | None = None
            for n, minutes in options[task.id]:
                node = min(range(counts[n]), key=free[n].__getitem__)
                end = max(at, free[n][node]) + minutes
                if best is None or end < best[0]:
                    best = (end, n, node, minutes)
            assert best is not None
            end, n, node, minutes = best
            free[n][node] = end
            schedule.starts[task.id], schedule.ends[task.id] = end - minutes, end
            schedule.classes[task.id] = n
            schedule.minutes += minutes
    return schedule
