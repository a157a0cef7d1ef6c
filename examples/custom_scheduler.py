"""A scheduler of your own: subclass the interface, implement the seed methods, hand it over."""

from datetime import datetime, timedelta

from render_farm_manager.core.interfaces import SchedulerInterface
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import Client, NodeCapabilities, RenderJob, RenderNode
from render_farm_manager.node_specialization.fit import fits


class LongestFirst(SchedulerInterface):
    """Longest job first, each on the first free node that can run it."""

    def schedule_jobs(self, jobs, nodes):
        free, plan = list(nodes), {}
        for job in sorted(jobs, key=lambda j: -j.estimated_duration_hours):
            node = next((n for n in free if fits(job, n)), None)
            if node is not None:
                plan[job.id] = node.id
                free.remove(node)
        return plan

    def update_priorities(self, jobs):
        return jobs

    def can_meet_deadline(self, job, nodes):
        return any(fits(job, node) for node in nodes)

    def should_preempt(self, running_job, pending_job):
        return False


manager = RenderFarmManager(scheduler=LongestFirst())
manager.add_client(Client(id="studio", name="Studio"))
manager.add_node(
    RenderNode(id="n1", name="n1", capabilities=NodeCapabilities(cpu_cores=32, memory_gb=128))
)
for job_id, hours in (("short", 1.0), ("long", 9.0), ("medium", 4.0)):
    manager.submit_job(
        RenderJob(
            id=job_id,
            name=job_id,
            client_id="studio",
            deadline=datetime.now() + timedelta(days=2),
            estimated_duration_hours=hours,
        )
    )
manager.run_scheduling_cycle()
print(f"Running: {manager.nodes['n1'].current_job_id}")
