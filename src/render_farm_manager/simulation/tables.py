"""Rich tables of a comparison, for the terminal."""

from __future__ import annotations

from rich.table import Table

from render_farm_manager.simulation.comparison import Comparison
from render_farm_manager.simulation.metrics import PolicyResult


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def idle_by_choice(result: PolicyResult) -> float:
    """Idle node-hours the policy chose (deferral, waiting for faster hardware, quotas)."""
    return sum(result.idle_hours.get(reason, 0.0) for reason in ("deferred", "faster", "quota"))


def _title(comparison: Comparison) -> str:
    workload = comparison.workload
    shots = sum(1 for job in workload.jobs if job.is_shot)
    return (
        f"{workload.scenario}: {len(workload.jobs)} jobs ({shots} shots), "
        f"{sum(c.count for c in workload.node_classes)} nodes, {workload.days:g} days, "
        f"seed {workload.seed}"
    )


def _table(title: str, columns: tuple[str, ...]) -> Table:
    """Policy names stay whole at any common width; the figures' headers wrap instead."""
    table = Table(title=title)
    for column in columns:
        if column == "policy":
            table.add_column(column, justify="left", no_wrap=True, min_width=18)
        else:
            table.add_column(column, justify="right", overflow="fold")
    return table


def results_table(comparison: Comparison) -> Table:
    """Deadlines and use of the farm, one row per policy."""
    table = _table(
        _title(comparison),
        (
            "policy",
            "on time",
            "feasible",
            "late h mean/p95",
            "turnaround h mean/p95",
            "util.",
            "idle owed / by choice h",
            "efficiency",
            "short h",
            *(("gap to CP-SAT",) if comparison.optimal is not None else ()),
        ),
    )
    for r in comparison.results:
        gap = comparison.optimal_gap(r.policy)
        table.add_row(
            r.policy,
            _pct(r.on_time_rate),
            _pct(r.feasible_on_time_rate),
            f"{r.mean_tardiness_hours:.2f}/{r.p95_tardiness_hours:.2f}",
            f"{r.turnaround_mean_hours:.2f}/{r.turnaround_p95_hours:.2f}",
            _pct(r.utilization),
            f"{r.idle_hours.get('runnable', 0):.0f} / {idle_by_choice(r):.0f}",
            f"{r.render_efficiency:.3f}",
            f"{r.guarantee_shortfall_client_hours:.0f}",
            *((_pct(gap),) if comparison.optimal is not None else ()),
        )
    return table


def costs_table(comparison: Comparison) -> Table:
    """Energy, previews, disruption and scheduler cost, one row per policy."""
    table = _table(
        "Energy, previews and overheads",
        (
            "policy",
            "kWh",
            "cost",
            "night kWh",
            "night cost",
            "preview from submit",
            "preview from start",
            "max wait h (low)",
            "cold starts",
            "scarce misused h",
            "preempt",
            "lost h",
            "overhead",
        ),
    )
    for r in comparison.results:
        lost = r.work_lost_to_failures_node_hours + r.work_lost_to_preemption_node_hours
        table.add_row(
            r.policy,
            f"{r.energy_kwh:.0f}",
            f"{r.energy_cost:.0f}",
            f"{r.overnight_kwh:.0f}",
            f"{r.overnight_cost:.0f}",
            _pct(r.first_preview_from_submit_mean),
            _pct(r.first_preview_fraction_mean),
            f"{r.longest_wait_hours_by_priority.get('low', 0.0):.1f}",
            _pct(r.cold_start_share if r.task_starts else None),
            f"{r.scarce_node_hours_misused:.0f}",
            str(r.preemptions),
            f"{lost:.1f}",
            _pct(r.scheduler_overhead, 3),
        )
    return table


def targets_table(comparison: Comparison) -> Table:
    table = Table(title="Targets (ours)")
    for column in ("criterion", "value", "seed floor", "our goal", "floor", "goal"):
        table.add_column(column)
    marks = {True: "[green]met[/]", False: "[red]missed[/]", None: "-"}
    for target in comparison.targets():
        table.add_row(
            target.criterion,
            target.show(target.value),
            target.show(target.floor),
            target.show(target.goal),
            marks[target.meets_floor],
            marks[target.meets_goal],
        )
    return table
