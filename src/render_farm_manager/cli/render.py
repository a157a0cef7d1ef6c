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
from render_farm_manager.core.errors import StoreError
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import (
    FINISHED_STATUSES,
    JobPriority,
    RenderJob,
    RenderJobStatus,
    RenderTask,
)
from render_farm_manager.execution.local import LocalExecutor
from render_farm_manager.execution.local_farm import local_nodes
from render_farm_manager.execution.runner import FarmRunner
from render_farm_manager.store import open_manager


def render(
    files: list[Path] = typer.Argument(
        None,
        help="Job files (OpenJD, OpenCue, Deadline). None with --db: go on with the "
        "unfinished jobs stored there.",
    ),
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
    db: str | None = typer.Option(
        None,
        help="Keep the farm's state in this store (sqlite:///farm.db, postgresql://host/db): "
        "killed and run again with the same --db and --workdir, it goes on where it stopped, "
        "rendering no finished frame again.",
    ),
) -> None:
    """Render job files on this machine and wait until they finish."""
    console = Console()
    params = parse_params(param)
    if not files and db is None:
        raise typer.BadParameter("give job files (or --db to go on with stored jobs)")
    manager = open_render_farm(console, db)
    for node in local_nodes(nodes):
        if node.id not in manager.nodes:
            manager.add_node(node)
    now = datetime.now().replace(microsecond=0)
    due = parse_deadline(deadline, now)
    if files:
        jobs = submit_files(
            console, manager, files, params, plugin_info, now, None, client, due, priority, None
        )
    else:
        jobs = unfinished_jobs(manager)
        if not jobs:
            console.print(f"nothing to render: every job stored in {db} has finished")
            manager.close()
            return
        console.print(f"going on with {len(jobs)} unfinished job(s) stored in {db}")
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
        bar = progress.add_task("frames", total=total, completed=frames_done())
        ok = runner.run(
            finished,
            timeout_seconds=timeout,
            on_step=lambda: progress.update(bar, completed=frames_done()),
        )
    console.print(jobs_table([manager.get_job_status(job.id) or {} for job in jobs], "Rendered"))
    manager.close()
    console.print(f"render logs: {workdir}/<task>/attempt-<n>/render.log")
    if not ok:
        console.print("[red]timed out[/]: renders still under way were stopped")
        raise typer.Exit(code=1)
    if any(job.status != RenderJobStatus.COMPLETED for job in jobs):
        raise typer.Exit(code=1)


def open_render_farm(console: Console, db: str | None) -> RenderFarmManager:
    if db is None:
        return RenderFarmManager()
    try:
        return open_manager(db, lead_timeout=5)
    except StoreError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(code=2) from error


def unfinished_jobs(manager: RenderFarmManager) -> list[RenderJob]:
    """The stored jobs (shots, not their tasks) that have not finished."""
    return [
        job
        for job in manager.jobs.values()
        if not isinstance(job, RenderTask) and job.status not in FINISHED_STATUSES
    ]
