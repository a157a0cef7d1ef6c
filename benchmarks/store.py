"""What durable state costs (prints figures; not a test).

    uv run python benchmarks/store.py                 # SQLite, and PostgreSQL when reachable
    uv run python benchmarks/store.py --quick         # 10,000 jobs restarted instead of 100,000

* **Write-through per scheduling cycle**: a farm of 10,000 jobs on 1,000 nodes (the farm of
  ``scheduling_cycle.py``), the same cycles timed with the state in memory only and with every
  change written through to the store: the first cycle, then later cycles in each of which 5% of
  the nodes free up. Overhead = (with store - without) / without; goal <= 20%.
* **Restart**: a store holding 100,000 jobs (and their audit entries) opened again: loading,
  validating every model and rebuilding the scheduler's indexes; goal <= 10 s.

Each figure is the median of the repeats; the SQLite file lives in a temporary directory.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from farm_builder import build_farm, free_share_of_nodes
from pg_database import postgres_database

from render_farm_manager.core.clock import ManualClock
from render_farm_manager.store import attach_store, open_manager
from render_farm_manager.store.sql import SqlStore


def cycles(url: str | None, jobs: int, nodes: int, later: int, seed: int) -> tuple[float, list]:
    manager, clock = build_farm(jobs, nodes, 10, seed=seed)
    if url is not None:
        attach_store(manager, SqlStore(url))
    gc.collect()
    started = time.perf_counter()
    manager.run_scheduling_cycle()
    first = time.perf_counter() - started
    times = []
    for cycle in range(later):
        clock.advance(timedelta(minutes=5))
        free_share_of_nodes(manager, 0.05, seed=cycle)
        started = time.perf_counter()
        manager.run_scheduling_cycle()
        times.append(time.perf_counter() - started)
    manager.close()
    return first, times


def write_through(url_for, label: str, repeats: int) -> None:
    firsts, laters, base_firsts, base_laters = [], [], [], []
    for repeat in range(repeats):
        first, later = cycles(None, 10_000, 1_000, 5, seed=7 + repeat)
        base_firsts.append(first)
        base_laters.extend(later)
        first, later = cycles(url_for(repeat), 10_000, 1_000, 5, seed=7 + repeat)
        firsts.append(first)
        laters.extend(later)
    for name, base, stored in (
        ("first cycle", base_firsts, firsts),
        ("later cycle", base_laters, laters),
    ):
        b, s = statistics.median(base), statistics.median(stored)
        print(
            f"  {label:<10} {name:<12} memory {1000 * b:8.1f} ms   with store {1000 * s:8.1f} ms"
            f"   overhead {100 * (s - b) / b:5.1f}%   (goal <= 20%)"
        )


def restart(url: str, label: str, jobs: int, repeats: int) -> None:
    manager, clock = build_farm(jobs, max(1_000, jobs // 20), 10, seed=3)
    manager.run_scheduling_cycle()
    started = time.perf_counter()
    attach_store(manager, SqlStore(url))
    saved = time.perf_counter() - started
    manager.close()
    times = []
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        reopened = open_manager(url, clock=ManualClock(clock.now()))
        times.append(time.perf_counter() - started)
        assert len(reopened.jobs) == len(manager.jobs)
        reopened.run_scheduling_cycle()
        reopened.close()
    print(
        f"  {label:<10} {jobs:,} jobs: stored in {saved:.1f} s, reopened in "
        f"{statistics.median(times):.2f} s (median of {repeats}; goal <= 10 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="restart 10,000 jobs, one repeat")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    restart_jobs = 10_000 if args.quick else 100_000
    with tempfile.TemporaryDirectory() as directory:
        print("write-through, 10,000 jobs x 1,000 nodes:")
        write_through(lambda r: f"sqlite:///{directory}/cycle{r}.db", "SQLite", repeats)
        pg = [postgres_database(f"rfm_bench_cycle{r}") for r in range(repeats)]
        if all(pg):
            write_through(lambda r: pg[r], "PostgreSQL", repeats)
        print("restart:")
        restart(f"sqlite:///{directory}/restart.db", "SQLite", restart_jobs, repeats)
        url = postgres_database("rfm_bench_restart")
        if url is not None:
            restart(url, "PostgreSQL", restart_jobs, repeats)


if __name__ == "__main__":
    main()
