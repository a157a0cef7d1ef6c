"""Deep dependency graphs cost what they touch (prints figures; not a test).

    uv run python benchmarks/dependency_chains.py

Submits 20,000 jobs as 20 chains of 1,000 (each job depends on the one before it) and, for
comparison, 20,000 independent jobs, on a 200-node farm; then times the first scheduling cycle,
the status of the deepest job of a chain (its completion estimate walks the whole chain), and
cancelling the head of a chain (every job below it becomes blocked). Goals (issue "Every change
through one path"): submission at the same per-job cost as independent jobs, status of the
deepest job <= 10 ms.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from farm_builder import START, build_farm

from render_farm_manager.core.models import RenderJob

CHAINS, DEPTH, NODES = 20, 1_000, 200


def job(job_id: str, dependencies: list[str]) -> RenderJob:
    from datetime import timedelta

    return RenderJob(
        id=job_id,
        name=job_id,
        client_id="client-0",
        deadline=START + timedelta(days=30),
        estimated_duration_hours=0.5,
        dependencies=dependencies,
    )


def submit_all(chained: bool) -> tuple[float, object]:
    manager, _ = build_farm(0, NODES, 5, keep_audit=False)
    jobs = [
        job(f"c{c}-{d}", [f"c{c}-{d - 1}"] if chained and d else [])
        for c in range(CHAINS)
        for d in range(DEPTH)
    ]
    gc.collect()
    started = time.perf_counter()
    for item in jobs:
        manager.submit_job(item)
    return time.perf_counter() - started, manager


def timed(action, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    total = CHAINS * DEPTH
    independent, _ = submit_all(chained=False)
    chained, manager = submit_all(chained=True)
    started = time.perf_counter()
    result = manager.run_scheduling_cycle()
    cycle = time.perf_counter() - started
    deepest = f"c0-{DEPTH - 1}"
    status = manager.get_job_status(deepest)
    status_time = timed(lambda: manager.get_job_status(deepest))
    started = time.perf_counter()
    manager.cancel_job("c1-0")
    cancel = time.perf_counter() - started
    reasons = [j.blocked_reason or "" for j in manager.jobs.values()]
    print(f"{CHAINS} chains of {DEPTH:,} jobs ({total:,} jobs) on {NODES} nodes")
    print(
        f"  submit, per job:           independent {1e6 * independent / total:6.1f} us   "
        f"chained {1e6 * chained / total:6.1f} us"
    )
    print(
        f"  first cycle:               {1000 * cycle:6.1f} ms ({result['jobs_scheduled']} placed)"
    )
    print(
        f"  status of the deepest job: {1000 * status_time:6.2f} ms (median of 5; "
        f"expected at {status['estimated_completion']:%Y-%m-%d %H:%M}, "
        f"will meet deadline: {status['will_meet_deadline']})"
    )
    print(
        f"  cancel a chain's head:     {1000 * cancel:6.1f} ms "
        f"({DEPTH - 1} jobs blocked; longest blocked_reason {max(map(len, reasons))} chars)"
    )


if __name__ == "__main__":
    main()
