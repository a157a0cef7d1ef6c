"""``render-farm submit``: read job files, submit them to the farm, show what the farm makes of
them (tasks, frames, placements, expected finish, whether the deadline holds).

Until the service exists, the farm is an in-process one: the embedded default farm (the demo
farm's mix of CPU and GPU nodes) or the nodes of a ``--farm`` file. Every file is read and
checked before anything is submitted: one bad file, nothing submitted.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from render_farm_manager.core.clock import ManualClock
from render_farm_manager.core.errors import RenderFarmError
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import Client, JobPriority, RenderJob, RenderNode
from render_farm_manager.demo import build_demo_farm
from render_farm_manager.jobs.loader import load_job_file

_RELATIVE = re.compile(r"^\+(\d+(?:\.\d+)?)([mhd])$")


def parse_deadline(text: str | None, now: datetime) -> datetime | None:
    """``2026-12-04T09:00`` (ISO 8601) or relative to now: ``+90m``, ``+12h``, ``+2d``."""
    if text is None:
        return None
    match = _RELATIVE.match(text.strip())
    if match:
        amount, unit = float(match.group(1)), match.group(2)
        unit_name = {"m": "minutes", "h": "hours", "d": "days"}[unit]
        return now + timedelta(**{unit_name: amount})
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise typer.BadParameter(
            f"{text!r} is not a time: use ISO 8601 (2026-12-04T09:00) or +12h / +2d",
            param_hint="--deadline",
        ) from error


def parse_params(values: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"{value!r} is not NAME=VALUE", param_hint="--param")
        params[name.strip()] = text
    return params


def farm_from_file(path: Path, manager: RenderFarmManager) -> None:
    """A farm file: JSON ``{"nodes": [RenderNode...], "clients": [Client...]}``."""
    try:
        data = json.loads(path.read_text())
        for client in data.get("clients", []):
            manager.add_client(Client(**client))
        for node in data.get("nodes", []):
            manager.add_node(RenderNode(**node))
    except (OSError, ValueError, TypeError) as error:
        raise typer.BadParameter(f"{path}: {error}", param_hint="--farm") from error


def submit(
    files: list[Path] = typer.Argument(
        ...,
        help="Job files: OpenJD (.yaml/.json/bundle dir), "
        "OpenCue (.xml), Deadline job info (.job).",
    ),
    client: str | None = typer.Option(
        None,
        "--client",
        "-c",
        help="Client (production) the jobs bill (with --server and a client's token: that client).",
    ),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="OpenJD job parameter NAME=VALUE (repeatable)."
    ),
    deadline: str | None = typer.Option(
        None, help="Due time: ISO 8601 or relative (+12h, +2d). Default: the file's, else +24h."
    ),
    priority: JobPriority | None = typer.Option(None, help="low, medium, high or critical."),
    job_id: str | None = typer.Option(None, "--id", help="Job id (one file only)."),
    hours: float | None = typer.Option(
        None, min=0.0001, help="Estimated render hours of the whole job (default: the file's)."
    ),
    plugin_info: Path | None = typer.Option(
        None, help="Deadline plugin info file (default: the sibling *plugin_info* file)."
    ),
    farm: Path | None = typer.Option(None, help="Farm file (JSON nodes and clients)."),
    nodes: int = typer.Option(24, min=1, max=5000, help="Nodes of the default farm."),
    show_tasks: int = typer.Option(12, min=0, help="Tasks listed per job (0: none)."),
    as_json: bool = typer.Option(False, "--json", help="Print the job statuses as JSON."),
    server: str | None = typer.Option(
        None, "--server", envvar="RENDER_FARM_SERVER", help="Submit to this service instead."
    ),
    token: str | None = typer.Option(None, "--token", envvar="RENDER_FARM_TOKEN"),
) -> None:
    """Submit job files to the farm and show their tasks, placements and expected finish."""
    console = Console()
    if job_id is not None and len(files) > 1:
        raise typer.BadParameter("--id names one job: give one file", param_hint="--id")
    params = parse_params(param)
    if server is not None:
        from render_farm_manager.cli.server import submit_remote

        if plugin_info is not None or farm is not None:
            raise typer.BadParameter("--plugin-info and --farm are for a local farm only")
        options: dict[str, Any] = {"client": client, "deadline": deadline, "hours": hours}
        options |= {"priority": priority, "job_id": job_id}
        submit_remote(console, server, token, files, params, options, show_tasks, as_json)
        return
    if client is None:
        raise typer.BadParameter("name the client the jobs bill", param_hint="--client")
    if farm is not None:
        clock = ManualClock(datetime.now().replace(microsecond=0))
        manager = RenderFarmManager(clock=clock)
        farm_from_file(farm, manager)
    else:
        manager, clock, _ = build_demo_farm(nodes, 0, seed=1)
        clock.set(datetime.now().replace(microsecond=0))
    now = clock.now()
    due = parse_deadline(deadline, now)
    jobs = submit_files(
        console, manager, files, params, plugin_info, now, job_id, client, due, priority, hours
    )
    manager.run_scheduling_cycle()
    statuses = [manager.get_job_status(job.id) or {} for job in jobs]
    if as_json:
        console.print_json(json.dumps(statuses, default=str))
        return
    console.print(jobs_table(statuses))
    for status in statuses:
        if show_tasks and status.get("tasks_total"):
            rows = manager.get_task_statuses(status["id"], limit=show_tasks)
            console.print(tasks_table(status, rows))


def submit_files(
    console: Console,
    manager: RenderFarmManager,
    files: list[Path],
    params: dict[str, str],
    plugin_info: Path | None,
    now: datetime,
    job_id: str | None,
    client: str,
    due: datetime | None,
    priority: JobPriority | None,
    hours: float | None,
) -> list[RenderJob]:
    """Read every file, then submit every job; on the first error nothing is submitted (the
    error is printed and the command exits with status 2)."""
    if client not in manager.clients:
        manager.add_client(Client(id=client, name=client))
    try:
        jobs = [
            load_job_file(file, params, plugin_info).to_job(
                now=now,
                job_id=job_id,
                client_id=client,
                deadline=due,
                priority=priority,
                estimated_duration_hours=hours,
            )
            for file in files
        ]
        for job in jobs:
            manager.submit_job(job)
    except RenderFarmError as error:
        console.print(f"[red]error:[/] {error}")
        console.print("nothing was submitted")
        raise typer.Exit(code=2) from error
    return jobs


def _time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else "-"


def jobs_table(statuses: list[dict[str, Any]], title: str = "Submitted") -> Table:
    """One block per job (fits an 80-column terminal whatever the ids)."""
    table = Table(title=title, title_justify="left", show_header=False, box=None)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for s in statuses:
        tasks = s.get("tasks_by_status", {})
        rows = [
            ("job", s["id"]),
            ("client", s["client_id"]),
            ("status", s["status"]),
            ("frames done", f"{s.get('frames_done', 0)}/{s.get('frames_total', '-')}"),
            ("tasks", ", ".join(f"{n} {state}" for state, n in tasks.items()) or "1"),
            ("due", _time(s["deadline"])),
            ("expected", _time(s["estimated_completion"])),
            ("on time", "yes" if s["will_meet_deadline"] else "no"),
        ]
        if s.get("placement_warning"):
            rows.append(("warning", f"[yellow]{s['placement_warning']}[/]"))
        if s.get("failure_reason"):
            rows.append(("failed", f"[red]{s['failure_reason']}[/]"))
        for field, value in rows:
            table.add_row(field, str(value))
        table.add_row("", "")
    return table


def tasks_table(status: dict[str, Any], rows: list[dict[str, Any]]) -> Table:
    total = status["tasks_total"]
    shown = f" (first {len(rows)})" if len(rows) < total else ""
    table = Table(title=f"{status['id']}: {total} tasks{shown}", title_justify="left")
    for column in ("task", "step", "frames", "status", "node"):
        table.add_column(column, overflow="fold")
    for task in rows:
        table.add_row(
            task["id"].removeprefix(f"{status['id']}/"),
            task["step"],
            task["frames"],
            task["status"],
            task["node"] or "-",
        )
    return table
