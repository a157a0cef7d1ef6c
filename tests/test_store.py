"""Durable state: a manager with a store restarts with exactly what it committed, and goes on as
if it had never stopped; what a refused call tried is never stored; a store that fails stops the
manager; only one manager leads a store."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from builders import T0, make_job
from farm_ops import apply, new_farm, operations, state
from pydantic import ValidationError

from render_farm_manager.core.clock import ManualClock
from render_farm_manager.core.errors import (
    DuplicateIdError,
    IllegalTransitionError,
    InvalidInputError,
    StoreError,
    UnknownClientError,
)
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import RenderJobStatus
from render_farm_manager.store import MemoryStore, attach_store, open_manager
from render_farm_manager.store.base import ChangeSet
from render_farm_manager.store.sql import SqlStore, head_revision

S = RenderJobStatus


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'farm.db'}"


def run_with_restart(
    seed: int, cut: int, total: int, open_store, reopen, group_commit: bool | None = None
) -> None:
    """Run ``total`` calls in memory, and the same calls on a manager with a store that is
    closed after ``cut`` of them and reopened: every state on the way is the same."""
    ops = operations(seed, total)
    reference, clock = new_farm()
    stored, stored_clock = new_farm()
    attach_store(stored, open_store(), group_commit=group_commit)
    for op in ops[:cut]:
        assert apply(reference, clock, op) == apply(stored, stored_clock, op)
    stored.close()
    stored_clock = ManualClock(stored_clock.now())
    reopened = reopen(stored_clock)
    assert state(reopened) == state(reference)
    for op in ops[cut:]:
        assert apply(reference, clock, op) == apply(reopened, stored_clock, op)
    assert state(reopened) == state(reference)
    # the audit trail is whole: what the in-memory manager wrote, the store holds
    assert reopened.store is not None
    assert reopened.store.audit_count() == len(reference.audit_logger)
    reopened.close()


@pytest.mark.parametrize("seed,cut", [(3, 150), (7, 40), (11, 230)])
def test_a_restarted_manager_goes_on_exactly_as_one_that_never_stopped(seed, cut):
    store = MemoryStore()
    run_with_restart(
        seed,
        cut,
        260,
        lambda: store,
        lambda clock: attach_store(RenderFarmManager(clock=clock), store),
    )


def test_sqlite_store_restarts_exactly(tmp_path):
    url = sqlite_url(tmp_path)
    run_with_restart(
        5, 120, 200, lambda: SqlStore(url), lambda clock: open_manager(url, clock=clock)
    )
    assert (tmp_path / "farm.db-wal").exists() or (tmp_path / "farm.db").exists()


def test_sqlite_store_with_group_commit_restarts_exactly(tmp_path):
    url = sqlite_url(tmp_path)
    run_with_restart(
        13,
        90,
        150,
        lambda: SqlStore(url),
        lambda clock: open_manager(url, clock=clock),
        group_commit=True,
    )


def test_group_commit_stores_every_acknowledged_change_of_concurrent_callers(tmp_path):
    manager, clock = new_farm()
    store = SqlStore(sqlite_url(tmp_path))
    attach_store(manager, store, group_commit=True)
    errors: list[BaseException] = []

    def submit(worker: int) -> None:
        try:
            for number in range(60):
                manager.submit_job(make_job(f"w{worker}-{number}", now=clock.now()))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=submit, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    committer = manager._path.persist.committer  # type: ignore[union-attr]
    assert committer.written >= 360 and committer.batches <= committer.written
    manager.close()
    again = open_manager(store.url, clock=ManualClock(clock.now()))
    assert {f"w{w}-{n}" for w in range(6) for n in range(60)} <= set(again.jobs)
    again.close()


class FailingBatches(MemoryStore):
    """A store committing batches whose database goes away after ``healthy`` batches."""

    def __init__(self, healthy: int) -> None:
        super().__init__()
        self.healthy = healthy
        self.batches = 0

    def write_many(self, batch: list[ChangeSet]) -> None:
        if self.batches >= self.healthy:
            raise OSError("connection to the database lost")
        self.batches += 1
        for changes in batch:
            self.write(changes)


def test_a_failed_group_commit_stops_the_manager_and_keeps_what_was_committed():
    manager, clock = new_farm()
    store = FailingBatches(healthy=1)
    attach_store(manager, store, group_commit=True)  # the farm: written directly
    manager.submit_job(make_job("a", now=clock.now()))  # batch 1
    with pytest.raises(StoreError, match="could not be stored"):
        manager.submit_job(make_job("b", now=clock.now()))
    with pytest.raises(StoreError, match="reopen"):
        manager.cancel_job("a")
    manager.close()
    reopened = attach_store(RenderFarmManager(clock=ManualClock(clock.now())), store)
    assert set(reopened.jobs) == {"a"}


def test_postgresql_store_restarts_exactly(pg_url):
    run_with_restart(
        9, 100, 180, lambda: SqlStore(pg_url), lambda clock: open_manager(pg_url, clock=clock)
    )


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    store = SqlStore(sqlite_url(tmp_path))
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.close()


def test_a_refused_call_stores_nothing(tmp_path):
    manager, clock = new_farm()
    store = SqlStore(sqlite_url(tmp_path))
    attach_store(manager, store)
    manager.submit_job(make_job("a", now=clock.now()))
    manager.submit_job(make_job("done", now=clock.now()))
    manager.cancel_job("done")
    before = store.counts()
    with pytest.raises(DuplicateIdError):
        manager.submit_job(make_job("a", now=clock.now()))
    with pytest.raises(UnknownClientError):
        manager.submit_job(make_job("b", client="nobody", now=clock.now()))
    with pytest.raises(IllegalTransitionError):
        manager.jobs["done"].status = "running"  # a cancelled job stays cancelled
    with pytest.raises(ValidationError):
        manager.jobs["a"].estimated_duration_hours = -1.0
    assert manager.cancel_job("nothing-by-that-id") is False
    assert store.counts() == before
    manager.close()
    again = open_manager(store.url, clock=ManualClock(clock.now()))
    assert set(again.jobs) == {"a", "done"} and again.jobs["a"].status == S.PENDING
    assert again.jobs["a"].estimated_duration_hours == 2.0
    again.close()


def test_audit_queries_read_the_store(tmp_path):
    url = sqlite_url(tmp_path)
    manager, clock = new_farm()
    attach_store(manager, SqlStore(url))
    manager.submit_job(make_job("a", now=clock.now()))
    manager.submit_job(make_job("b", client="c2", now=clock.now()))
    manager.run_scheduling_cycle()
    clock.advance(timedelta(hours=1))
    manager.complete_job("a")
    manager.close()
    reopened = open_manager(url, clock=ManualClock(clock.now()))
    history = reopened.audit_entries(job_id="a")
    assert history[0].event_type == "job_submitted"
    assert "job_completed" in {e.event_type for e in history}
    assert all(e.job_id == "a" or "a" in e.details.get("job_ids", ()) for e in history)
    assert {e.client_id for e in reopened.audit_entries(client_id="c2")} == {"c2"}
    late = reopened.audit_entries(since=T0 + timedelta(minutes=30))
    assert late and all(e.timestamp >= T0 + timedelta(minutes=30) for e in late)
    assert len(reopened.audit_entries(limit=2, offset=1)) == 2
    everything = reopened.audit_entries(limit=10_000)
    assert reopened.audit_entries(limit=3, offset=2) == everything[2:5]
    reopened.close()


class FailingStore(MemoryStore):
    """A store whose database goes away after ``healthy`` writes."""

    def __init__(self, healthy: int) -> None:
        super().__init__()
        self.healthy = healthy

    def write(self, changes: ChangeSet) -> None:
        if self.writes >= self.healthy:
            raise OSError("connection to the database lost")
        super().write(changes)


def test_a_store_that_fails_stops_the_manager_and_keeps_what_was_committed():
    manager, clock = new_farm()
    store = FailingStore(healthy=2)
    attach_store(manager, store)  # write 1: the farm
    manager.submit_job(make_job("a", now=clock.now()))  # write 2
    with pytest.raises(StoreError, match="could not be stored"):
        manager.submit_job(make_job("b", now=clock.now()))
    with pytest.raises(StoreError, match="reopen"):
        manager.submit_job(make_job("c", now=clock.now()))
    reopened = attach_store(RenderFarmManager(clock=ManualClock(clock.now())), store)
    assert set(reopened.jobs) == {"a"}


def test_a_store_and_a_manager_both_holding_a_farm_are_refused(tmp_path):
    url = sqlite_url(tmp_path)
    first, _ = new_farm()
    attach_store(first, SqlStore(url))
    first.close()
    second, _ = new_farm()
    store = SqlStore(url)
    with pytest.raises(StoreError, match="both"):
        attach_store(second, store)
    store.close()


def test_work_no_longer_running_after_a_restart_is_requeued_keeping_its_frames(tmp_path):
    url = sqlite_url(tmp_path)
    manager, clock = new_farm()
    attach_store(manager, SqlStore(url))
    manager.submit_job(
        make_job(
            "shot", now=clock.now(), frames="1-40", chunk_size=4, hours=8.0, preview_first=False
        )
    )
    manager.run_scheduling_cycle()
    first, second = manager.tasks_of("shot")[:2]
    assert first.status == S.RUNNING and second.status == S.RUNNING
    assert first.task_frames == [1, 2, 3, 4]
    manager.report_frames_done(first.id, [1, 2])
    node_of_second = second.assigned_node_id
    on_nodes = {t.id: t.assigned_node_id for t in manager.tasks_of("shot") if t.status == S.RUNNING}
    manager.close()
    reopened = open_manager(url, clock=ManualClock(clock.now()))
    del on_nodes[first.id]  # its worker restarted meanwhile: it runs nothing
    requeued = reopened.requeue_lost_work(on_nodes)
    assert requeued == [first.id]
    task = reopened.jobs[first.id]
    assert task.status == S.QUEUED and task.frames_done == [1, 2] and task.error_count == 0
    assert reopened.jobs[second.id].status == S.RUNNING
    assert reopened.nodes[node_of_second].current_job_id == second.id
    assert reopened.get_job_status("shot")["frames_done"] == 2
    reopened.close()
    again = open_manager(url, clock=ManualClock(clock.now()))
    assert again.jobs[first.id].status == S.QUEUED  # the requeue itself was stored
    with pytest.raises(Exception, match="still_running"):
        again.requeue_lost_work(["not", "a", "mapping"])  # type: ignore[arg-type]
    again.close()


# -- migrations --------------------------------------------------------------------------------


def check_migrations(url: str) -> None:
    store = SqlStore(url)
    assert store.revision() == head_revision()
    store.downgrade("0001")
    assert store.revision() == "0001"
    store.downgrade("base")
    assert store.revision() is None
    store.close()
    with pytest.raises(StoreError, match="schema"):
        SqlStore(url, migrate=False)
    store = SqlStore(url, migrate=False, lead=True) if False else SqlStore(url)
    assert store.revision() == head_revision()
    manager, _ = new_farm()
    attach_store(manager, store)
    manager.close()


def test_migrations_go_up_and_down_on_sqlite(tmp_path):
    check_migrations(sqlite_url(tmp_path))


def test_migrations_go_up_and_down_on_postgresql(pg_url):
    check_migrations(pg_url)


# -- leadership --------------------------------------------------------------------------------


def test_one_manager_leads_a_sqlite_store_at_a_time(tmp_path):
    url = sqlite_url(tmp_path)
    leader = open_manager(url)
    with pytest.raises(StoreError, match="leadership"):
        open_manager(url, lead_timeout=0.3)
    leader.close()
    follower = open_manager(url, lead_timeout=2)
    follower.close()


HOLDER = textwrap.dedent(
    """
    import sys, time
    from render_farm_manager.store import open_manager
    manager = open_manager(sys.argv[1])
    print("leader", flush=True)
    time.sleep(600)
    """
)


def test_a_standby_postgresql_manager_takes_over_when_the_leader_dies(pg_url):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, pg_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "leader"
        with pytest.raises(StoreError, match="leadership"):
            open_manager(pg_url, lead_timeout=0.5)
        waits: list[str] = []
        holder.kill()  # SIGKILL: no goodbye; the server ends its session and the lock with it
        started = time.monotonic()
        standby = open_manager(pg_url, lead_timeout=20, on_wait=waits.append)
        assert time.monotonic() - started < 20
        standby.add_client(make_job_client("c9"))
        standby.close()
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def make_job_client(client_id: str):
    from builders import make_client

    return make_client(client_id)


def test_a_manager_that_lost_its_postgresql_session_cannot_write(pg_url):
    manager, clock = new_farm()
    store = SqlStore(pg_url)
    attach_store(manager, store)
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as admin:  # the leader's session is cut
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        )
    with pytest.raises(StoreError):
        manager.submit_job(make_job("a", now=clock.now()))
    manager.close()
    other = open_manager(pg_url, lead_timeout=5)
    assert "a" not in other.jobs
    other.close()


def test_a_new_tariff_is_kept_across_a_restart(tmp_path):
    from datetime import time as day_time

    from render_farm_manager.energy_optimization.tariff import TariffPeriod, TimeOfUseTariff

    url = sqlite_url(tmp_path)
    manager, clock = new_farm()
    attach_store(manager, SqlStore(url))
    noon = T0.replace(hour=12)
    price_before = manager.energy_optimizer.get_time_of_day_energy_price(noon)
    version = manager.state_version
    with pytest.raises(InvalidInputError, match="TimeOfUseTariff"):
        manager.set_energy_tariff({"07:00": 0.3})  # type: ignore[arg-type]
    assert manager.energy_optimizer.get_time_of_day_energy_price(noon) == price_before
    assert manager.state_version == version
    manager.set_energy_tariff(
        TimeOfUseTariff([TariffPeriod(day_time(7), day_time(21), 0.31)], default_price=0.09)
    )
    manager.close()
    again = open_manager(url, clock=ManualClock(clock.now()))
    assert again.energy_optimizer.get_time_of_day_energy_price(T0.replace(hour=12)) == 0.31
    assert again.energy_optimizer.get_time_of_day_energy_price(T0.replace(hour=23)) == 0.09
    again.close()


def test_bad_audit_queries_and_listeners_are_refused_naming_the_argument():
    manager, clock = new_farm()
    for bad in ({"limit": 0}, {"limit": 10_001}, {"offset": -1}, {"job_id": ""}):
        with pytest.raises(InvalidInputError) as refused:
            manager.audit_entries(**bad)
        assert refused.value.field == next(iter(bad))
    with pytest.raises(InvalidInputError, match="datetime"):
        manager.audit_entries(since="yesterday")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="callable"):
        manager.add_change_listener("not a function")  # type: ignore[arg-type]
    heard: list = []
    manager.add_change_listener(heard.append)
    manager.submit_job(make_job("a", now=clock.now()))
    assert heard and heard[-1][0].event_type == "job_submitted"
    assert manager.remove_change_listener(heard.append) is True
    assert manager.remove_change_listener(heard.append) is False
