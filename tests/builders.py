"""Small builders for farms, nodes, clients and jobs used across the tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from render_farm_manager.core.clock import ManualClock
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import (
    Client,
    JobPriority,
    NodeCapabilities,
    RenderJob,
    RenderNode,
)

T0 = datetime(2026, 11, 23, 22, 0)  # a Monday, 22:00 (off-peak with the default tariff)
DAY = datetime(2026, 11, 23, 10, 0)  # the same Monday, 10:00 (peak)


def make_client(
    client_id: str = "c1", guaranteed: float = 0.0, maximum: float = 100.0, tier: str = "standard"
) -> Client:
    return Client(
        id=client_id,
        name=f"Client {client_id}",
        sla_tier=tier,
        guaranteed_resources=guaranteed,
        max_resources=maximum,
    )


def make_node(
    node_id: str,
    *,
    cores: int = 32,
    memory: int = 128,
    gpus: int = 0,
    gpu_model: str | None = None,
    capability: float = 0.0,
    gpu_memory: float = 0.0,
    tags: list[str] | None = None,
    efficiency: float = 70.0,
    status: str = "online",
) -> RenderNode:
    return RenderNode(
        id=node_id,
        name=node_id,
        status=status,
        capabilities=NodeCapabilities(
            cpu_cores=cores,
            memory_gb=memory,
            gpu_count=gpus,
            gpu_model=gpu_model or ("RTX 4090" if gpus else None),
            gpu_compute_capability=capability or (8.9 if gpus else 0.0),
            gpu_memory_gb=gpu_memory or (24.0 if gpus else 0.0),
            storage_gb=1000,
            specialized_for=tags or [],
        ),
        power_efficiency_rating=efficiency,
    )


def make_job(
    job_id: str,
    *,
    client: str = "c1",
    hours: float = 2.0,
    deadline_in: float = 48.0,
    now: datetime = T0,
    priority: JobPriority | str = JobPriority.MEDIUM,
    **fields: Any,
) -> RenderJob:
    defaults: dict[str, Any] = {
        "job_type": "animation",
        "memory_requirements_gb": 16,
        "cpu_requirements": 8,
        "scene_complexity": 5,
        "output_path": f"/renders/{client}/{job_id}",
    }
    defaults.update(fields)
    return RenderJob(
        id=job_id,
        name=f"Job {job_id}",
        client_id=client,
        priority=priority,
        submission_time=now,
        deadline=now + timedelta(hours=deadline_in),
        estimated_duration_hours=hours,
        **defaults,
    )


def make_farm(
    nodes: int = 2, clients: tuple[str, ...] = ("c1",), start: datetime = T0, **manager_kwargs: Any
) -> tuple[RenderFarmManager, ManualClock]:
    clock = ManualClock(start)
    manager = RenderFarmManager(clock=clock, **manager_kwargs)
    for client_id in clients:
        manager.add_client(make_client(client_id))
    for index in range(nodes):
        manager.add_node(make_node(f"n{index}"))
    return manager, clock


def running_on(manager: RenderFarmManager) -> dict[str, str]:
    """node id → job id for every busy node."""
    return {n.id: n.current_job_id for n in manager.nodes.values() if n.current_job_id}
