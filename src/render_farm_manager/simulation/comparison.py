"""Run several policies on one workload and judge the results against the targets."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from render_farm_manager.simulation.engine import Simulation
from render_farm_manager.simulation.metrics import PolicyResult
from render_farm_manager.simulation.optimal import OptimalReference, solve_optimal
from render_farm_manager.simulation.policies import Policy, resolve_policies
from render_farm_manager.simulation.workload import Workload


@dataclass
class Target:
    criterion: str
    value: float | None
    floor: float | None
    goal: float | None
    higher_is_better: bool = True
    note: str = ""
    unit: str = "share"
    """``share`` (shown as a percentage), ``hours`` or ``count``."""

    def show(self, value: float | None) -> str:
        if value is None:
            return "-"
        if self.unit == "hours":
            return f"{value:.2f} h"
        if self.unit == "count":
            return f"{value:g}"
        return f"{100 * value:.2f}%"

    def _meets(self, bound: float | None) -> bool | None:
        if bound is None or self.value is None:
            return None
        return self.value >= bound if self.higher_is_better else self.value <= bound

    @property
    def meets_floor(self) -> bool | None:
        return self._meets(self.floor)

    @property
    def meets_goal(self) -> bool | None:
        return self._meets(self.goal)

    def as_dict(self) -> dict[str, Any]:
        return {
            "criterion": self.criterion,
            "value": self.value,
            "floor": self.floor,
            "goal": self.goal,
            "higher_is_better": self.higher_is_better,
            "meets_floor": self.meets_floor,
            "meets_goal": self.meets_goal,
            "note": self.note,
            "unit": self.unit,
        }


@dataclass
class Comparison:
    workload: Workload
    results: list[PolicyResult] = field(default_factory=list)
    optimal: OptimalReference | None = None
    """CP-SAT reference (small, failure-free instances only)."""

    def optimal_gap(self, policy: str) -> float | None:
        """Share of the reference's on-time jobs that ``policy`` did not get on time."""
        result = self.result(policy)
        if self.optimal is None or result is None or not self.optimal.on_time:
            return None
        return (self.optimal.on_time - result.completed_on_time) / self.optimal.on_time

    def result(self, policy: str) -> PolicyResult | None:
        return next((r for r in self.results if r.policy == policy), None)

    def targets(self) -> list[Target]:
        """The seed's criteria (floor) and our goals, for "ours" where it was run."""
        ours = self.result("ours")
        if ours is None:
            return []
        crunch = self.workload.scenario == "crunch"
        targets = [
            Target("jobs on time (all)", ours.on_time_rate, 0.99, None),
            Target(
                "jobs on time (feasible deadlines)",
                ours.feasible_on_time_rate,
                None,
                None if crunch else 0.99,
            ),
        ]
        baselines = [r for r in self.results if not r.policy.startswith("ours")]
        if baselines:
            best = max(baselines, key=lambda r: r.feasible_on_time_rate)
            targets.append(
                Target(
                    f"on time (feasible) ahead of the best baseline ({best.policy})",
                    ours.feasible_on_time_rate - best.feasible_on_time_rate,
                    None,
                    0.01 if crunch else 0.0,
                )
            )
        edf = self.result("edf")
        if edf is not None:
            targets.append(
                Target(
                    "mean turnaround behind EDF (hours)",
                    ours.turnaround_mean_hours - edf.turnaround_mean_hours,
                    None,
                    0.0,
                    higher_is_better=False,
                    unit="hours",
                )
            )
        targets.append(
            Target("utilization (idle while runnable counted)", ours.utilization, 0.95, 0.95)
        )
        targets.append(
            Target(
                "longest a node sat idle while work it could run waited",
                ours.longest_owed_idle_hours,
                None,
                1.0,
                higher_is_better=False,
                unit="hours",
            )
        )
        for name, floor, goal in (("deadline10", 0.20, 0.20), ("round-robin", 0.20, 0.35)):
            other = self.result(name)
            if other is not None and other.render_efficiency:
                gain = ours.render_efficiency / other.render_efficiency - 1
                targets.append(Target(f"render efficiency gain over {name}", gain, floor, goal))
        rr = self.result("round-robin")
        if rr is not None and rr.overnight_kwh and rr.energy_cost:
            targets.append(
                Target(
                    "overnight kWh saved vs. round-robin",
                    1 - ours.overnight_kwh / rr.overnight_kwh,
                    0.15,
                    0.15,
                )
            )
            targets.append(
                Target(
                    "energy cost saved vs. round-robin",
                    1 - ours.energy_cost / rr.energy_cost,
                    None,
                    0.20,
                )
            )
        plain = self.result("ours-no-energy")
        if plain is not None and plain.overnight_kwh:
            targets.append(
                Target(
                    "overnight kWh saved vs. ours without energy",
                    1 - ours.overnight_kwh / plain.overnight_kwh,
                    None,
                    0.10,
                )
            )
        targets.append(
            Target(
                "deadlines missed after energy deferral",
                float(ours.deferred_then_late),
                None,
                0.0,
                higher_is_better=False,
                unit="count",
            )
        )
        targets.append(
            Target(
                "first preview after submission, share of turnaround (mean)",
                ours.first_preview_from_submit_mean,
                0.10,
                None,
                higher_is_better=False,
            )
        )
        targets.append(
            Target(
                "first preview after the first start, share of start-to-end (mean)",
                ours.first_preview_fraction_mean,
                None,
                0.03,
                higher_is_better=False,
            )
        )
        if ours.task_starts:
            targets.append(
                Target(
                    "cold starts (scene loaded first), share of shot task starts",
                    ours.cold_start_share,
                    None,
                    0.15,
                    higher_is_better=False,
                )
            )
        gap = self.optimal_gap("ours")
        if gap is not None:
            targets.append(
                Target(
                    "gap to the CP-SAT reference (jobs on time)",
                    gap,
                    None,
                    0.02,
                    higher_is_better=False,
                )
            )
        targets.append(
            Target(
                "scheduling overhead (CPU / render time)",
                ours.scheduler_overhead,
                0.01,
                0.001,
                higher_is_better=False,
            )
        )
        return targets

    def as_dict(self) -> dict[str, Any]:
        workload = self.workload
        return {
            "workload": {
                "scenario": workload.scenario,
                "seed": workload.seed,
                "days": workload.days,
                "nodes": sum(c.count for c in workload.node_classes),
                "jobs": len(workload.jobs),
                "shots": sum(1 for j in workload.jobs if j.is_shot),
                "frames": sum(j.frames for j in workload.jobs),
                "reference_work_hours": round(
                    sum(j.estimated_duration_hours for j in workload.jobs), 2
                ),
            },
            "policies": [
                {**r.as_dict(), "optimal_gap": self.optimal_gap(r.policy)} for r in self.results
            ],
            "optimal": None
            if self.optimal is None
            else {**asdict(self.optimal), "on_time_rate": self.optimal.on_time_rate},
            "targets": [t.as_dict() for t in self.targets()],
        }

    def write_json(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_dict(), indent=1, default=str), encoding="utf-8")
        return path


def _run_one(workload: Workload, policy_name: str, cycle_minutes: int) -> PolicyResult:
    policy = resolve_policies([policy_name])[0]
    return Simulation(workload, policy, cycle_minutes=cycle_minutes).run()


def run_comparison(
    workload: Workload,
    policies: list[Policy],
    cycle_minutes: int = 15,
    workers: int = 1,
    on_done: Callable[[PolicyResult], None] | None = None,
    optimal: bool = False,
) -> Comparison:
    """Simulate every policy on the same workload (in ``workers`` processes); with
    ``optimal``, also solve the CP-SAT reference (give it a :func:`reference_workload`)."""
    comparison = Comparison(workload)
    if optimal:
        comparison.optimal = solve_optimal(workload)
    names = [p.name for p in policies]
    results: dict[str, PolicyResult] = {}
    if workers <= 1 or len(names) == 1:
        for name in names:
            results[name] = _run_one(workload, name, cycle_minutes)
            if on_done is not None:
                on_done(results[name])
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_run_one, workload, name, cycle_minutes): name for name in names}
            for future in as_completed(futures):
                result = future.result()
                results[futures[future]] = result
                if on_done is not None:
                    on_done(result)
    comparison.results = [results[name] for name in names]
    return comparison
