"""``render-farm render``: render job files on this machine, now.

The farm is this machine: ``--nodes`` render slots (local nodes), the manager deciding what runs
where exactly as on a farm, the local executor running the renderers in their own process
groups. A progress bar follows the frames; the command ends when every job has finished, and
exits 1 when one failed.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from render_farm_manager.cli.submit import jobs_table, parse_deadline, parse_params, submit_files
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import FINISHED_STATUSES, JobPriority, RenderJobStatus
from render_farm_manager.execution.local import LocalExecutor
from render_farm_manager.execution.local_farm import local_nodes
from render_farm_manager.execution.runner import FarmRunner


def render(
    files: list[Path] = typer.Argument(..., help="Job files (OpenJD, OpenCue, Deadline)."),
    client: str = typer.Option("local", "--client", "-c", help="Client the jobs bill."),
    param: list[str] = typer.Option([], "--param", "-p", help="OpenJD parameter NAME=VALUE."),
    deadline: str | None = typer.Option(None, help="Due time: ISO 8601, +12h, +2d."),
    priority: JobPriority | None = typer.Option(None, help="low, medium, high or critical."),
    nodes: int = typer.Option(
        min(4, os.cpu_count() or 1), min=1, max=256, help="Renders at once on this machine."
    ),
    workdir: Path = typer.Option(Path("farm-work"), help="Task directories and render logs."),
    timeout: float | None = typer.Option(None, min=1, help="Give up after this many seconds."),
    plugin_info: Path | None = typer.Option(None, help="Deadline plugin info file."),
) -> None:
    """Render job files on this machine and wait until they finish."""
    console = Console()
    params = parse_params(param)
    manager = RenderFarmManager()
    for node in local_nodes(nodes):
        manager.add_node(node)
    now = datetime.now().replace(microsecond=0)
    due = parse_deadline(deadline, now)
    jobs = submit_files(
        console, manager, files, params, plugin_info, now, None, client, due, priority, None
    )
    executor = LocalExecutor(workdir)
    runner = FarmRunner(manager, executor)
    frames = {
        job.id: int((manager.get_job_status(job.id) or {}).get("frames_total") or 1) for job in jobs
    }
    total = sum(frames.values())

    def frames_done() -> int:
        """From each job's progress (a shot's is its share of frames done): no status query
        per step, which would recompute the queue's forecast after every change."""
        return sum(round(job.progress * frames[job.id] / 100.0) for job in jobs)

    def finished() -> bool:
        return all(job.status in FINISHED_STATUSES for job in jobs)

    with Progress(
        TextColumn("[bold]rendering"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} frames"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bar = progress.add_task("frames", total=total)
        ok = runner.run(
            finished,
            timeout_seconds=timeout,
            on_step=lambda: progress.update(bar, completed=frames_done()),
        )
    console.print(jobs_table([manager.get_job_status(job.id) or {} for job in jobs], "Rendered"))
    console.print(f"render logs: {workdir}/<task>/attempt-<n>/render.log")
    if not ok:
        console.print("[red]timed out[/]: renders still under way were stopped")
        raise typer.Exit(code=1)
    if any(job.status != RenderJobStatus.COMPLETED for job in jobs):
        raise typer.Exit(code=1)
