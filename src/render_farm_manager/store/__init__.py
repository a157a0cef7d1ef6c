"""Durable state. A manager keeps its state in memory and, with a store, writes every committed
change through to it (one transaction per change set); opened again on the same store, it
restarts with exactly what was committed.

``open_manager("sqlite:///farm.db")`` (the embedded default of ``render-farm serve``) or
``open_manager("postgresql://host/db")``; ``open_manager()`` keeps everything in memory (the
library's and the simulator's default, as fast as ever).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from render_farm_manager.core.errors import StoreError
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.store.base import ChangeSet, Snapshot, Store
from render_farm_manager.store.committer import Committer
from render_farm_manager.store.memory import MemoryStore
from render_farm_manager.store.restore import restore
from render_farm_manager.store.writer import WriteThrough

DEFAULT_URL = "sqlite:///render-farm.db"


def attach_store(
    manager: RenderFarmManager, store: Store, *, group_commit: bool | None = None
) -> RenderFarmManager:
    """Make ``store`` the manager's store: a manager that is empty takes what the store holds;
    a store that is empty takes what the manager holds. Both holding state is refused.

    With ``group_commit`` (and a store that commits several change sets at once, as the SQL
    store does), change sets are committed by a thread of their own, as many together as have
    queued up; every call still returns only once its change is stored. By default it is on
    where a commit is expensive (PostgreSQL waits for its log to reach the disk), off where it
    is not (SQLite in WAL mode: handing over would cost more than the commit)."""
    path = manager._path
    with path.lock:
        if path.store is not None:
            raise StoreError("this manager already has a store")
        snapshot = store.load()
        stored = bool(snapshot.clients or snapshot.nodes or snapshot.jobs)
        held = bool(path.clients or path.nodes or path.jobs)
        if stored and held:
            raise StoreError(
                "both the manager and the store hold a farm: attach a store to an empty "
                "manager (to load it) or an empty store to a manager (to save it)"
            )
        if stored:
            restore(manager, snapshot)
        writer = WriteThrough(manager, store)
        if held:
            store.write(writer.everything())
        if group_commit is None:
            group_commit = getattr(store, "dialect", None) == "postgresql"
        if group_commit and type(store).write_many is not Store.write_many:
            writer.committer = Committer(store)
        path.store = store
        path.persist = writer
        return manager


def open_manager(
    url: str | None = None,
    *,
    migrate: bool = True,
    lead_timeout: float | None = None,
    on_wait: Callable[[str], None] | None = None,
    **manager_options: Any,
) -> RenderFarmManager:
    """A manager whose state lives in the store at ``url`` (``sqlite:///farm.db``,
    ``postgresql://host/db``), loaded from what the store committed; ``None`` or ``"memory"``
    keeps the state in memory only. Waits until this process is the leader of that store (one
    manager writes a store at a time; ``lead_timeout`` seconds at most, None: as long as it
    takes). ``manager_options`` go to :class:`RenderFarmManager`."""
    if url is None or url == "memory":
        return RenderFarmManager(**manager_options)
    from render_farm_manager.store.sql import SqlStore

    store = SqlStore(url, migrate=migrate, lead_timeout=lead_timeout, on_wait=on_wait)
    try:
        return attach_store(RenderFarmManager(**manager_options), store)
    except BaseException:
        store.close()
        raise


__all__ = [
    "DEFAULT_URL",
    "ChangeSet",
    "MemoryStore",
    "Snapshot",
    "Store",
    "StoreError",
    "attach_store",
    "open_manager",
]
