"""The FastAPI application: ``create_app(...)`` wires the routes, the tokens, the metrics and
the scheduling loop around a manager opened in the background at start-up."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.execution.executor import Executor
from render_farm_manager.execution.runner import FarmRunner
from render_farm_manager.jobs.loader import MAX_JOB_FILE_BYTES
from render_farm_manager.service.auth import TokenStore
from render_farm_manager.service.deps import ServiceContext
from render_farm_manager.service.errors import install_error_handlers
from render_farm_manager.service.farm import FarmHolder, Opener, store_opener
from render_farm_manager.service.loop import SchedulingLoop
from render_farm_manager.service.metrics import ServiceMetrics
from render_farm_manager.service.routes import audit, clients, farm, job_files, jobs, nodes
from render_farm_manager.service.schemas import ErrorBody

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 1024 * 1024
"""Largest request body but for job files (``MAX_JOB_FILE_BYTES``)."""


REQUEST_THREADS = 4
"""Threads serving requests (the default, 40, thrashes on the manager's lock)."""


def create_app(
    *,
    opener: Opener | None = None,
    db_url: str | None = None,
    tokens: TokenStore | None = None,
    cycle_seconds: float = 5.0,
    run_loop: bool = True,
    executor: Callable[[], Executor] | None = None,
) -> FastAPI:
    """The service. The manager comes from ``opener`` (default: the store at ``db_url``, in
    memory when None), opened in a background thread when the app starts; until it is open,
    endpoints answer 503. ``run_loop=False`` leaves scheduling to the caller (tests).
    ``executor`` makes the executor whose nodes render what the manager decides (e.g. a
    ``DaskExecutor`` that render nodes join); without, the service only decides."""
    if not cycle_seconds > 0:
        raise ValueError(f"cycle_seconds must be positive, got {cycle_seconds}")
    holder = FarmHolder()
    service = ServiceContext(
        holder=holder,
        tokens=tokens if tokens is not None else TokenStore(None),
        metrics=ServiceMetrics(holder),
        cycle_seconds=cycle_seconds,
        run_loop=run_loop,
    )
    open_farm = opener if opener is not None else store_opener(db_url)

    def ready(manager: RenderFarmManager) -> None:
        if service.run_loop:
            runner = FarmRunner(manager, executor(), cycle_seconds) if executor else None
            loop = SchedulingLoop(
                manager, cycle_seconds, on_cycle=service.metrics.observe_cycle, runner=runner
            )
            loop.start()
            service.loop = loop

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Every request that touches the farm takes the manager's one lock: more threads than
        # a few only fight over it (and over the interpreter), and throughput collapses under
        # a hundred concurrent readers. A few threads keep the lock busy and the queue short.
        anyio.to_thread.current_default_thread_limiter().total_tokens = REQUEST_THREADS
        holder.open_in_background(open_farm, ready)
        try:
            yield
        finally:
            if service.loop is not None:
                service.loop.stop()
            holder.stop()

    app = FastAPI(
        title="Render farm manager",
        version="1",
        description=(
            "Jobs, nodes, clients, energy and audit of a render farm. Every endpoint under "
            f"{API_PREFIX} needs an API token (`Authorization: Bearer ...`): a client's token "
            "sees and changes only its own client's jobs (another client's job answers 404), "
            "admin-only endpoints answer 403 to it. Errors are JSON: `error`, `message`, and "
            "`field` for invalid input (422)."
        ),
        lifespan=lifespan,
        responses={
            401: {"model": ErrorBody, "description": "no valid token"},
            422: {"model": ErrorBody, "description": "invalid input (names the field)"},
            503: {"model": ErrorBody, "description": "the manager is not open yet"},
        },
    )
    app.state.service = service
    install_error_handlers(app)
    for module in (jobs, job_files, nodes, clients, farm, audit):
        app.include_router(
            module.router,
            prefix=API_PREFIX,
            responses={
                403: {"model": ErrorBody, "description": "admin only"},
                404: {"model": ErrorBody, "description": "unknown, or not the caller's"},
                409: {"model": ErrorBody, "description": "conflicts with the farm's state"},
            },
        )
    app.include_router(farm.public)
    app.add_middleware(
        BodyLimit, default=MAX_BODY_BYTES, larger={f"{API_PREFIX}/jobs/file": MAX_JOB_FILE_BYTES}
    )
    return app


class BodyLimit:
    """Refuses request bodies above a size (413) before an endpoint reads them whole."""

    def __init__(self, app: ASGIApp, default: int, larger: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.larger = larger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.default)
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(send, limit)
            return
        received = 0
        too_large = False
        answered = False

        async def counted() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLargeError  # the endpoint never sees a truncated body
            return message

        async def answer(message: Message) -> None:
            nonlocal answered
            if not too_large:
                await send(message)
            elif not answered:  # whatever the endpoint made of the failed read
                answered = True
                await _refuse(send, limit)

        try:
            await self.app(scope, counted, answer)
        except _BodyTooLargeError:
            if not answered:
                answered = True
                await _refuse(send, limit)


class _BodyTooLargeError(Exception):
    """The request body went past the limit while it was being read."""


async def _refuse(send: Send, limit: int) -> None:
    body: dict[str, Any] = {
        "error": "too_large",
        "message": f"the request body is larger than {limit} bytes",
        "field": "body",
        "errors": [],
    }
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
