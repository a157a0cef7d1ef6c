"""``render-farm worker``: make this machine a render node of a farm (a Dask worker of the
manager that ``render-farm serve --workers ADDRESS`` hosts)."""

from __future__ import annotations

import asyncio
import platform
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from render_farm_manager.core.errors import InvalidInputError
from render_farm_manager.execution.hardware import machine_advert, node_from_advert
from render_farm_manager.execution.reaper import DEFAULT_HANG_TIMEOUT

if TYPE_CHECKING:  # distributed and cryptography load only for the commands that need them
    from distributed.security import Security

    from render_farm_manager.execution.tls import Role

MANAGER_ENV = "RENDER_FARM_MANAGER"
DEFAULT_MANAGER = "tcp://127.0.0.1:8786"


def worker(
    manager: str = typer.Option(
        DEFAULT_MANAGER,
        "--manager",
        envvar=MANAGER_ENV,
        help="Where the manager takes workers (serve --workers), tcp:// or tls://.",
    ),
    node_id: str | None = typer.Option(
        None, "--node-id", help="This node's id on the farm (default: the host name)."
    ),
    tag: list[str] = typer.Option([], "--tag", help="What this node is good at (repeatable)."),
    attribute: list[str] = typer.Option(
        [], "--attribute", help="KEY=VALUE a job may require (repeatable)."
    ),
    rating: float = typer.Option(50.0, min=0, max=100, help="Power-efficiency rating 0-100."),
    cores: int | None = typer.Option(None, min=1, help="Cores offered (default: all)."),
    memory_gb: int | None = typer.Option(None, min=1, help="Memory offered (default: all)."),
    workdir: Path = typer.Option(
        Path("farm-work"), help="Where each task gets its directory and render.log."
    ),
    heartbeat_seconds: float = typer.Option(1.0, min=0.1, max=60, help="Heartbeat interval."),
    hang_timeout: float = typer.Option(
        DEFAULT_HANG_TIMEOUT,
        "--hang-timeout",
        min=0,
        help="Seconds this worker may hang (its event loop silent) before its renders are "
        "killed; keep it under the manager's serve --heartbeat-timeout (default 30). "
        "0: never.",
    ),
    tls_ca: Path | None = typer.Option(None, help="CA certificate (mutual TLS)."),
    tls_cert: Path | None = typer.Option(None, help="This node's certificate (mutual TLS)."),
    tls_key: Path | None = typer.Option(None, help="This node's private key (mutual TLS)."),
    verbose: bool = typer.Option(False, "--verbose", help="Show Dask's own log lines."),
) -> None:
    """Render for the farm: join the manager at --manager as a render node, advertising this
    machine's cores, memory, GPUs (nvidia-smi), OS and installed renderers; reconnect when it
    restarts. Ctrl-C stops (renders under way are killed and requeued by the manager). A
    reaper process beside the worker kills its renders when the worker dies or hangs."""
    from render_farm_manager.execution.dask_node import quiet_dask_logs, run_node
    from render_farm_manager.execution.guard import NodeGuard

    if not verbose:
        quiet_dask_logs()
    console = Console()
    identity = node_id or platform.node() or "render-node"
    attributes: dict[str, str] = {}
    for item in attribute:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--attribute")
        attributes[key.strip()] = value.strip()
    advert = machine_advert(
        identity,
        tags=tag,
        attributes=attributes,
        rating=rating,
        cores=cores,
        memory_gb=memory_gb,
    )
    try:
        node = node_from_advert(advert)
    except InvalidInputError as error:
        option = {"power_efficiency_rating": "--rating", "cpu_cores": "--cores"}.get(
            error.field or "", "--node-id"
        )
        raise typer.BadParameter(str(error), param_hint=option) from error
    security = tls_options(manager, tls_ca, tls_cert, tls_key, "worker", "--manager")
    caps = node.capabilities
    gpus = f", {caps.gpu_count} x {caps.gpu_model}" if caps.gpu_count else ""
    console.print(
        f"render node {node.id}: {caps.cpu_cores} cores, {caps.memory_gb} GB{gpus}, "
        f"{caps.os or 'unknown OS'}, renderers: {caps.attributes.get('renderer', 'none found')}"
    )

    def said(state: str, detail: str) -> None:
        if state == "joined":
            console.print(f"joined the farm at {manager} (as {detail})")
        elif state == "lost":
            console.print(f"[yellow]lost the manager at {detail}; reconnecting[/]")
        else:
            console.print(f"[yellow]cannot join {manager}: {detail}; retrying[/]")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        guard = NodeGuard(workdir, hang_timeout)
        guard.start()  # before any render: they all inherit its marker
        beating = asyncio.ensure_future(guard.beat_forever(heartbeat_seconds))
        await run_node(
            manager,
            advert,
            workdir,
            security=security,
            stop=stop,
            heartbeat_seconds=heartbeat_seconds,
            on_state=said,
        )
        beating.cancel()
        guard.stop()  # not on an error: the reaper then sees the worker gone and cleans up

    asyncio.run(main())
    console.print("render node stopped")


def tls_options(
    address: str,
    tls_ca: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    role: Role,
    option: str,
) -> Security | None:
    """Dask's security settings from the ``--tls-*`` options, checked against the address
    (``option`` names it in errors): tls:// needs all three files, tcp:// takes none."""
    from render_farm_manager.execution.tls import TLSFiles, tls_security

    if not address.startswith(("tcp://", "tls://")):
        raise typer.BadParameter("give tcp://HOST:PORT or tls://HOST:PORT", param_hint=option)
    try:
        security = tls_security(TLSFiles.given(tls_ca, tls_cert, tls_key), role=role)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--tls-ca") from error
    if address.startswith("tls://") and security is None:
        raise typer.BadParameter("tls:// needs --tls-ca, --tls-cert and --tls-key")
    if address.startswith("tcp://") and security is not None:
        raise typer.BadParameter("with --tls-* files, use tls://", param_hint=option)
    return security


def certs(
    directory: Path = typer.Argument(..., help="Where the CA and the certificates go."),
    node: list[str] = typer.Option([], "--node", help="A node to make a certificate for."),
    host: list[str] = typer.Option(
        [], "--host", help="The manager's host names or addresses (default: localhost)."
    ),
) -> None:
    """Make the farm's certificate authority (kept if it exists) and certificates for the
    manager and the given nodes, for mutual TLS (serve --tls-*, worker --tls-*)."""
    from render_farm_manager.execution.tls import make_certificates

    console = Console()
    try:
        made = make_certificates(directory, node, host or None)
    except (OSError, ValueError) as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(code=2) from error
    for party, files in made.items():
        console.print(f"{party}: --tls-ca {files.ca} --tls-cert {files.cert} --tls-key {files.key}")
