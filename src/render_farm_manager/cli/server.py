"""``render-farm serve`` runs the manager as an HTTP service; ``render-farm jobs``, ``job``,
``cancel``, ``nodes``, ``status`` (and ``submit --server``) talk to one through its API."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from render_farm_manager.cli.submit import jobs_table, parse_deadline, tasks_table
from render_farm_manager.core.models import JobPriority, RenderJobStatus
from render_farm_manager.service.client import FarmAPIError, FarmClient
from render_farm_manager.store import DEFAULT_URL

DEFAULT_DB_URL = DEFAULT_URL
"""Where ``serve`` keeps the farm's state unless told otherwise (the store's default)."""
DEFAULT_SERVER = "http://127.0.0.1:8600"
TOKEN_FILE_NAME = "render-farm-tokens.json"
SERVER_ENV = "RENDER_FARM_SERVER"
TOKEN_ENV = "RENDER_FARM_TOKEN"
WEBHOOK_SECRET_ENV = "RENDER_FARM_WEBHOOK_SECRET"

_SERVER = typer.Option(DEFAULT_SERVER, "--server", envvar=SERVER_ENV, help="The service's URL.")
_TOKEN = typer.Option(None, "--token", envvar=TOKEN_ENV, help="API token (client or admin).")
T = TypeVar("T")
_TIMES = (
    "deadline",
    "estimated_completion",
    "submission_time",
    "last_checkpoint_time",
    "last_progressive_output_time",
)


def default_token_file(db_url: str) -> Path:
    """Beside the SQLite database; in the working directory for other stores."""
    if db_url.startswith("sqlite:///"):
        database = Path(db_url.removeprefix("sqlite:///"))
        return database.parent / TOKEN_FILE_NAME
    return Path(TOKEN_FILE_NAME)


def serve(
    db: str | None = typer.Option(
        None,
        "--db",
        help=f"Store URL: sqlite:///FILE, postgresql://..., or memory (default {DEFAULT_DB_URL}).",
    ),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8600, min=1, max=65535, help="Port to listen on."),
    cycle_seconds: float = typer.Option(
        5.0, min=0.05, max=3600, help="Seconds between scheduling cycles (also run on changes)."
    ),
    tokens: Path | None = typer.Option(
        None, "--tokens", help=f"Token file (default: {TOKEN_FILE_NAME} beside the database)."
    ),
    webhook: list[str] = typer.Option(
        [],
        "--webhook",
        help=f"POST job events (submitted, started, preview ready, at risk, completed, failed) "
        f"to this URL, signed with HMAC-SHA256 of ${WEBHOOK_SECRET_ENV} (repeatable).",
    ),
    workers: str | None = typer.Option(
        None,
        "--workers",
        help="Take render nodes (render-farm worker) at this address, e.g. tcp://0.0.0.0:8786 "
        "or tls://... with --tls-*; they render what the manager decides. Without, the "
        "service only decides.",
    ),
    heartbeat_timeout: float = typer.Option(
        30.0, min=1, max=3600, help="Seconds of silence after which a render node is lost."
    ),
    tls_ca: Path | None = typer.Option(None, help="CA certificate (mutual TLS with workers)."),
    tls_cert: Path | None = typer.Option(None, help="The manager's certificate (mutual TLS)."),
    tls_key: Path | None = typer.Option(None, help="The manager's private key (mutual TLS)."),
) -> None:
    """Run the farm manager as an HTTP service (API under /api/v1, /metrics, /health)."""
    from render_farm_manager.service.app import create_app
    from render_farm_manager.service.auth import ADMIN_TOKEN_ENV, TokenFileError, TokenStore
    from render_farm_manager.service.farm import store_opener
    from render_farm_manager.service.server import serve_forever

    console = Console()
    executor = None  # options checked before anything is written or started
    if workers is not None:
        executor = worker_executor(workers, heartbeat_timeout, tls_ca, tls_cert, tls_key)
    secret = os.environ.get(WEBHOOK_SECRET_ENV, "")
    if webhook and not secret:
        raise typer.BadParameter(
            f"--webhook needs a signing secret in ${WEBHOOK_SECRET_ENV}", param_hint="--webhook"
        )
    url = db if db is not None else DEFAULT_DB_URL
    token_file = tokens if tokens is not None else default_token_file(url)
    try:
        store = TokenStore(token_file)
        admin_token = store.ensure_admin(os.environ.get(ADMIN_TOKEN_ENV))
    except TokenFileError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(code=2) from error
    if admin_token is not None:
        console.print(
            f"admin token (shown once, only its hash is kept in {token_file}):\n  {admin_token}"
        )
    opener = store_opener(None if url == "memory" else url)
    if webhook:
        opener = with_webhooks(opener, webhook, secret)
    app = create_app(opener=opener, tokens=store, cycle_seconds=cycle_seconds, executor=executor)
    console.print(f"serving on http://{host}:{port} (state: {url}, tokens: {token_file})")
    if workers is not None:
        console.print(f"render nodes join at {workers} (render-farm worker --manager ...)")
    serve_forever(app, host, port)


def worker_executor(
    address: str,
    heartbeat_timeout: float,
    tls_ca: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> Any:
    """What makes the Dask executor once the farm is open (checked now: a bad option fails
    before anything starts)."""
    from render_farm_manager.cli.worker import tls_options

    security = tls_options(address, tls_ca, tls_cert, tls_key, "scheduler", "--workers")

    def make() -> Any:
        from render_farm_manager.execution.dask_farm import DaskExecutor
        from render_farm_manager.execution.dask_node import quiet_dask_logs

        quiet_dask_logs()
        return DaskExecutor(address, security=security, heartbeat_timeout_seconds=heartbeat_timeout)

    return make


def with_webhooks(opener: Any, urls: list[str], secret: str) -> Any:
    """``opener``, with signed webhooks told of every job event of the manager it opens."""
    from render_farm_manager.hooks import HookDispatcher, WebhookHook

    def open_farm(holder: Any) -> Any:
        manager = opener(holder)
        dispatcher = HookDispatcher([WebhookHook(url, secret) for url in urls])
        dispatcher.attach(manager)
        return manager

    return open_farm


def _client(server: str, token: str | None) -> FarmClient:
    if not token:
        raise typer.BadParameter(
            f"give an API token (--token or {TOKEN_ENV})", param_hint="--token"
        )
    return FarmClient(server, token)


def _fail(console: Console, error: FarmAPIError) -> typer.Exit:
    field = f" (field: {error.field})" if error.field else ""
    console.print(f"[red]error:[/] {error.message}{field}")
    return typer.Exit(code=1)


def _ask(console: Console, server: str, token: str | None, call: Callable[[FarmClient], T]) -> T:
    """``call`` on a client of the service; an API error is printed and ends the command."""
    try:
        with _client(server, token) as farm:
            return call(farm)
    except FarmAPIError as error:
        raise _fail(console, error) from error


def _revive(status: dict[str, Any]) -> dict[str, Any]:
    """Times of a job status as datetimes again (the tables format them)."""
    revived = dict(status)
    for key in _TIMES:
        value = revived.get(key)
        if isinstance(value, str):
            revived[key] = datetime.fromisoformat(value)
    return revived


def _when(value: str | None) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M") if value else "-"


def jobs(
    status: RenderJobStatus | None = typer.Option(None, help="Only jobs in this status."),
    client: str | None = typer.Option(None, "--client", "-c", help="Only this client's jobs."),
    priority: JobPriority | None = typer.Option(None, help="Only jobs of this priority."),
    limit: int = typer.Option(50, min=1, max=1000, help="Jobs shown."),
    offset: int = typer.Option(0, min=0, help="Jobs skipped first."),
    server: str = _SERVER,
    token: str | None = _TOKEN,
) -> None:
    """List the farm's jobs (a client's token: its own)."""
    console = Console()
    page = _ask(
        console,
        server,
        token,
        lambda farm: farm.list_jobs(
            status=status.value if status else None,
            client_id=client,
            priority=priority.value if priority else None,
            limit=limit,
            offset=offset,
        ),
    )
    shown = len(page["jobs"])
    title = f"Jobs {offset + 1}-{offset + shown} of {page['total']}" if shown else "No jobs"
    table = Table(title=title, title_justify="left")
    for column in ("job", "client", "status", "priority", "progress", "deadline", "node"):
        table.add_column(column, overflow="fold")
    for job in page["jobs"]:
        table.add_row(
            job["id"],
            job["client_id"],
            job["status"],
            job["priority"],
            f"{job['progress']:.0f}%",
            _when(job["deadline"]),
            job["assigned_node"] or "-",
        )
    console.print(table)


def job(
    job_id: str = typer.Argument(..., help="The job's id."),
    tasks: int = typer.Option(20, min=0, max=1000, help="Tasks listed (0: none)."),
    server: str = _SERVER,
    token: str | None = _TOKEN,
) -> None:
    """A job's status, with its tasks."""
    console = Console()
    detail = _ask(console, server, token, lambda farm: farm.job(job_id, task_limit=tasks))
    status = _revive(detail["job"])
    console.print(jobs_table([status], title="Job"))
    if tasks and detail["tasks"]:
        console.print(
            tasks_table({**status, "tasks_total": detail["tasks_total"]}, detail["tasks"])
        )


def cancel(
    job_id: str = typer.Argument(..., help="The job's id."),
    server: str = _SERVER,
    token: str | None = _TOKEN,
) -> None:
    """Cancel a job."""
    console = Console()
    status = _ask(console, server, token, lambda farm: farm.cancel_job(job_id))
    console.print(f"job {status['id']}: {status['status']}")


def log(
    job_id: str = typer.Argument(..., help="The job's id."),
    task: str | None = typer.Option(None, "--task", help="One of the shot's tasks."),
    tail_bytes: int = typer.Option(65536, min=1, max=10 * 1024 * 1024, help="Bytes shown."),
    server: str = _SERVER,
    token: str | None = _TOKEN,
) -> None:
    """The output of a job's (or a shot's task's) latest render, from the node it ran on."""
    console = Console()
    text = _ask(
        console, server, token, lambda farm: farm.task_log(job_id, task=task, tail_bytes=tail_bytes)
    )
    typer.echo(text, nl=not text.endswith("\n"))


def nodes(server: str = _SERVER, token: str | None = _TOKEN) -> None:
    """List the farm's nodes."""
    console = Console()
    found = _ask(console, server, token, lambda farm: farm.nodes())
    table = Table(title=f"{len(found)} nodes", title_justify="left")
    for column in ("node", "status", "cpu", "memory GB", "gpus", "job"):
        table.add_column(column, overflow="fold")
    for node in found:
        hardware = node["capabilities"]
        state = node["status"] + (" (draining)" if node.get("draining") else "")
        table.add_row(
            node["id"],
            state,
            str(hardware["cpu_cores"]),
            str(hardware["memory_gb"]),
            str(hardware["gpu_count"]),
            node.get("current_job_id") or "-",
        )
    console.print(table)


def status(server: str = _SERVER, token: str | None = _TOKEN) -> None:
    """The farm's status (admin token) or your client's (client token)."""
    console = Console()
    try:
        with _client(server, token) as farm:
            who = farm.whoami()
            if who["role"] == "admin":
                console.print(_farm_table(farm.farm_status()))
            else:
                console.print(_client_table(farm.client_status(who["client_id"])))
    except FarmAPIError as error:
        raise _fail(console, error) from error


def _farm_table(farm: dict[str, Any]) -> Table:
    table = Table(title="Farm", title_justify="left", show_header=False)
    table.add_column("measure", style="bold")
    table.add_column("value", justify="right")
    metrics = farm["performance_metrics"]
    nodes_by_status = farm["nodes_by_status"]
    rows = [
        ("nodes online", f"{nodes_by_status.get('online', 0)} of {farm['total_nodes']}"),
        *((f"jobs {state}", str(n)) for state, n in farm["jobs_by_status"].items() if n),
        ("waiting units of work", str(farm.get("queue_length", 0))),
        ("cpu in use", f"{farm['compute_resources']['cpu_utilization_percentage']:.0f}%"),
        ("energy mode", farm["current_energy_mode"]),
        ("energy", f"{metrics['energy_usage_kwh']:.1f} kWh, cost {farm.get('energy_cost', 0):.2f}"),
        ("scheduling cycles", str(farm.get("scheduling", {}).get("cycles", "-"))),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def _client_table(client: dict[str, Any]) -> Table:
    table = Table(title=f"Client {client['id']}", title_justify="left", show_header=False)
    table.add_column("measure", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("tier", client["sla_tier"]),
        ("guaranteed", f"{client['guaranteed_resources']:.0f}%"),
        ("ceiling", f"{client['max_resources']:.0f}%"),
        ("using now", f"{client['current_resource_usage']:.0f}%"),
        *((f"jobs {state}", str(n)) for state, n in client["jobs_by_status"].items() if n),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def submit_remote(
    console: Console,
    server: str,
    token: str | None,
    files: list[Path],
    params: dict[str, str],
    options: dict[str, Any],
    show_tasks: int,
    as_json: bool,
) -> None:
    """``render-farm submit --server``: every file is checked by the service (a dry run) before
    any is submitted; one bad file, nothing submitted."""
    import json

    due = parse_deadline(options["deadline"], datetime.now().replace(microsecond=0))
    upload = {
        "client_id": options["client"],
        "parameters": params,
        "deadline": due,
        "priority": options["priority"],
        "job_id": options["job_id"],
        "hours": options["hours"],
    }
    statuses: list[dict[str, Any]] = []
    try:
        with _client(server, token) as farm:
            for file in files:
                _check_file(file)
                try:
                    farm.submit_job_file(file, dry_run=True, **upload)
                except FarmAPIError as error:
                    console.print(f"[red]error:[/] {file}: {error.message}")
                    console.print("nothing was submitted")
                    raise typer.Exit(code=2) from error
            for file in files:
                statuses.append(farm.submit_job_file(file, **upload)["job"])
            details = [farm.job(s["id"], task_limit=show_tasks) for s in statuses]
    except FarmAPIError as error:
        raise _fail(console, error) from error
    if as_json:
        console.print_json(json.dumps([d["job"] for d in details]))
        return
    console.print(jobs_table([_revive(d["job"]) for d in details]))
    for detail in details:
        if show_tasks and detail["tasks"]:
            status = {**detail["job"], "tasks_total": detail["tasks_total"]}
            console.print(tasks_table(status, detail["tasks"]))


def _check_file(file: Path) -> None:
    if not file.is_file():
        raise typer.BadParameter(
            f"{file}: not a file (upload a job template file; bundles are local only)",
            param_hint="FILES",
        )


def register(app: typer.Typer) -> None:
    """Add the service's commands to the ``render-farm`` command."""
    for command in (serve, jobs, job, cancel, log, nodes, status):
        app.command()(command)
