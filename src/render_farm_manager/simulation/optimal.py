"""An optimal reference for small instances, from OR-Tools CP-SAT (the ``optimal`` extra).

The model knows what no scheduler knows: every job's true duration on every node and every
arrival in advance. It places each job on one node (no overlap per node), after its release and
its dependencies, and maximises the number of jobs finishing by their deadline; among schedules
that do, it minimises total node time. Failures and maintenance are left out (use
:func:`reference_workload`, which switches them off, to compare policies fairly). On the same
workload, each policy's gap to this reference bounds how much better any policy could do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from render_farm_manager.simulation.workload import Workload, WorkloadError

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
    nodes = [
        (spec, index)
        for spec in workload.node_classes
        if spec.arrives_at_hours == 0
        for index in range(spec.count)
    ]
    model = cp_model.CpModel()
    horizon = math.ceil(
        MINUTES_PER_HOUR
        * (
            workload.hours
            + sum(
                job.estimated_duration_hours
                * job.noise
                / min((s.speed(job.job_type) for s, _ in nodes if s.fits(job)), default=1.0)
                for job in workload.jobs
            )
        )
    )
    starts, ends, on_time, node_time = {}, {}, [], []
    intervals_by_node: dict[int, list[cp_model.IntervalVar]] = {i: [] for i in range(len(nodes))}
    for job in workload.jobs:
        release = round(job.submit_at_hours * MINUTES_PER_HOUR)
        deadline = math.floor((job.submit_at_hours + job.deadline_after_hours) * MINUTES_PER_HOUR)
        start = model.new_int_var(release, horizon, f"start_{job.id}")
        end = model.new_int_var(release, horizon, f"end_{job.id}")
        presences = []
        for n, (spec, _) in enumerate(nodes):
            if not spec.fits(job):
                continue
            minutes = max(
                1,
                math.ceil(
                    MINUTES_PER_HOUR
                    * job.estimated_duration_hours
                    * job.noise
                    / spec.speed(job.job_type)
                ),
            )
            present = model.new_bool_var(f"on_{job.id}_{n}")
            interval = model.new_optional_interval_var(
                start, minutes, end, present, f"run_{job.id}_{n}"
            )
            intervals_by_node[n].append(interval)
            presences.append(present)
            node_time.append(minutes * present)
        if not presences:
            raise WorkloadError(f"no node of the reference farm can run job {job.id!r}")
        model.add_exactly_one(presences)
        late_ok = model.new_bool_var(f"on_time_{job.id}")
        model.add(end <= deadline).only_enforce_if(late_ok)
        on_time.append(late_ok)
        starts[job.id], ends[job.id] = start, end
    for job in workload.jobs:
        for dep in job.dependencies:
            if dep in ends:
                model.add(starts[job.id] >= ends[dep])
    for intervals in intervals_by_node.values():
        if len(intervals) > 1:
            model.add_no_overlap(intervals)
    weight = sum(1 for _ in node_time) * horizon + 1
    model.maximize(weight * sum(on_time) - sum(node_time))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_seconds
    solver.parameters.num_workers = 2
    solver.parameters.random_seed = 0
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise WorkloadError(f"CP-SAT found no schedule within {time_limit_seconds:g} s")
    achieved = sum(int(solver.value(v)) for v in on_time)
    bound = min(
        len(on_time),
        int(solver.best_objective_bound // weight) + 1 if status != cp_model.OPTIMAL else achieved,
    )
    minutes_used = sum(solver.value(term) for term in node_time)
    return OptimalReference(
        on_time=achieved,
        jobs=len(workload.jobs),
        proven_optimal=status == cp_model.OPTIMAL,
        upper_bound=max(achieved, bound),
        node_hours=minutes_used / MINUTES_PER_HOUR,
        solve_seconds=solver.wall_time,
    )
