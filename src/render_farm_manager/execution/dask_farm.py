"""Render nodes on other machines: the manager hosts a Dask distributed scheduler in-process
and each render node is a Dask worker (``render-farm worker``, see
:mod:`~render_farm_manager.execution.dask_node`).

What the engine leaves open is closed here:

* **Pinning.** A task goes to the node the manager chose through that node's own resource
  (``render-farm-node:<id>``), which survives the worker reconnecting with a new address.
* **Cancelling** a Dask future does not stop a running render: the render's process group is
  killed on its node first, then the future is cancelled.
* **A lost worker** leaves a task pinned to it waiting forever: the scheduler's removal of the
  worker becomes a ``node_lost`` event at once (its tasks are requeued by the manager), and the
  futures are cancelled. A silent worker is removed after ``heartbeat_timeout_seconds``.
* **Nodes join by connecting**: a worker's registration carries its advert (hardware,
  renderers, tags), which becomes a ``node_joined`` event (the manager adds the node or brings
  it back online).

Events of a render stream in as Dask worker events and come again with the task's result;
each counts once (by its sequence number in the run), so none is lost if a stream message is.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dask.config
from distributed import Client, Future, Scheduler, SchedulerPlugin
from distributed.comm.addressing import parse_address, parse_host_port
from distributed.security import Security

from render_farm_manager.core.models import RenderFailure, RenderJob
from render_farm_manager.execution.dask_node import (
    ADVERT_KEY,
    EVENT_TOPIC,
    cancel_on_node,
    log_on_node,
    node_resource,
    render_on_node,
)
from render_farm_manager.execution.events import EventKind, TaskEvent, event_from_message
from render_farm_manager.execution.executor import Executor
from render_farm_manager.execution.order import render_order

DEFAULT_ADDRESS = "tcp://127.0.0.1:8786"
SCHEDULER_CONFIG = {
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.system-monitor.disk": False,
    "distributed.scheduler.work-stealing": False,
}
"""The hosted scheduler's housekeeping, kept to what a farm's manager needs: its event loop's
health checked twice a second (not fifty times), this process's resources sampled every five
seconds for its diagnostics (not every half second, and not the disks), and no work stealing
(every render is pinned to its node). Dask's defaults cost the manager a share of a core that
grows with wall time rather than with the work done."""


@dataclass
class _Remote:
    node_id: str
    attempt: int
    future: Future[Any]
    seen: int = 0
    """The last event (by its sequence number) taken from this run."""


class _FarmPlugin(SchedulerPlugin):
    """Inside the scheduler (its event loop): forwards worker arrivals, departures and task
    events to the executor's inbox (and says so: ``posted``), doing nothing else there."""

    name = "render-farm-manager"

    def __init__(
        self, inbox: queue.SimpleQueue[tuple[Any, ...]], posted: Callable[[], None]
    ) -> None:
        self.inbox = inbox
        self.posted = posted

    def add_worker(self, scheduler: Scheduler, worker: str) -> None:
        state = scheduler.workers.get(worker)
        if state is not None:
            self.inbox.put(("joined", worker, str(state.name), state.extra.get(ADVERT_KEY)))
            self.posted()

    def remove_worker(
        self, scheduler: Scheduler, worker: str, *, stimulus_id: str, **kwargs: Any
    ) -> None:
        self.inbox.put(("left", worker, stimulus_id))
        self.posted()

    def log_event(self, topic: str, msg: Any) -> None:
        if topic == EVENT_TOPIC and isinstance(msg, dict):
            self.inbox.put(("event", msg))
            self.posted()


class DaskExecutor(Executor):
    """Renders on Dask workers; the Dask scheduler runs in this process on its own thread.

    ``address``: where workers connect (``tcp://0.0.0.0:8786``; port 0 picks a free one,
    ``tls://`` with ``security`` for mutual TLS)."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        security: Security | None = None,
        heartbeat_timeout_seconds: float = 30.0,
        start_timeout_seconds: float = 30.0,
    ) -> None:
        protocol, location = parse_address(address)
        host, port = parse_host_port(location)
        if not heartbeat_timeout_seconds > 0:
            raise ValueError("heartbeat_timeout_seconds must be positive")
        self._inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._protocol, self._host, self._port = protocol, host, port
        self._security = security
        self._ttl = heartbeat_timeout_seconds
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._scheduler: Scheduler | None = None
        self._runs: dict[str, _Remote] = {}
        self._attempts = itertools.count(1)
        self._ran: set[str] = set()
        self._node_of: dict[str, str] = {}
        """Worker address → node id, for the workers connected now."""
        self._address_of: dict[str, str] = {}
        """Node id → the address of its worker."""
        self._out: list[TaskEvent] = []
        self._ran_on: dict[str, str] = {}
        """Task id → the node its latest render was sent to (where its log is)."""
        self._lock = threading.Lock()
        self._closed = False
        self._wake: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._serve, name="dask-scheduler", daemon=True)
        self._thread.start()
        if not self._ready.wait(start_timeout_seconds) or self._scheduler is None:
            raise RuntimeError(f"the Dask scheduler did not start at {address}: {self._failure}")
        self.address = self._contact_address()
        self.client: Client = Client(
            self.address, security=security, set_as_default=False, timeout=start_timeout_seconds
        )

    # -- the scheduler's thread ----------------------------------------------------------------

    def _serve(self) -> None:
        try:
            asyncio.run(self._host_scheduler())
        except BaseException as error:  # reported by __init__ when it never became ready
            self._failure = error
            self._ready.set()

    async def _host_scheduler(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        with dask.config.set(SCHEDULER_CONFIG):  # read as the scheduler is made and started
            scheduler = Scheduler(
                host=self._host,
                port=self._port,
                protocol=self._protocol,
                security=self._security,
                worker_ttl=self._ttl,
                dashboard=False,
                plugins=[_FarmPlugin(self._inbox, self._posted)],
            )
            await scheduler
        self._scheduler = scheduler
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await scheduler.close()

    def _contact_address(self) -> str:
        assert self._scheduler is not None
        port = self._scheduler.port
        host = self._host if self._host not in ("", "0.0.0.0", "::") else "127.0.0.1"
        return f"{self._protocol}://{host}:{port}"

    @property
    def port(self) -> int:
        assert self._scheduler is not None
        return int(self._scheduler.port)

    # -- the interface -------------------------------------------------------------------------

    def start(self, task: RenderJob, node_id: str, job: RenderJob | None = None) -> int:
        with self._lock:
            if task.id in self._runs:
                raise RuntimeError(f"task {task.id!r} is already running")
            attempt: int = next(self._attempts)
            resume = task.id in self._ran
            self._ran.add(task.id)
            if node_id not in self._address_of:  # its worker is gone: say so at once
                self._out.append(
                    TaskEvent(
                        EventKind.NODE_LOST,
                        task.id,
                        node_id,
                        attempt,
                        error=f"the worker of node {node_id} is not connected",
                    )
                )
                self._posted()
                return attempt
            order = render_order(task, node_id, attempt, resume, job)
            key = f"render-{re.sub(r'[^A-Za-z0-9._-]+', '_', task.id)}-{uuid.uuid4().hex[:8]}"
            future = self.client.submit(
                render_on_node,
                order,
                key=key,
                resources={node_resource(node_id): 1},
                pure=False,
            )
            self._runs[task.id] = _Remote(node_id, attempt, future)
            self._ran_on[task.id] = node_id
        future.add_done_callback(lambda _future: self._posted())  # its result is news
        return attempt

    def cancel(self, task_id: str) -> None:
        with self._lock:
            run = self._runs.pop(task_id, None)
            address = self._address_of.get(run.node_id) if run is not None else None
        if run is None:
            return
        if address is not None and self._connected(address):  # kill the render first:
            with contextlib.suppress(Exception):  # cancelling the future does not
                self.client.run(cancel_on_node, task_id, workers=[address], wait=False)
        run.future.cancel()

    def running(self) -> dict[str, str]:
        with self._lock:
            return {task_id: run.node_id for task_id, run in self._runs.items()}

    def task_log(self, task_id: str, tail_bytes: int = 65536) -> str | None:
        """Read on the node the task last ran on. When that is not known here (the manager
        restarted since) or that node has no log of it (or is not connected), every connected
        node is asked and the log written last is taken. None when no node has one."""
        with self._lock:
            node_id = self._ran_on.get(task_id)
            address = self._address_of.get(node_id) if node_id is not None else None
        if address is not None and self._connected(address):
            found = self._logs_on(task_id, tail_bytes, [address])
            if found:
                return found[0][0]
        found = self._logs_on(task_id, tail_bytes, None)  # the workers connected now
        return max(found, key=lambda log: log[1])[0] if found else None

    def _connected(self, address: str) -> bool:
        """Whether the scheduler has the worker at ``address`` now (it may know of a worker's
        end before :meth:`events` does). A message to one it has not would wait for the
        connect timeout (30 s) before it failed."""
        scheduler = self._scheduler
        return scheduler is not None and address in scheduler.workers

    def _logs_on(
        self, task_id: str, tail_bytes: int, addresses: list[str] | None
    ) -> list[tuple[str, float]]:
        """The task's logs on the workers at ``addresses`` (None: on every worker the
        scheduler has), with when each was written (a worker that went meanwhile, or failed
        to answer, has none)."""
        try:
            answers = self.client.run(
                log_on_node, task_id, tail_bytes, workers=addresses, on_error="return"
            )
        except Exception:  # every worker went meanwhile
            return []
        found = []
        for answer in answers.values():
            if isinstance(answer, (tuple, list)) and len(answer) == 2:
                text, written = answer
                if isinstance(text, str) and isinstance(written, (int, float)):
                    found.append((text, float(written)))
        return found

    def watch(self, wake: Callable[[], None] | None) -> bool:
        self._wake = wake
        return True

    def _posted(self) -> None:
        """Something for :meth:`events` came in (on the scheduler's thread, the client's, or
        the caller's)."""
        wake = self._wake
        if wake is not None:
            wake()

    def connected_nodes(self) -> set[str] | None:
        with self._lock:
            return set(self._address_of)

    def events(self) -> list[TaskEvent]:
        with self._lock:
            while True:
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    break
                self._take(item)
            for task_id, run in list(self._runs.items()):
                if run.future.done():
                    self._settle(task_id, run)
            out, self._out = self._out, []
            return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task_id in list(self.running()):
            self.cancel(task_id)
        try:
            self.client.close()
        finally:
            if self._loop is not None and self._stop is not None:
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(30)

    # -- what comes in -------------------------------------------------------------------------

    def _take(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "event":
            self._message(item[1])
        elif kind == "joined":
            _, address, node_id, advert = item
            self._node_of[address] = node_id
            self._address_of[node_id] = address
            node = advert if isinstance(advert, dict) else {"id": node_id}
            self._out.append(TaskEvent(EventKind.NODE_JOINED, "", node_id, 0, node=node))
        elif kind == "left":
            _, address, why = item
            node_id = self._node_of.pop(address, None)
            if node_id is None or self._address_of.get(node_id) != address:
                return
            del self._address_of[node_id]
            self._lose(node_id, f"the worker of node {node_id} left the farm ({why})")

    def _lose(self, node_id: str, error: str) -> None:
        lost = [(task_id, run) for task_id, run in self._runs.items() if run.node_id == node_id]
        for task_id, run in lost:
            del self._runs[task_id]
            run.future.cancel()
            self._out.append(
                TaskEvent(EventKind.NODE_LOST, task_id, node_id, run.attempt, error=error)
            )
        if not lost:
            self._out.append(TaskEvent(EventKind.NODE_LOST, "", node_id, 0, error=error))

    def _message(self, message: dict[str, Any]) -> None:
        task_id = message.get("task_id")
        run = self._runs.get(task_id) if isinstance(task_id, str) else None
        seq = message.get("seq")
        if run is None or message.get("attempt") != run.attempt or not isinstance(seq, int):
            return  # from a render stopped since
        if seq <= run.seen:
            return  # had it already
        run.seen = seq
        try:
            event = event_from_message(message)
        except (KeyError, TypeError, ValueError):
            return
        if event.kind in (EventKind.FINISHED, EventKind.FAILED):
            del self._runs[event.task_id]
        self._out.append(event)

    def _settle(self, task_id: str, run: _Remote) -> None:
        """The run's Dask task ended: take the events it returned that had not come in."""
        error: str | None = None
        try:
            if run.future.status == "finished":
                for message in run.future.result(timeout=10):
                    self._message(message)
            else:
                exception = run.future.exception(timeout=10)
                error = f"{type(exception).__name__}: {exception}"
        except Exception as failure:  # the result is gone with its worker
            error = f"the render's result was lost: {failure}"
        if self._runs.get(task_id) is run:  # it ended without saying how
            del self._runs[task_id]
            self._out.append(
                TaskEvent(
                    EventKind.FAILED,
                    task_id,
                    run.node_id,
                    run.attempt,
                    error=error or "the render stopped before it finished",
                    failure=RenderFailure.NODE,
                )
            )
        run.future.release()
