"""A deterministic random workload of manager calls, for tests of what a store keeps: the same
seed gives the same calls, so a run on a manager with a store can be compared step by step with
a run in memory."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import timedelta
from typing import Any

from builders import T0, make_client, make_job, make_node

from render_farm_manager.core.clock import ManualClock
from render_farm_manager.core.errors import RenderFarmError
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import RenderJobStatus, RenderTask

S = RenderJobStatus
Op = tuple[Any, ...]


def build_farm(manager: RenderFarmManager) -> None:
    for client_id in ("c1", "c2"):
        manager.add_client(make_client(client_id, guaranteed=20.0))
    for index in range(6):
        manager.add_node(make_node(f"n{index}", cores=16 + 8 * (index % 3), gpus=index % 2))
    manager.set_limit("arnold", 3)


def operations(seed: int, count: int) -> list[Op]:
    """``count`` calls; their arguments are picked when they run (from the state), by a random
    generator seeded per call, so the same state gives the same call."""
    rng = random.Random(seed)
    kinds = [
        ("submit", 6),
        ("shot", 3),
        ("cycle", 6),
        ("advance", 4),
        ("complete", 4),
        ("frames", 3),
        ("error", 2),
        ("node_fail", 1),
        ("node_back", 2),
        ("cancel", 1),
        ("pause", 1),
        ("resume", 1),
        ("priority", 2),
        ("progress", 2),
        ("preview", 1),
        ("energy", 1),
    ]
    names = [k for k, w in kinds for _ in range(w)]
    return [(rng.choice(names), rng.randrange(1 << 30), index) for index in range(count)]


def apply(manager: RenderFarmManager, clock: ManualClock, op: Op) -> Any:
    """Run one call; a refused call (the documented errors) is part of the workload."""
    kind, pick, index = op
    rng = random.Random(pick)
    jobs = sorted(manager.jobs)
    running = sorted(j for j in jobs if manager.jobs[j].status == S.RUNNING)
    try:
        if kind == "submit":
            deps = [rng.choice(jobs)] if jobs and rng.random() < 0.3 else []
            job = make_job(
                f"j{index}",
                client=rng.choice(["c1", "c2"]),
                hours=rng.choice([0.5, 1.0, 3.0]),
                now=clock.now(),
                deadline_in=rng.choice([4.0, 12.0, 48.0]),
                priority=rng.choice(["low", "medium", "high"]),
                dependencies=deps,
                supports_checkpoint=rng.random() < 0.5,
            )
            return manager.submit_job(job)
        if kind == "shot":
            job = make_job(
                f"s{index}",
                client=rng.choice(["c1", "c2"]),
                hours=rng.choice([2.0, 6.0]),
                now=clock.now(),
                deadline_in=24.0,
                frames=f"1-{rng.choice([8, 12, 20])}",
                chunk_size=rng.choice([2, 4]),
                limits={"arnold": 1} if rng.random() < 0.5 else {},
            )
            return manager.submit_job(job)
        if kind == "cycle":
            return manager.run_scheduling_cycle()["jobs_scheduled"]
        if kind == "advance":
            clock.advance(timedelta(minutes=rng.choice([5, 20, 60])))
            return None
        if kind == "complete" and running:
            return manager.complete_job(rng.choice(running))
        if kind == "frames":
            tasks = [j for j in running if isinstance(manager.jobs[j], RenderTask)]
            if tasks:
                task = manager.jobs[rng.choice(tasks)]
                assert isinstance(task, RenderTask)
                return manager.report_frames_done(task.id, task.task_frames[:1])
            return None
        if kind == "error" and running:
            return manager.report_render_error(rng.choice(running), "render crashed")
        if kind == "node_fail":
            return manager.handle_node_failure(f"n{rng.randrange(6)}", "power supply")
        if kind == "node_back":
            return manager.set_node_online(f"n{rng.randrange(6)}", True)
        if kind == "cancel" and jobs:
            return manager.cancel_job(rng.choice(jobs))
        if kind == "pause" and jobs:
            return manager.pause_job(rng.choice(jobs))
        if kind == "resume" and jobs:
            return manager.resume_job(rng.choice(jobs))
        if kind == "priority" and jobs:
            return manager.update_job_priority(rng.choice(jobs), rng.choice(["low", "critical"]))
        if kind == "progress" and running:
            return manager.update_job_progress(rng.choice(running), rng.choice([25.0, 50.0]))
        if kind == "preview":
            tasks = [j for j in running if isinstance(manager.jobs[j], RenderTask)]
            if tasks:
                task = manager.jobs[rng.choice(tasks)]
                assert isinstance(task, RenderTask)
                frame = task.task_frames[0]
                return manager.record_preview(task.id, frame, f"/p/{task.id}.{frame}.png")
            return None
        if kind == "energy":
            return manager.set_energy_mode(rng.choice(["balanced", "efficiency", "performance"]))
    except RenderFarmError as error:
        return f"refused: {type(error).__name__}"
    return None


def state(manager: RenderFarmManager) -> dict[str, Any]:
    """Everything a restart must keep, in a comparable form."""
    with manager._path.lock:
        return {
            "clients": {c.id: c.model_dump(mode="json") for c in manager.clients.values()},
            "nodes": {n.id: n.model_dump(mode="json") for n in manager.nodes.values()},
            "jobs": {j.id: j.model_dump(mode="json") for j in manager.jobs.values()},
            "queue": manager._path.index.queue.ids() and sorted(manager._path.index.queue.ids()),
            "waiting_order": [j.id for j in manager.waiting_jobs()],
            "metrics": manager.performance_metrics.model_dump(mode="json"),
            "limits": dict(manager._path.limits),
            "energy_mode": str(manager.energy_optimizer.current_energy_mode),
            "speeds": manager.node_specializer.speeds.snapshot(),  # type: ignore[attr-defined]
        }


def fingerprint(manager: RenderFarmManager) -> str:
    text = json.dumps(state(manager), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def new_farm(start=T0) -> tuple[RenderFarmManager, ManualClock]:
    clock = ManualClock(start)
    manager = RenderFarmManager(clock=clock)
    build_farm(manager)
    return manager, clock
