"""Invariants under random sequences of operations (hypothesis).

These run without coverage tracing (``untraced``), which would slow them eightfold; the lines
they reach are covered by the example tests too.

* a node never runs two jobs, and a running job's node knows it;
* a job never runs on a node whose hardware does not fit it, nor on a node that is not online;
* a child never starts before all of its parents have completed;
* guarantees are honoured while demanded.
"""

from datetime import timedelta

import pytest
from builders import make_client, make_farm, make_job, make_node
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from pydantic import ValidationError

from render_farm_manager import RenderFarmError
from render_farm_manager.core.models import NodeStatus, RenderJobStatus
from render_farm_manager.node_specialization.fit import hardware_misfit
from render_farm_manager.resource_management.resource_partitioner import ResourcePartitioner

CLIENTS = ("a", "b", "c")


class FarmMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.manager, self.clock = make_farm(nodes=0, clients=())
        self.manager.add_client(make_client("a", guaranteed=40, maximum=80))
        self.manager.add_client(make_client("b", guaranteed=30, maximum=100))
        self.manager.add_client(make_client("c", guaranteed=0, maximum=50))
        self.next_node = 0
        self.next_job = 0
        for _ in range(3):
            self._add_node(gpus=0, memory=64)

    def _add_node(self, gpus: int, memory: int) -> None:
        self.manager.add_node(make_node(f"n{self.next_node}", gpus=gpus, memory=memory))
        self.next_node += 1

    @rule(gpus=st.sampled_from([0, 0, 2]), memory=st.sampled_from([32, 64, 256]))
    def add_node(self, gpus, memory):
        self._add_node(gpus, memory)

    @rule(data=st.data())
    def submit(self, data):
        job_id = f"j{self.next_job}"
        self.next_job += 1
        existing = sorted(self.manager.jobs)
        deps = data.draw(
            st.lists(st.sampled_from(existing), max_size=2, unique=True)
            if existing
            else st.just([])
        )
        self.manager.submit_job(
            make_job(
                job_id,
                now=self.clock.now(),
                client=data.draw(st.sampled_from(CLIENTS)),
                hours=data.draw(st.floats(0.1, 12)),
                deadline_in=data.draw(st.floats(0.5, 48)),
                priority=data.draw(st.sampled_from(["low", "medium", "high", "critical"])),
                requires_gpu=data.draw(st.booleans()),
                memory_requirements_gb=data.draw(st.sampled_from([8, 48, 128])),
                supports_checkpoint=data.draw(st.booleans()),
                can_be_preempted=data.draw(st.booleans()),
                energy_intensive=data.draw(st.booleans()),
                dependencies=deps,
            )
        )

    def _placements_respect_blocklists(self, run):
        """A job is never started on a node it is blocklisted from."""
        before = {j.id: j.assigned_node_id for j in self.manager.jobs.values()}
        run()
        for job in self.manager.jobs.values():
            if job.status == RenderJobStatus.RUNNING and before.get(job.id) != job.assigned_node_id:
                assert job.assigned_node_id not in job.excluded_node_ids, job.id

    @rule(job=st.integers(0, 50))
    def emergency(self, job):
        job_id = f"e{self.next_job}"
        self.next_job += 1
        emergency = make_job(job_id, now=self.clock.now(), client="b")
        self._placements_respect_blocklists(lambda: self.manager.submit_emergency_job(emergency))

    @rule()
    def cycle(self):
        self._placements_respect_blocklists(self.manager.run_scheduling_cycle)

    @rule(minutes=st.integers(1, 600))
    def advance(self, minutes):
        self.clock.advance(timedelta(minutes=minutes))

    @rule(data=st.data())
    def complete(self, data):
        running = sorted(j.id for j in self.manager.jobs.values() if j.status == "running")
        if running:
            self.manager.complete_job(data.draw(st.sampled_from(running)))

    @rule(data=st.data())
    def progress(self, data):
        running = sorted(j.id for j in self.manager.jobs.values() if j.status == "running")
        if running:
            self.manager.update_job_progress(
                data.draw(st.sampled_from(running)), data.draw(st.floats(0, 99))
            )

    @rule(data=st.data())
    def fail_node(self, data):
        node_id = data.draw(st.sampled_from(sorted(self.manager.nodes)))
        self.manager.handle_node_failure(node_id, "random failure")

    @rule(data=st.data())
    def repair_node(self, data):
        self.manager.set_node_online(data.draw(st.sampled_from(sorted(self.manager.nodes))))

    @rule(data=st.data())
    def drain_node(self, data):
        self.manager.drain_node(data.draw(st.sampled_from(sorted(self.manager.nodes))))

    @precondition(lambda self: self.manager.jobs)
    @rule(data=st.data())
    def cancel(self, data):
        self.manager.cancel_job(data.draw(st.sampled_from(sorted(self.manager.jobs))))

    @precondition(lambda self: self.manager.jobs)
    @rule(data=st.data())
    def reprioritise(self, data):
        self.manager.update_job_priority(
            data.draw(st.sampled_from(sorted(self.manager.jobs))),
            data.draw(st.sampled_from(["low", "medium", "high", "critical"])),
        )

    @rule(data=st.data())
    def render_error(self, data):
        running = sorted(j.id for j in self.manager.jobs.values() if j.status == "running")
        if running:
            self.manager.report_render_error(
                data.draw(st.sampled_from(running)), "oops", corrupt_scene=data.draw(st.booleans())
            )

    def _snapshot(self):
        return (
            {k: v.model_dump() for k, v in self.manager.jobs.items()},
            {k: v.model_dump() for k, v in self.manager.nodes.items()},
            len(self.manager.audit_logger.entries),
        )

    def _edit(self, model, field, value):
        """Assign like a user would: it applies, or it is refused and changes nothing."""
        before = self._snapshot()
        try:
            setattr(model, field, value)
        except (RenderFarmError, ValidationError):
            assert self._snapshot() == before

    @precondition(lambda self: self.manager.jobs)
    @rule(data=st.data())
    def edit_job(self, data):
        job = self.manager.jobs[data.draw(st.sampled_from(sorted(self.manager.jobs)))]
        field, value = data.draw(
            st.one_of(
                st.tuples(st.just("status"), st.sampled_from(list(RenderJobStatus))),
                st.tuples(st.just("priority"), st.sampled_from(["low", "high", "critical"])),
                st.tuples(st.just("progress"), st.floats(0, 100)),
                st.tuples(st.just("assigned_node_id"), st.sampled_from([None, "n0", "n1"])),
                st.tuples(
                    st.just("dependencies"),
                    st.lists(st.sampled_from(sorted(self.manager.jobs)), max_size=2, unique=True),
                ),
            )
        )
        self._edit(job, field, value)

    @rule(data=st.data())
    def edit_node(self, data):
        node = self.manager.nodes[data.draw(st.sampled_from(sorted(self.manager.nodes)))]
        field, value = data.draw(
            st.one_of(
                st.tuples(st.just("status"), st.sampled_from(list(NodeStatus))),
                st.tuples(
                    st.just("current_job_id"),
                    st.sampled_from([None, *sorted(self.manager.jobs)[:5]]),
                ),
                st.tuples(st.just("draining"), st.booleans()),
            )
        )
        self._edit(node, field, value)

    @rule(mode=st.sampled_from(["performance", "balanced", "efficiency", "night_savings"]))
    def energy_mode(self, mode):
        self.manager.set_energy_mode(mode)

    @invariant()
    def one_job_per_node_and_both_sides_agree(self):
        running = [j for j in self.manager.jobs.values() if j.status == RenderJobStatus.RUNNING]
        nodes_used = [j.assigned_node_id for j in running]
        assert len(nodes_used) == len(set(nodes_used))
        for job in running:
            assert self.manager.nodes[job.assigned_node_id].current_job_id == job.id
        for node in self.manager.nodes.values():
            if node.current_job_id is not None:
                job = self.manager.jobs[node.current_job_id]
                assert job.status == RenderJobStatus.RUNNING and job.assigned_node_id == node.id

    @invariant()
    def running_jobs_fit_online_nodes(self):
        for job in self.manager.jobs.values():
            if job.status == RenderJobStatus.RUNNING:
                node = self.manager.nodes[job.assigned_node_id]
                assert node.status == NodeStatus.ONLINE
                assert hardware_misfit(job, node.capabilities) is None

    @invariant()
    def children_never_start_before_parents_complete(self):
        for job in self.manager.jobs.values():
            if job.status == RenderJobStatus.RUNNING:
                for dep in job.dependencies:
                    assert self.manager.jobs[dep].status == RenderJobStatus.COMPLETED

    @invariant()
    def the_queue_holds_exactly_the_jobs_that_could_start(self):
        queued = {job.id for job in self.manager.waiting_jobs()}
        for job in self.manager.jobs.values():
            ready = job.status in (RenderJobStatus.PENDING, RenderJobStatus.QUEUED) and all(
                self.manager.jobs.get(d) is not None
                and self.manager.jobs[d].status == RenderJobStatus.COMPLETED
                for d in job.dependencies
            )
            assert (job.id in queued) == ready, job.id


FarmMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestFarmInvariants = pytest.mark.untraced(FarmMachine.TestCase)


@pytest.mark.untraced
@settings(max_examples=60, deadline=None)
@given(
    guarantees=st.lists(st.integers(0, 60), min_size=2, max_size=4),
    demands=st.lists(st.integers(0, 12), min_size=4, max_size=4),
    nodes=st.integers(2, 12),
    hog=st.integers(0, 3),
)
def test_guarantees_are_honoured_while_demanded(guarantees, demands, nodes, hog):
    """Whoever occupies the farm first, after one cycle every client with work waiting runs at
    least min(its scaled guarantee, its demand) whole nodes."""
    manager, _ = make_farm(
        nodes=0, clients=(), resource_manager=ResourcePartitioner(borrowing_limit_percentage=100)
    )
    manager.scheduler.max_preemptions_per_cycle = 1000
    clients = [f"c{i}" for i in range(len(guarantees))]
    for client_id, guarantee in zip(clients, guarantees, strict=False):
        manager.add_client(make_client(client_id, guaranteed=guarantee, maximum=100))
    for i in range(nodes):
        manager.add_node(make_node(f"n{i}"))
    hog_client = clients[hog % len(clients)]
    for i in range(nodes):  # one client fills the farm first
        manager.submit_job(
            make_job(f"hog{i}", client=hog_client, hours=10, deadline_in=100, priority="low")
        )
    manager.run_scheduling_cycle()
    for client_id, demand in zip(clients, demands, strict=False):
        for i in range(demand):
            manager.submit_job(
                make_job(
                    f"{client_id}-{i}", client=client_id, hours=1, deadline_in=100, priority="low"
                )
            )
    manager.run_scheduling_cycle()
    total = sum(guarantees)
    scale = min(1.0, 100 / total) if total else 1.0
    running = dict.fromkeys(clients, 0)
    for job in manager.jobs.values():
        if job.status == RenderJobStatus.RUNNING:
            running[job.client_id] += 1
    for client_id, guarantee, demand in zip(clients, guarantees, demands, strict=False):
        owned = int(guarantee * scale * nodes / 100 + 1e-9)
        wanted = demand + (nodes if client_id == hog_client else 0)
        assert running[client_id] >= min(owned, wanted), (client_id, running)
    assert sum(running.values()) == min(nodes, nodes + sum(demands))
