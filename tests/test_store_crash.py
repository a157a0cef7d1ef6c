"""A manager killed with SIGKILL at any instant restarts with exactly what it had committed:
nothing acknowledged is lost, nothing is half applied.

A child process runs a deterministic workload against a store and acknowledges each call after
it returned; the test kills it at a random instant, reopens the store and compares the state
with the in-memory reference after the acknowledged calls (or after one more: the call in
flight may have committed before its acknowledgement was written)."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from datetime import datetime

import pytest
from farm_ops import apply, fingerprint, new_farm, operations

from render_farm_manager.core.clock import ManualClock
from render_farm_manager.store import attach_store, open_manager
from render_farm_manager.store.sql import SqlStore

pytestmark = [pytest.mark.e2e, pytest.mark.untraced]

CALLS = 400


Reference = tuple[list[str], list[int], list[datetime]]


def reference(seed: int) -> Reference:
    """Fingerprint, audit length and time after each number of calls (index 0: the farm
    alone)."""
    manager, clock = new_farm()
    prints, audits, times = [fingerprint(manager)], [len(manager.audit_logger)], [clock.now()]
    for op in operations(seed, CALLS):
        apply(manager, clock, op)
        prints.append(fingerprint(manager))
        audits.append(len(manager.audit_logger))
        times.append(clock.now())
    return prints, audits, times


def workload(url: str, seed: int, acks: int) -> None:
    manager, clock = new_farm()
    attach_store(manager, SqlStore(url))
    os.write(acks, b"0\n")
    for number, op in enumerate(operations(seed, CALLS), start=1):
        apply(manager, clock, op)
        os.write(acks, f"{number}\n".encode())
    time.sleep(600)


def crash_and_check(
    url: str, seed: int, expected: Reference, delay: float, after_farm: bool = False
) -> int | None:
    """Kill the workload ``delay`` seconds after it started (``after_farm``: after it
    acknowledged its farm, so that the kill lands among the calls however long the farm and
    the schema took to set up), then check what a restart finds."""
    prints, audits, times = expected
    read_end, write_end = os.pipe()
    context = multiprocessing.get_context("fork")
    child = context.Process(target=workload, args=(url, seed, write_end), daemon=True)
    child.start()
    os.close(write_end)
    chunks = []
    if after_farm:
        while b"\n" not in b"".join(chunks) and (chunk := os.read(read_end, 65536)):
            chunks.append(chunk)
    time.sleep(delay)
    os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
    child.join()
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    lines = b"".join(chunks).split()
    acked = int(lines[-1]) if lines else None
    clock = ManualClock(times[0])
    manager = open_manager(url, clock=clock)
    try:
        if not manager.nodes:  # killed before the farm itself was committed
            assert acked is None
            return None
        allowed = [0] if acked is None else [acked, min(acked + 1, CALLS)]
        assert manager.store is not None
        trail = manager.store.audit_count()
        matches = []
        for candidate in allowed:  # what the state says depends on the time it is read at
            clock.set(times[candidate])
            # the state and the audit trail both (a call may change nothing but the trail)
            if fingerprint(manager) == prints[candidate] and trail == audits[candidate]:
                matches.append(candidate)
        assert matches, f"not the state after {acked} acknowledged calls (or one more)"
        manager.run_scheduling_cycle()  # and it goes on working
        return acked
    finally:
        manager.close()


def test_sqlite_manager_killed_at_fifty_instants_keeps_exactly_what_it_committed(tmp_path):
    seed = 21
    expected = reference(seed)
    rng = random.Random(seed)
    acknowledged = []
    for attempt in range(50):
        url = f"sqlite:///{tmp_path / f'farm{attempt}.db'}"
        # one kill in five counts from the start (it may land before the farm is committed)
        delay = rng.uniform(0.0, 0.5)
        acked = crash_and_check(url, seed, expected, delay, after_farm=attempt % 5 != 0)
        acknowledged.append(acked)
    # the kills landed all over the run: before the farm, early, late
    reached = [a for a in acknowledged if a is not None]
    assert len(reached) >= 40 and max(reached) > 50


def test_postgresql_manager_killed_at_random_instants_keeps_what_it_committed(pg_url):
    seed = 33
    expected = reference(seed)
    rng = random.Random(seed)
    for _ in range(10):
        store = SqlStore(pg_url)
        store.downgrade("base")
        store.close()
        crash_and_check(pg_url, seed, expected, rng.uniform(0.1, 0.8))


@pytest.fixture(autouse=True)
def _no_stray_children():
    yield
    for child in multiprocessing.active_children():
        child.kill()
