"""A shot of 240 frames split into tasks, rendered by a (pretend) worker on four nodes: the
README's shot example, run to the end."""

from datetime import datetime, timedelta

from render_farm_manager.core.clock import ManualClock
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import Client, NodeCapabilities, RenderJob, RenderNode

clock = ManualClock(datetime(2026, 12, 3, 20, 0))
manager = RenderFarmManager(clock=clock)
manager.add_client(Client(id="northlight", name="Northlight", guaranteed_resources=40))
for i in range(4):
    manager.add_node(
        RenderNode(
            id=f"n{i}", name=f"n{i}", capabilities=NodeCapabilities(cpu_cores=64, memory_gb=256)
        )
    )
shot = RenderJob(
    id="sh020",
    name="Shot 020",
    client_id="northlight",
    deadline=clock.now() + timedelta(hours=20),
    estimated_duration_hours=40,
    frames="1001-1240",
    chunk_size=5,
    command=["povray", "+Iscene.pov", "+SF{start}", "+EF{end}"],
)
manager.submit_job(shot)
tasks = manager.tasks_of("sh020")
print(f"Tasks: {len(tasks)}; first three frames: {[t.task_frames for t in tasks[:3]]}")
cycles = 0
while shot.status != "completed" and cycles < 500:
    manager.run_scheduling_cycle()
    clock.advance(timedelta(minutes=10))
    for task in [t for t in manager.tasks_of("sh020") if t.status == "running"]:
        manager.report_frames_done(task.id, task.frames_left)  # the worker wrote them all
    cycles += 1
status = manager.get_job_status("sh020")
print(f"Status: {status['status']}, frames {status['frames_done']}/{status['frames_total']}")
print(f"On time: {status['will_meet_deadline']}")
