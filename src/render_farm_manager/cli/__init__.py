"""The ``render-farm`` command."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from render_farm_manager.cli.render import render
from render_farm_manager.cli.server import register as register_service_commands
from render_farm_manager.cli.submit import submit
from render_farm_manager.cli.worker import certs, worker
from render_farm_manager.demo import build_demo_farm, run_demo
from render_farm_manager.simulation.comparison import run_comparison
from render_farm_manager.simulation.optimal import MAX_OPTIMAL_JOBS, reference_workload
from render_farm_manager.simulation.policies import DEFAULT_POLICIES, POLICIES, resolve_policies
from render_farm_manager.simulation.scenarios import generate_workload
from render_farm_manager.simulation.tables import costs_table, results_table, targets_table
from render_farm_manager.simulation.workload import Workload, WorkloadError

app = typer.Typer(
    help="Render farm manager: submit job files, run the demo farm or the scheduling simulator.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """Render farm manager."""


@app.command()
def demo(
    nodes: int = typer.Option(24, min=1, max=2000, help="Render nodes in the farm."),
    jobs: int = typer.Option(120, min=1, max=100_000, help="Jobs submitted at the start."),
    hours: float = typer.Option(24.0, min=0.25, max=24 * 14, help="Simulated hours to run."),
    seed: int = typer.Option(1, help="Random seed for the workload."),
) -> None:
    """Build a heterogeneous farm, submit jobs, run scheduling cycles on a simulated clock and
    print the farm's state."""
    console = Console()
    manager, clock, true_speed = build_demo_farm(nodes, jobs, seed)
    with Progress(
        TextColumn("[bold]simulating"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} cycles"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("run", total=int(hours * 4))
        run_demo(
            manager,
            clock,
            true_speed,
            hours,
            on_step=lambda done, total: progress.update(task, completed=done),
        )
    farm = manager.get_farm_status()
    metrics = farm["performance_metrics"]
    table = Table(title=f"Farm at {clock.now():%Y-%m-%d %H:%M} (simulated)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("nodes online", f"{farm['nodes_by_status']['online']} of {farm['total_nodes']}"),
        *((f"jobs {status}", str(count)) for status, count in farm["jobs_by_status"].items()),
        (
            "completed on time",
            f"{metrics['jobs_completed_on_time']} of {metrics['total_jobs_completed']}",
        ),
        ("average utilization", f"{metrics['average_utilization_percentage']:.1f}%"),
        ("preemptions", str(metrics["preemptions_count"])),
        ("energy", f"{metrics['energy_usage_kwh']:.1f} kWh, cost {farm['energy_cost']:.2f}"),
        ("mean turnaround", f"{metrics['average_job_turnaround_hours']:.2f} h"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    clients = Table(title="Clients")
    for column in ("client", "tier", "guaranteed %", "using now %", "completed", "waiting"):
        clients.add_column(column)
    for client_id in manager.clients:
        status = manager.get_client_status(client_id)
        assert status is not None
        by_status = status["jobs_by_status"]
        clients.add_row(
            client_id,
            status["sla_tier"],
            f"{status['guaranteed_resources']:.0f}",
            f"{status['current_resource_usage']:.0f}",
            str(by_status["completed"]),
            str(by_status["queued"] + by_status["pending"]),
        )
    console.print(clients)


@app.command()
def simulate(
    scenario: str = typer.Option(
        "normal", help="normal, crunch, overnight, failure-storm or farm-upgrade."
    ),
    nodes: int = typer.Option(40, help="Approximate number of render nodes."),
    days: float = typer.Option(3.0, help="Days of submissions to simulate."),
    seed: int = typer.Option(1, help="Workload seed (same seed, same report)."),
    policies: str = typer.Option(
        ",".join(DEFAULT_POLICIES), help=f"Comma-separated policies from: {', '.join(POLICIES)}."
    ),
    out: Path = typer.Option(Path("sim-out"), help="Directory for report.json and charts."),
    workload_file: Path | None = typer.Option(
        None, "--workload", help="Replay a workload saved as JSON."
    ),
    jobs_csv: Path | None = typer.Option(
        None, "--jobs-csv", help="Replace the jobs with those of a CSV file."
    ),
    save_workload: Path | None = typer.Option(None, help="Also save the workload (.json/.csv)."),
    workers: int = typer.Option(2, min=1, max=16, help="Policies simulated in parallel."),
    optimal: bool = typer.Option(
        False,
        "--optimal",
        help="Also solve a CP-SAT optimal reference (small instances, up to 120 jobs); the run "
        "then leaves out failures, maintenance and late-arriving nodes so the comparison is fair.",
    ),
) -> None:
    """Simulate a farm under several scheduling policies and compare them."""
    console = Console()
    try:
        chosen = resolve_policies([p.strip() for p in policies.split(",") if p.strip()])
        if workload_file is not None:
            workload = Workload.load(workload_file)
        else:
            workload = generate_workload(scenario, nodes, days, seed)
        if jobs_csv is not None:
            workload = workload.with_jobs_from_csv(jobs_csv)
        if optimal:
            workload = reference_workload(workload)
            if len(workload.jobs) > MAX_OPTIMAL_JOBS:
                raise WorkloadError(
                    f"--optimal is for small instances: {len(workload.jobs)} jobs is more than "
                    f"{MAX_OPTIMAL_JOBS}; try --nodes 6 --days 0.5"
                )
        if save_workload is not None:
            workload.save(save_workload)
    except WorkloadError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(code=2) from error
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} policies"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(f"simulating {len(workload.jobs)} jobs", total=len(chosen))
        comparison = run_comparison(
            workload,
            chosen,
            workers=workers,
            on_done=lambda result: progress.advance(task),
            optimal=optimal,
        )
    if comparison.optimal is not None:
        reference = comparison.optimal
        proof = "proven optimal" if reference.proven_optimal else f"bound {reference.upper_bound}"
        console.print(
            f"CP-SAT reference: {reference.on_time}/{reference.jobs} jobs on time "
            f"({proof}, {reference.solve_seconds:.1f} s)"
        )
    console.print(results_table(comparison))
    console.print(costs_table(comparison))
    if comparison.targets():
        console.print(targets_table(comparison))
    report = comparison.write_json(out / "report.json")
    from render_farm_manager.simulation.charts import write_charts  # matplotlib: slow import

    charts = write_charts(comparison, out)
    console.print(f"report: {report}")
    for chart in charts:
        console.print(f"chart:  {chart}")


app.command()(submit)
app.command()(render)
app.command()(worker)
app.command()(certs)
register_service_commands(app)


if __name__ == "__main__":  # pragma: no cover
    app()
