"""The ``render-farm`` command."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from render_farm_manager.demo import build_demo_farm, run_demo

app = typer.Typer(
    help="Render farm manager: run the demo farm or the scheduling simulator.",
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


if __name__ == "__main__":  # pragma: no cover
    app()
