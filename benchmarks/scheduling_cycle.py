"""Median time of one scheduling cycle on heterogeneous farms (prints figures; not a test).

    uv run python benchmarks/scheduling_cycle.py            # all three sizes
    uv run python benchmarks/scheduling_cycle.py --quick    # the two smaller sizes
    uv run python benchmarks/scheduling_cycle.py --rated individually   # one farm only

For each size it builds a fresh farm (10 clients, 7 node kinds, a random queue), times the first
cycle (everything is new: up to one placement per node, every eligible job queued), then times
later cycles in each of which 5% of the nodes free up (their jobs complete) five simulated
minutes after the previous one. Timings cover ``RenderFarmManager.run_scheduling_cycle()`` as a
user calls it: decisions, applying them, audit entries and metrics. *Status* is
``get_job_status`` of the job at the back of the queue just after a change (its forecast walks
the whole queue ahead of it).

Each size runs twice: with one power-efficiency rating per node kind (*by kind*), and with a
rating of its own for every node (*individually*: as many distinct ratings as nodes), so that a
cycle's cost can be seen not to grow with the number of distinct ratings.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from farm_builder import RATINGS, build_farm, free_share_of_nodes

SIZES = [(1_000, 200, 10, 5), (10_000, 1_000, 10, 3), (100_000, 5_000, 10, 2)]
GOALS = {1_000: (20, 20), 10_000: (200, 200), 100_000: (2_000, 100)}


def measure(
    jobs: int, nodes: int, clients: int, repeats: int, rated: str, later_cycles: int = 5
) -> dict:
    first, later, build, scheduled, status = [], [], [], [], []
    for repeat in range(repeats):
        started = time.perf_counter()
        manager, clock = build_farm(jobs, nodes, clients, seed=7 + repeat, rated=rated)
        build.append(time.perf_counter() - started)
        gc.collect()
        started = time.perf_counter()
        result = manager.run_scheduling_cycle()
        first.append(time.perf_counter() - started)
        scheduled.append(result["jobs_scheduled"])
        for cycle in range(later_cycles):
            clock.advance(timedelta(minutes=5))
            free_share_of_nodes(manager, 0.05, seed=cycle)
            started = time.perf_counter()
            manager.run_scheduling_cycle()
            later.append(time.perf_counter() - started)
        # the status of the job at the back of the queue, just after a change
        last = manager.waiting_jobs()[-1].id
        manager.update_job_priority(manager.waiting_jobs()[0].id, "critical")
        started = time.perf_counter()
        manager.get_job_status(last)
        status.append(time.perf_counter() - started)
    return {
        "build_s": statistics.median(build),
        "first_ms": 1000 * statistics.median(first),
        "later_ms": 1000 * statistics.median(later),
        "later_p90_ms": 1000 * sorted(later)[int(0.9 * (len(later) - 1))],
        "placed_first": statistics.median(scheduled),
        "status_ms": 1000 * statistics.median(status),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 100,000-job farm")
    parser.add_argument(
        "--rated",
        choices=[*RATINGS, "both"],
        default="both",
        help="nodes' power-efficiency ratings: one per node kind, one per node, or both farms",
    )
    args = parser.parse_args()
    sizes = SIZES[:2] if args.quick else SIZES
    ratings = RATINGS if args.rated == "both" else (args.rated,)
    print(
        f"{'jobs':>8} {'nodes':>6} {'rated':>12} {'submit all':>11} {'first cycle':>12} "
        f"{'later cycle':>12} {'later p90':>10} {'status':>9}   goals (first/later)"
    )
    for jobs, nodes, clients, repeats in sizes:
        for rated in ratings:
            report(jobs, nodes, rated, measure(jobs, nodes, clients, repeats, rated))


def report(jobs: int, nodes: int, rated: str, figures: dict) -> None:
    goal_first, goal_later = GOALS[jobs]
    print(
        f"{jobs:>8,} {nodes:>6,} {rated:>12} {figures['build_s']:>10.2f}s "
        f"{figures['first_ms']:>10.1f}ms {figures['later_ms']:>10.1f}ms "
        f"{figures['later_p90_ms']:>8.1f}ms {figures['status_ms']:>7.1f}ms"
        f"   <= {goal_first} / {goal_later} ms",
        flush=True,
    )


if __name__ == "__main__":
    main()
