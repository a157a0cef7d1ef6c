"""Time of submitting jobs through ``RenderFarmManager.submit_job`` (prints figures; not a test).

    uv run python benchmarks/submission.py                 # 100,000 jobs onto 5,000 nodes
    uv run python benchmarks/submission.py --jobs 20000    # fewer
    uv run python benchmarks/submission.py --profile       # and the top of a cProfile

The farm (10 clients, 5,000 nodes of 7 kinds) and the jobs (the random queue of
``scheduling_cycle.py``) are built first; only the ``submit_job`` calls are timed, each one as a
user makes it: validation, the change path (transition check, state, audit entry, indexes) and
the deadline check against the farm. The manager has no batch submission; a job file submits its
shots one ``submit_job`` (or ``submit_shot``) at a time.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from farm_builder import build_empty_farm, random_jobs

GOAL_US = 40.0


def measure(jobs: int, nodes: int, clients: int, profile: bool) -> float:
    manager, _, rng = build_empty_farm(nodes, clients)
    queue = list(random_jobs(jobs, clients, rng))
    gc.collect()
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    started = time.perf_counter()
    for job in queue:
        manager.submit_job(job)
    elapsed = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--nodes", type=int, default=5_000)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the calls")
    args = parser.parse_args()
    elapsed = measure(args.jobs, args.nodes, 10, args.profile)
    print(
        f"submit_job: {args.jobs:,} jobs onto {args.nodes:,} nodes in {elapsed:.2f}s, "
        f"{1e6 * elapsed / args.jobs:.1f} µs a job   (goal <= {GOAL_US:g} µs)",
        flush=True,
    )


if __name__ == "__main__":
    main()
