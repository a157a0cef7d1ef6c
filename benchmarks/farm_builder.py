"""Heterogeneous farms and queues for the benchmarks (seeded, deterministic)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from render_farm_manager.core.clock import ManualClock
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import (
    Client,
    JobPriority,
    NodeCapabilities,
    RenderJob,
    RenderNode,
)
from render_farm_manager.utils.logging import AuditLogger

START = datetime(2026, 11, 23, 9, 0)

NODE_KINDS = [
    # (share, cores, memory, gpus, gpu model, capability, gpu memory, specialised, efficiency)
    (0.25, 32, 128, 0, None, 0.0, 0.0, [], 60.0),
    (0.20, 64, 256, 0, None, 0.0, 0.0, ["simulation"], 80.0),
    (0.10, 16, 64, 0, None, 0.0, 0.0, ["compositing"], 50.0),
    (0.15, 32, 128, 2, "RTX A5000", 8.6, 24.0, ["lighting"], 70.0),
    (0.15, 64, 256, 4, "RTX 6000 Ada", 8.9, 48.0, ["path-tracing"], 85.0),
    (0.10, 48, 768, 0, None, 0.0, 0.0, ["scene-assembly", "high-memory"], 65.0),
    (0.05, 128, 512, 8, "H100", 9.0, 80.0, ["vfx", "simulation"], 90.0),
]
JOB_TYPES = ["animation", "vfx", "simulation", "lighting", "compositing", "scene-assembly"]
PRIORITIES = [JobPriority.LOW, JobPriority.MEDIUM, JobPriority.HIGH, JobPriority.CRITICAL]


RATINGS = ("by kind", "individually")
"""How nodes get their power-efficiency rating: one per node kind, or one of its own each (a
farm whose every node was measured: as many distinct ratings as nodes)."""


def build_farm(
    jobs: int,
    nodes: int,
    clients: int,
    seed: int = 7,
    keep_audit: bool = True,
    rated: str = "by kind",
) -> tuple[RenderFarmManager, ManualClock]:
    """A farm of ``nodes`` nodes and ``clients`` clients with ``jobs`` random jobs submitted."""
    manager, clock, rng = build_empty_farm(nodes, clients, seed, keep_audit, rated)
    for job in random_jobs(jobs, clients, rng):
        manager.submit_job(job)
    return manager, clock


def build_empty_farm(
    nodes: int,
    clients: int,
    seed: int = 7,
    keep_audit: bool = True,
    rated: str = "by kind",
) -> tuple[RenderFarmManager, ManualClock, random.Random]:
    """The farm without jobs, and the generator that :func:`random_jobs` goes on with."""
    if rated not in RATINGS:
        raise ValueError(f"rated must be one of {RATINGS}, got {rated!r}")
    rng = random.Random(seed)
    # a generator of its own, so that the farm and queue are the same whichever the ratings
    rating_rng = random.Random(seed + 1)
    clock = ManualClock(START)
    manager = RenderFarmManager(
        clock=clock, audit_logger=AuditLogger(max_entries=None if keep_audit else 10_000)
    )
    share = 90.0 / clients
    for c in range(clients):
        manager.add_client(
            Client(
                id=f"client-{c}",
                name=f"Client {c}",
                sla_tier=("premium", "standard", "basic")[c % 3],
                guaranteed_resources=share,
                max_resources=min(100.0, share * 4),
            )
        )
    weights = [kind[0] for kind in NODE_KINDS]
    for n in range(nodes):
        _, cores, memory, gpus, model, capability, gpu_mem, tags, eff = rng.choices(
            NODE_KINDS, weights
        )[0]
        manager.add_node(
            RenderNode(
                id=f"node-{n}",
                name=f"node-{n}",
                status="online",
                capabilities=NodeCapabilities(
                    cpu_cores=cores,
                    memory_gb=memory,
                    gpu_model=model,
                    gpu_count=gpus,
                    gpu_compute_capability=capability,
                    gpu_memory_gb=gpu_mem,
                    storage_gb=2000,
                    specialized_for=list(tags),
                ),
                power_efficiency_rating=(
                    eff if rated == "by kind" else round(eff + rating_rng.uniform(-10, 10), 3)
                ),
            )
        )
    return manager, clock, rng


def random_jobs(jobs: int, clients: int, rng: random.Random) -> Iterator[RenderJob]:
    """``jobs`` random jobs spread over ``clients`` clients (drawn from ``rng`` as they go)."""
    for j in range(jobs):
        hours = min(48.0, rng.lognormvariate(1.0, 0.8))
        yield RenderJob(
            id=f"job-{j}",
            name=f"job-{j}",
            client_id=f"client-{rng.randrange(clients)}",
            job_type=rng.choice(JOB_TYPES),
            priority=rng.choice(PRIORITIES),
            deadline=START + timedelta(hours=hours * rng.uniform(1.2, 8.0) + rng.uniform(0, 72)),
            estimated_duration_hours=hours,
            requires_gpu=rng.random() < 0.3,
            memory_requirements_gb=rng.choice([8, 16, 32, 64, 96, 200]),
            cpu_requirements=rng.choice([4, 8, 16, 32]),
            scene_complexity=rng.randint(1, 10),
            supports_checkpoint=rng.random() < 0.5,
            energy_intensive=rng.random() < 0.2,
            output_path=f"/renders/job-{j}",
        )


def free_share_of_nodes(manager: RenderFarmManager, share: float, seed: int = 11) -> int:
    """Complete the jobs on ``share`` of the busy nodes; returns how many were freed."""
    rng = random.Random(seed)
    running = [n.current_job_id for n in manager.nodes.values() if n.current_job_id]
    chosen = rng.sample(running, int(len(manager.nodes) * share))
    for job_id in chosen:
        manager.complete_job(job_id)
    return len(chosen)
