"""Shots split into tasks at studio scale (prints figures; not a test).

    uv run python benchmarks/shots.py            # 400 shots x 250 frames on 5,000 nodes
    uv run python benchmarks/shots.py --quick    # 40 shots x 250 frames on 500 nodes

Times, as a user calls them: submitting a 1,000-frame shot (``submit_job``, expansion into one
task per frame included); the first scheduling cycle over 100,000 queued tasks; later cycles in
each of which 5% of the nodes free up (their tasks complete) five simulated minutes after the
previous one; ``get_job_status`` of a 10,000-frame shot whose tasks are spread over the farm.
Memory per queued task is the traced allocation of submitting the shots over their task count.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from farm_builder import JOB_TYPES, PRIORITIES, START, build_farm, free_share_of_nodes

from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import RenderJob

GOALS_MS = {"submit 1,000 frames": 50, "first cycle": 2_000, "later cycle": 100, "status": 10}


def shot(job_id: str, client: str, frames: int, rng: random.Random) -> RenderJob:
    per_frame = rng.uniform(0.05, 0.5)
    return RenderJob(
        id=job_id,
        name=job_id,
        client_id=client,
        job_type=rng.choice(JOB_TYPES),
        priority=rng.choice(PRIORITIES),
        deadline=START + timedelta(hours=rng.uniform(12, 96)),
        estimated_duration_hours=per_frame * frames,
        frames=f"1001-{1000 + frames}",
        chunk_size=1,
        memory_requirements_gb=rng.choice([8, 16, 32]),
        cpu_requirements=rng.choice([4, 8, 16]),
        output_path=f"/renders/{job_id}",
    )


def submit_times(manager: RenderFarmManager, rng: random.Random, count: int) -> list[float]:
    times = []
    for n in range(count):
        job = shot(f"big-{n}", "client-0", 1_000, rng)
        started = time.perf_counter()
        manager.submit_job(job)
        times.append(time.perf_counter() - started)
        manager.cancel_job(job.id)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    shots, frames, nodes = (40, 250, 500) if args.quick else (400, 250, 5_000)
    rng = random.Random(3)
    manager, clock = build_farm(0, nodes, 10, keep_audit=False)
    submit = submit_times(manager, rng, 5)

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n in range(shots):
        manager.submit_job(shot(f"shot-{n}", f"client-{n % 10}", frames, rng))
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    queued = shots * frames
    per_task_kb = (after - before) / queued / 1024

    gc.collect()
    started = time.perf_counter()
    first = manager.run_scheduling_cycle()
    first_s = time.perf_counter() - started
    later = []
    for cycle in range(5):
        clock.advance(timedelta(minutes=5))
        free_share_of_nodes(manager, 0.05, seed=cycle)
        started = time.perf_counter()
        manager.run_scheduling_cycle()
        later.append(time.perf_counter() - started)

    big = shot("status-10k", "client-1", 10_000, rng)
    manager.submit_job(big)
    manager.run_scheduling_cycle()
    status_times = []
    for _ in range(5):
        started = time.perf_counter()
        status = manager.get_job_status(big.id)
        status_times.append(time.perf_counter() - started)
    assert status is not None

    rows = [
        ("submit 1,000 frames", statistics.median(submit) * 1000),
        ("first cycle", first_s * 1000),
        ("later cycle", statistics.median(later) * 1000),
        ("status", statistics.median(status_times) * 1000),
    ]
    print(f"{shots} shots x {frames} frames = {queued:,} queued tasks on {nodes:,} nodes")
    print(f"first cycle placed {first['jobs_scheduled']} tasks")
    print(f"{'measure':<22}{'median ms':>12}{'goal ms':>10}")
    for name, value in rows:
        print(f"{name:<22}{value:>12.1f}{GOALS_MS[name]:>10}")
    print(f"memory per queued task: {per_task_kb:.1f} KiB (traced, submission of the shots)")
    print(f"status of the 10,000-frame shot lists {status['tasks_total']} tasks")


if __name__ == "__main__":
    main()
