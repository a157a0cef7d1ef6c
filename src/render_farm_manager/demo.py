"""A small farm run on a simulated clock: the README's first command shows it."""

from __future__ import annotations

import random
from collections.abc import Callable
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

DEMO_START = datetime(2026, 11, 23, 18, 0)
JOB_TYPES = ("animation", "vfx", "simulation", "lighting", "compositing")


def build_demo_farm(
    nodes: int, jobs: int, seed: int
) -> tuple[RenderFarmManager, ManualClock, dict[str, float]]:
    """A heterogeneous farm, three clients and a queue; returns the hidden true speed factor of
    every node (what the manager has to learn)."""
    rng = random.Random(seed)
    clock = ManualClock(DEMO_START)
    manager = RenderFarmManager(clock=clock)
    for client_id, tier, share in (
        ("northlight", "premium", 40),
        ("bluefin", "standard", 30),
        ("pixelmill", "basic", 10),
    ):
        manager.add_client(
            Client(
                id=client_id,
                name=client_id.title(),
                sla_tier=tier,
                guaranteed_resources=share,
                max_resources=min(100, share * 2),
            )
        )
    true_speed: dict[str, float] = {}
    for i in range(nodes):
        gpu = i % 3 == 0
        newer = i % 2 == 0
        node = RenderNode(
            id=f"node-{i:03d}",
            name=f"node-{i:03d}",
            status="online",
            power_efficiency_rating=80 if newer else 55,
            capabilities=NodeCapabilities(
                cpu_cores=64 if newer else 32,
                memory_gb=256 if newer else 128,
                gpu_count=2 if gpu else 0,
                gpu_model="RTX 6000" if gpu else None,
                gpu_memory_gb=48 if gpu else 0,
                gpu_compute_capability=8.9 if gpu else 0,
                storage_gb=2000,
                specialized_for=["simulation"] if i % 5 == 0 else [],
                os="linux",
            ),
        )
        manager.add_node(node)
        true_speed[node.id] = 1.6 if newer else 0.8
    for j in range(jobs):
        hours = round(min(12.0, rng.lognormvariate(0.6, 0.6)), 2)
        manager.submit_job(
            RenderJob(
                id=f"job-{j:04d}",
                name=f"shot {j:04d}",
                client_id=rng.choice(("northlight", "bluefin", "pixelmill")),
                job_type=rng.choice(JOB_TYPES),
                priority=rng.choice(list(JobPriority)),
                submission_time=clock.now(),
                deadline=clock.now() + timedelta(hours=hours * rng.uniform(2, 6) + 4),
                estimated_duration_hours=hours,
                requires_gpu=rng.random() < 0.25,
                memory_requirements_gb=rng.choice((16, 32, 64)),
                cpu_requirements=16,
                supports_checkpoint=rng.random() < 0.5,
                supports_progressive_output=True,
                energy_intensive=rng.random() < 0.3,
                output_path=f"/renders/job-{j:04d}",
            )
        )
    return manager, clock, true_speed


def run_demo(
    manager: RenderFarmManager,
    clock: ManualClock,
    true_speed: dict[str, float],
    hours: float,
    step_minutes: int = 15,
    on_step: Callable[[int, int], None] | None = None,
) -> None:
    """Advance the farm: renders progress at each node's true speed; cycles run every step."""
    steps = int(hours * 60 / step_minutes)
    step = timedelta(minutes=step_minutes)
    for index in range(steps):
        manager.run_scheduling_cycle()
        clock.advance(step)
        for job in [j for j in manager.jobs.values() if j.status == "running" and not j.is_shot]:
            node_id = job.assigned_node_id or ""
            gained = (
                100.0
                * (step_minutes / 60.0)
                * true_speed.get(node_id, 1.0)
                / (job.estimated_duration_hours)
            )
            manager.update_job_progress(job.id, job.progress + gained)
        if on_step is not None:
            on_step(index + 1, steps)
    manager.run_scheduling_cycle()
