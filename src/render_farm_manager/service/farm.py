"""The service's hold on the manager: opened in the background at start-up, ready or not.

Endpoints answer 503 until the manager is open (``starting``: loading the store;
``standby``: another manager holds the scheduling leadership of the database).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Literal

from render_farm_manager.core.manager import RenderFarmManager

_log = logging.getLogger(__name__)

FarmState = Literal["starting", "standby", "ready", "failed", "stopped"]
Opener = Callable[["FarmHolder"], RenderFarmManager]
"""Opens the manager; may call ``holder.standby(reason)`` while it waits for leadership."""


class FarmHolder:
    def __init__(self) -> None:
        self.state: FarmState = "starting"
        self.detail = "opening the farm's state"
        self.manager: RenderFarmManager | None = None
        self.storage = "opened by the embedding code"
        """Where the farm's state lives (as /health tells it)."""
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def open_in_background(
        self, opener: Opener, on_ready: Callable[[RenderFarmManager], None]
    ) -> None:
        def run() -> None:
            try:
                manager = opener(self)
                on_ready(manager)
            except Exception as error:  # reported through /health, the service stays up
                _log.exception("the farm could not be opened")
                self.state = "failed"
                self.detail = f"{type(error).__name__}: {error}"
                return
            self.manager = manager
            self.state = "ready"
            self.detail = "scheduling"
            self._ready.set()

        self._thread = threading.Thread(target=run, name="render-farm-open", daemon=True)
        self._thread.start()

    def standby(self, reason: str = "another manager is the leader") -> None:
        """Called by the opener while it waits to become the scheduling leader."""
        self.state = "standby"
        self.detail = reason

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def stop(self) -> None:
        manager, self.manager = self.manager, None
        self.state = "stopped"
        self.detail = "the service is stopping"
        self._ready.clear()
        close = getattr(manager, "close", None)
        if callable(close):
            close()


def store_opener(url: str | None, **options: Any) -> Opener:
    """Open the manager of the store at ``url`` (None: memory only) through
    :func:`render_farm_manager.store.open_manager`, telling the holder while it waits to be
    the leader of that store."""

    def open_farm(holder: FarmHolder) -> RenderFarmManager:
        from render_farm_manager.store import open_manager

        holder.storage = url or "memory"
        return open_manager(url, on_wait=holder.standby, **options)

    return open_farm
