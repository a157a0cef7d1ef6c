"""A simulated night on a small farm with an injected clock: energy deferral, a node failure,
an emergency job and learned node speeds."""

from datetime import datetime, timedelta

from render_farm_manager.core.clock import ManualClock
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import Client, NodeCapabilities, RenderJob, RenderNode

clock = ManualClock(datetime(2026, 11, 23, 16, 0))
manager = RenderFarmManager(clock=clock)
manager.set_energy_mode("night_savings")
manager.add_client(
    Client(
        id="studio", name="Studio", sla_tier="premium", guaranteed_resources=60, max_resources=100
    )
)
for i in range(4):
    manager.add_node(
        RenderNode(
            id=f"node{i}",
            name=f"node{i}",
            status="online",
            power_efficiency_rating=60 + 10 * i,
            capabilities=NodeCapabilities(cpu_cores=32, memory_gb=128, storage_gb=1000),
        )
    )

for i in range(6):
    manager.submit_job(
        RenderJob(
            id=f"shot{i}",
            name=f"Shot {i}",
            client_id="studio",
            job_type="lighting",
            deadline=clock.now() + timedelta(hours=30),
            estimated_duration_hours=3,
            memory_requirements_gb=32,
            cpu_requirements=16,
            energy_intensive=i % 2 == 0,
            supports_checkpoint=True,
        )
    )

result = manager.run_scheduling_cycle()
print(
    f"16:00 scheduled {result['jobs_scheduled']}, deferred to cheaper hours "
    f"{result['energy_optimized_jobs']}"
)
clock.advance(timedelta(hours=1))
manager.handle_node_failure("node0", "power supply")
manager.submit_emergency_job(
    RenderJob(
        id="fix",
        name="Client fix",
        client_id="studio",
        deadline=clock.now() + timedelta(hours=4),
        estimated_duration_hours=1,
        memory_requirements_gb=16,
        cpu_requirements=8,
    )
)
print(f"17:00 emergency job is {manager.jobs['fix'].status.value}")
for hour in range(18, 30):
    clock.set(datetime(2026, 11, 23, 0) + timedelta(hours=hour))
    for job in list(manager.jobs.values()):
        if (
            job.status == "running"
            and job.started_at is not None
            and (clock.now() - job.started_at >= timedelta(hours=2))
        ):
            manager.complete_job(job.id)
    manager.run_scheduling_cycle()
farm = manager.get_farm_status()
print(
    f"Completed {farm['jobs_by_status']['completed']} of {farm['total_jobs']} jobs, "
    f"{farm['performance_metrics']['energy_usage_kwh']:.1f} kWh, cost {farm['energy_cost']:.2f}"
)
print(
    f"Learned lighting speed of node1: "
    f"{manager.nodes['node1'].performance_history.get('lighting', 1.0):.2f}x"
)
