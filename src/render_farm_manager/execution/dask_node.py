"""A machine as a render node of a farm whose manager hosts a Dask scheduler: a Dask worker
named by the node's id, with one unit of the node's own resource (tasks are pinned to it by
that resource, never by address, which changes when a worker reconnects).

The worker advertises the machine (``execution.hardware``) in its registration, so the manager
knows the node whenever it (re)connects. Each task it is given is a
:class:`~render_farm_manager.execution.order.RenderOrder`, rendered by a
:class:`~render_farm_manager.execution.local.LocalExecutor` on this machine (own process group,
own working directory and ``render.log``, renderer adapters); its events stream to the manager
as Dask worker events and come back again with the task's result. When the worker stops or
loses the manager, its renders are killed (the manager requeues their work): a render never
goes on unseen. When the worker dies or hangs, its reaper kills them
(:mod:`~render_farm_manager.execution.reaper`, started by ``render-farm worker``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

from distributed import Worker, WorkerPlugin, get_worker
from distributed.security import Security

from render_farm_manager.execution.events import EventKind, TaskEvent, event_message
from render_farm_manager.execution.local import LocalExecutor, read_task_log_written
from render_farm_manager.execution.order import RenderOrder

PLUGIN_NAME = "render-farm-node"
ADVERT_KEY = "render-farm-node"
"""Key of the node's advert in the worker's startup information."""
EVENT_TOPIC = "render-farm-task"
"""Dask event topic of task events."""
_TERMINAL = (EventKind.FINISHED, EventKind.FAILED)
_log = logging.getLogger(__name__)


def quiet_dask_logs(level: int = logging.WARNING) -> None:
    """Dask's own messages at ``level`` and above only (its INFO lines, with tracebacks of
    every closed connection, drown what the farm says)."""
    logging.getLogger("distributed").setLevel(level)


def node_resource(node_id: str) -> str:
    """The Dask resource only render node ``node_id`` has (one unit)."""
    return f"render-farm-node:{node_id}"


class RenderNodePlugin(WorkerPlugin):
    """The render node inside its Dask worker: runs orders, streams their events."""

    name = PLUGIN_NAME

    def __init__(self, workdir: str | Path, kill_grace_seconds: float = 5.0) -> None:
        self.executor = LocalExecutor(workdir, kill_grace_seconds=kill_grace_seconds)
        self.worker: Worker | None = None
        self._lock = threading.Lock()
        self._pending: defaultdict[str, list[TaskEvent]] = defaultdict(list)
        self._news = threading.Condition()
        self._posted = 0
        """Events the executor has had, so far (a render waits for this to change)."""
        self.executor.watch(self._post)

    def _post(self) -> None:
        with self._news:
            self._posted += 1
            self._news.notify_all()

    def setup(self, worker: Worker) -> None:
        self.worker = worker

    def teardown(self, worker: Worker) -> None:
        self.executor.close()  # the worker stops: its renders stop with it

    def render(self, order: RenderOrder, poll_seconds: float = 0.05) -> list[dict[str, Any]]:
        """Run ``order`` to its end; every event goes out as it happens (the render wakes for
        it; ``poll_seconds`` is how often it looks whether the render ended without one) and
        all of them come back as the result (a message lost on the way is not lost)."""
        self.executor.run_order(order)
        messages: list[dict[str, Any]] = []
        while True:
            with self._news:
                seen = self._posted
            still_running = order.task_id in self.executor.running()
            for event in self._take(order.task_id):
                if event.attempt != order.attempt:
                    continue
                message = event_message(event, len(messages) + 1)
                messages.append(message)
                if self.worker is not None:
                    self.worker.log_event(EVENT_TOPIC, message)
                if event.kind in _TERMINAL:
                    return messages
            if not still_running:  # cancelled, or ended with its last events taken above
                return messages
            with self._news:
                if self._posted == seen:
                    self._news.wait(poll_seconds)

    def cancel(self, task_id: str) -> None:
        """Kill the task's render (in a thread of its own: the kill may wait for a grace
        period, and this is called on the worker's event loop)."""
        threading.Thread(target=self.executor.cancel, args=(task_id,), daemon=True).start()

    def running(self) -> list[str]:
        return sorted(self.executor.running())

    def _take(self, task_id: str) -> list[TaskEvent]:
        with self._lock:
            for event in self.executor.events():
                self._pending[event.task_id].append(event)
            return self._pending.pop(task_id, [])


def render_on_node(order: RenderOrder) -> list[dict[str, Any]]:
    """The Dask task: render ``order`` on the worker it was pinned to."""
    plugin = get_worker().plugins[PLUGIN_NAME]
    assert isinstance(plugin, RenderNodePlugin)
    return plugin.render(order)


async def cancel_on_node(task_id: str, dask_worker: Worker) -> bool:
    """Run on a worker by the manager (``Client.run``, a coroutine so that the manager need
    not wait for it): kill the task's render there."""
    plugin = dask_worker.plugins.get(PLUGIN_NAME)
    if isinstance(plugin, RenderNodePlugin):
        plugin.cancel(task_id)
        return True
    return False


def log_on_node(task_id: str, tail_bytes: int, dask_worker: Worker) -> tuple[str, float] | None:
    """Run on a worker by the manager (``Client.run``): the task's latest log there, with
    when it was last written (seconds since the epoch, the node's clock)."""
    plugin = dask_worker.plugins.get(PLUGIN_NAME)
    if isinstance(plugin, RenderNodePlugin):
        return read_task_log_written(plugin.executor.workdir, task_id, tail_bytes)
    return None


async def run_node(
    manager_address: str,
    advert: dict[str, Any],
    workdir: str | Path,
    *,
    security: Security | None = None,
    stop: asyncio.Event | None = None,
    reconnect_seconds: float = 2.0,
    kill_grace_seconds: float = 5.0,
    heartbeat_seconds: float = 1.0,
    connect_timeout_seconds: float = 30.0,
    on_state: Any = None,
) -> None:
    """Serve as render node ``advert["id"]`` of the manager at ``manager_address`` until
    ``stop`` is set. When the manager goes away (it restarts, the network drops) the worker
    closes, its renders are killed, and a new worker connects as soon as the manager is back."""
    node_id = str(advert["id"])
    stop = stop if stop is not None else asyncio.Event()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    while not stop.is_set():
        plugin = RenderNodePlugin(workdir, kill_grace_seconds=kill_grace_seconds)
        worker = Worker(
            manager_address,
            name=node_id,
            nthreads=2,  # one render; a second thread lets a cancelled one wind down
            resources={node_resource(node_id): 1},
            plugins=(plugin,),
            startup_information={ADVERT_KEY: lambda _worker: advert},
            security=security,
            local_directory=str(workdir / ".dask"),
            memory_limit=0,
            heartbeat_interval=f"{heartbeat_seconds}s",
            dashboard=False,
            death_timeout=connect_timeout_seconds,  # then say so, and try again
        )
        joining = asyncio.ensure_future(_join(worker))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait((joining, stopping), return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            joining.cancel()
            with contextlib.suppress(Exception):
                await worker.close(reason="render node stopped")
            return
        problem = joining.exception()
        if problem is not None:  # not reachable yet, or refused (e.g. the name is taken)
            _log.warning("cannot join the farm at %s: %s", manager_address, problem)
            if on_state is not None:
                on_state("refused", str(problem) or type(problem).__name__)
            with contextlib.suppress(Exception):
                await worker.close()
            stopping.cancel()
            await _wait(stop, reconnect_seconds)
            continue
        if on_state is not None:
            on_state("joined", worker.address)
        finished = asyncio.ensure_future(worker.finished())
        await asyncio.wait((finished, stopping), return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            await worker.close(reason="render node stopped")
            finished.cancel()
            return
        stopping.cancel()
        plugin.executor.close()
        if on_state is not None:
            on_state("lost", manager_address)
        await _wait(stop, reconnect_seconds)


async def _join(worker: Worker) -> None:
    await worker


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
