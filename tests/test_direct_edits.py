"""Editing a model the manager holds is the same as calling the manager method it stands for:
checked against the transition table, applied through the change path, indexed and audited; an
illegal edit is refused with the documented error and changes nothing."""

import threading
from datetime import timedelta

import pytest
from builders import T0, make_client, make_farm, make_job, make_node, running_on
from pydantic import ValidationError

from render_farm_manager.core.errors import (
    DependencyCycleError,
    IllegalTransitionError,
    InvalidInputError,
    NodeUnavailableError,
    RenderFarmError,
    UnknownClientError,
)
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import JobPriority, NodeStatus, RenderJobStatus
from render_farm_manager.scheduling.deadline_scheduler import DeadlineScheduler

S = RenderJobStatus


def snapshot(manager):
    return (
        {k: v.model_dump() for k, v in manager.jobs.items()},
        {k: v.model_dump() for k, v in manager.nodes.items()},
        {k: v.model_dump() for k, v in manager.clients.items()},
        len(manager.audit_logger.entries),
        [j.id for j in manager.waiting_jobs()],
    )


# -- the three cases found from outside ----------------------------------------------------------


def test_cancelling_by_assignment_cancels_and_the_farm_keeps_working():
    manager, _ = make_farm(nodes=1)
    a, b = make_job("a"), make_job("b")
    manager.submit_job(a)
    manager.submit_job(b)
    a.status = "cancelled"
    assert a.status is S.CANCELLED
    assert [e.event_type for e in manager.audit_logger.get_job_history("a")][-1] == (
        "job_status_changed"
    )
    result = manager.run_scheduling_cycle()  # does not raise, and again
    assert result["jobs_scheduled"] == 1 and b.status is S.RUNNING
    manager.run_scheduling_cycle()
    assert manager.cancel_job("a") is False  # already finished, as if cancel_job was called


def test_a_job_put_on_a_node_by_assignment_is_seen_by_failure_handling():
    manager, _ = make_farm(nodes=1)
    job = make_job("j", supports_checkpoint=False)
    manager.submit_job(job)
    node = manager.nodes["n0"]
    job.status = "running"
    job.assigned_node_id = "n0"
    node.current_job_id = job.id
    assert job.status is S.RUNNING and node.current_job_id == "j" and job.assigned_node_id == "n0"
    assert manager.handle_node_failure("n0", "power supply") == ["j"]
    assert job.error_count == 1
    assert job.status is S.QUEUED and job.assigned_node_id is None
    assert node.current_job_id is None and node.status is NodeStatus.ERROR


def test_a_parent_completed_by_assignment_releases_its_children():
    manager, _ = make_farm(nodes=1)
    parent = make_job("parent")
    manager.submit_job(parent)
    manager.submit_job(make_job("child", dependencies=["parent"]))
    manager.run_scheduling_cycle()
    parent.status = "completed"
    assert parent.progress == 100 and manager.nodes["n0"].current_job_id is None
    manager.run_scheduling_cycle()
    assert manager.jobs["child"].status is S.RUNNING


# -- illegal edits are refused and change nothing ------------------------------------------------


@pytest.mark.parametrize(
    ("start", "edit", "error"),
    [
        ("cancelled", {"status": "completed"}, IllegalTransitionError),
        ("completed", {"status": "queued"}, IllegalTransitionError),
        ("running", {"status": "pending"}, IllegalTransitionError),
        ("queued", {"id": "renamed"}, InvalidInputError),
        ("queued", {"status": "bogus"}, ValidationError),
        ("queued", {"progress": float("nan")}, ValidationError),
        ("queued", {"progress": 120}, ValidationError),
        ("queued", {"client_id": "nobody"}, UnknownClientError),
        ("queued", {"dependencies": ["j"]}, DependencyCycleError),
        ("completed", {"priority": "high"}, RenderFarmError),
        ("running", {"dependencies": ["other"]}, IllegalTransitionError),
    ],
)
def test_an_illegal_edit_is_refused_and_changes_nothing(start, edit, error):
    manager, _ = make_farm(nodes=1)
    job = make_job("j")
    manager.submit_job(job)
    manager.submit_job(make_job("other"))
    if start != "queued":
        manager.start_job("j", "n0")
    if start == "completed":
        manager.complete_job("j")
    elif start == "cancelled":
        manager.cancel_job("j")
    before = snapshot(manager)
    ((field, value),) = edit.items()
    with pytest.raises(error):
        setattr(job, field, value)
    assert snapshot(manager) == before


def test_an_edit_that_would_close_a_dependency_cycle_names_the_cycle():
    manager, _ = make_farm()
    manager.submit_job(make_job("a"))
    manager.submit_job(make_job("b", dependencies=["a"]))
    manager.submit_job(make_job("c", dependencies=["b"]))
    with pytest.raises(DependencyCycleError, match="a -> c -> b -> a"):
        manager.jobs["a"].dependencies = ["c"]
    assert manager.jobs["a"].dependencies == []


def test_putting_a_job_on_a_busy_node_is_refused():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("a"))
    manager.submit_job(make_job("b"))
    manager.run_scheduling_cycle()
    before = snapshot(manager)
    with pytest.raises(NodeUnavailableError, match="busy with job a"):
        manager.jobs["b"].assigned_node_id = "n0"
    with pytest.raises(NodeUnavailableError):
        manager.nodes["n0"].current_job_id = "b"
    assert snapshot(manager) == before


# -- each field means what the manager method means ----------------------------------------------


def test_raising_a_priority_by_assignment_moves_the_job_up_the_queue():
    manager, _ = make_farm(nodes=0)
    manager.submit_job(make_job("first", priority="medium"))
    manager.submit_job(make_job("second", priority="low"))
    assert [j.id for j in manager.waiting_jobs()] == ["first", "second"]
    manager.jobs["second"].priority = "critical"
    assert [j.id for j in manager.waiting_jobs()] == ["second", "first"]
    updates = manager.audit_logger.get_logs_by_event_type("job_updated")
    assert updates[-1].job_id == "second" and updates[-1].details["new_priority"] == "critical"


def test_progress_by_assignment_is_recorded_and_100_completes():
    manager, clock = make_farm(nodes=1)
    job = make_job("j", supports_checkpoint=True)
    manager.submit_job(job)
    manager.run_scheduling_cycle()
    clock.advance(timedelta(minutes=30))
    job.progress = 40
    assert job.last_checkpoint_time == clock.now()
    job.progress = 100
    assert job.status is S.COMPLETED and manager.performance_metrics.total_jobs_completed == 1
    assert manager.nodes["n0"].current_job_id is None


def test_moving_a_running_job_by_assignment_frees_the_old_node():
    manager, _ = make_farm(nodes=2)
    job = make_job("j")
    manager.submit_job(job)
    manager.start_job("j", "n0")
    job.assigned_node_id = "n1"
    assert running_on(manager) == {"n1": "j"}
    job.assigned_node_id = None
    assert job.status is S.QUEUED and running_on(manager) == {}


def test_node_status_edits_take_the_job_off_the_node():
    manager, _ = make_farm(nodes=2)
    manager.submit_job(make_job("a"))
    manager.submit_job(make_job("b"))
    manager.run_scheduling_cycle()
    on = running_on(manager)
    manager.nodes["n0"].status = "offline"  # like set_node_online(n0, False): no error counted
    evicted = manager.jobs[on["n0"]]
    assert evicted.status is S.QUEUED and evicted.error_count == 0
    manager.nodes["n1"].status = "error"  # a failure: counted, as in handle_node_failure
    failed = manager.jobs[on["n1"]]
    assert failed.status is S.QUEUED and failed.error_count == 1
    assert manager.nodes["n1"].current_job_id is None
    manager.nodes["n0"].status = "online"
    manager.run_scheduling_cycle()
    assert set(running_on(manager)) == {"n0"}


def test_draining_by_assignment_finishes_the_job_then_goes_to_maintenance():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("j"))
    manager.run_scheduling_cycle()
    node = manager.nodes["n0"]
    node.draining = True
    manager.complete_job("j")
    assert node.status is NodeStatus.MAINTENANCE and node.draining is False


def test_a_new_dependency_by_assignment_makes_a_queued_job_wait():
    manager, _ = make_farm(nodes=2)
    manager.submit_job(make_job("parent"))
    job = make_job("job")
    manager.submit_job(job)
    job.dependencies = ["parent", "later"]
    assert "not been submitted" in job.blocked_reason
    manager.run_scheduling_cycle()
    assert job.status is S.PENDING and manager.jobs["parent"].status is S.RUNNING


def test_a_client_ceiling_edit_is_enforced_at_the_next_cycle():
    manager, _ = make_farm(nodes=4)
    for i in range(4):
        manager.submit_job(make_job(f"j{i}"))
    manager.clients["c1"].max_resources = 50
    result = manager.run_scheduling_cycle()
    assert result["jobs_scheduled"] == 2
    assert result["resources_allocated"]["c1"] == pytest.approx(50)
    change = manager.audit_logger.get_logs_by_event_type("client_updated")[-1]
    assert change.details["field"] == "max_resources" and change.details["new_value"] == 50


def test_a_ceiling_below_the_guarantee_is_refused_on_held_and_free_clients():
    manager, _ = make_farm(nodes=0, clients=())
    held = make_client("held", guaranteed=40, maximum=80)
    manager.add_client(held)
    free = make_client("free", guaranteed=40, maximum=80)
    for client in (held, free):
        with pytest.raises(ValidationError, match="max_resources"):
            client.max_resources = 20
        assert client.max_resources == 80


def test_node_capability_edits_are_seen_by_placement():
    manager, _ = make_farm(nodes=1)
    job = make_job("big", memory_requirements_gb=256)
    manager.submit_job(job)
    assert "no node in the farm can run it" in job.placement_warning
    manager.nodes["n0"].capabilities.memory_gb = 512
    assert job.placement_warning is None
    assert manager.run_scheduling_cycle()["jobs_scheduled"] == 1


def test_a_copy_of_a_held_model_is_a_new_object_the_manager_does_not_see():
    manager, _ = make_farm(nodes=1)
    job = make_job("j")
    manager.submit_job(job)
    copy = job.model_copy()
    copy.status = "cancelled"
    copy.priority = "critical"
    assert job.status is S.PENDING and job.priority is JobPriority.MEDIUM
    deep = job.model_copy(deep=True)
    deep.status = "cancelled"
    assert job.status is S.PENDING


def test_one_model_cannot_be_held_by_two_managers():
    first, _ = make_farm(nodes=0)
    second, _ = make_farm(nodes=0)
    node = make_node("shared")
    first.add_node(node)
    with pytest.raises(RenderFarmError, match="already held by another manager"):
        second.add_node(node)
    assert "shared" not in second.nodes
    second.add_node(node.model_copy())
    assert second.nodes["shared"] is not node


def test_a_removed_model_is_no_longer_watched():
    manager, _ = make_farm(nodes=1)
    node = manager.nodes["n0"]
    manager.remove_node("n0")
    node.status = "offline"  # a plain edit now
    assert node.status is NodeStatus.OFFLINE and "n0" not in manager.nodes


def test_edits_from_another_thread_wait_for_the_running_cycle():
    manager, _ = make_farm(nodes=4)
    jobs = [make_job(f"j{i}") for i in range(40)]
    for job in jobs:
        manager.submit_job(job)
    errors = []

    def edit_priorities():
        try:
            for job in jobs:
                job.priority = "high"
        except RenderFarmError as error:  # a job finished meanwhile
            errors.append(error)

    thread = threading.Thread(target=edit_priorities)
    thread.start()
    for _ in range(5):
        manager.run_scheduling_cycle()
    thread.join()
    assert not errors
    assert all(j.priority is JobPriority.HIGH for j in jobs)
    assert len(running_on(manager)) == 4


# -- a cycle is all or nothing -------------------------------------------------------------------


class DoubleBooking(DeadlineScheduler):
    """Places every waiting job on the first node: an impossible plan."""

    def plan_cycle(self, **kwargs):
        plan = super().plan_cycle(**kwargs)
        first = next(iter(kwargs["nodes"])).id
        plan.assignments = dict.fromkeys(plan.assignments, first)
        return plan


def test_a_cycle_that_raises_has_applied_nothing():
    manager, clock = make_farm(nodes=0, scheduler=DoubleBooking())
    for i in range(3):
        manager.add_node(make_node(f"n{i}"))
    for i in range(3):
        manager.submit_job(make_job(f"j{i}"))
    clock.advance(timedelta(hours=1))
    before = snapshot(manager)
    metrics = manager.performance_metrics.model_dump()
    with pytest.raises(NodeUnavailableError):
        manager.run_scheduling_cycle()
    assert snapshot(manager) == before
    assert manager.performance_metrics.model_dump() == metrics
    assert manager.last_cycle_plan is None


def test_a_user_clock_in_another_century_is_the_only_time_decisions_read():
    # Decisions never read the system clock: every recorded time is the manager's clock's.
    from datetime import datetime

    from render_farm_manager.core.clock import ManualClock

    clock = ManualClock(datetime(1999, 12, 31, 23, 0))
    manager = RenderFarmManager(clock=clock)
    manager.add_client(make_client("c1"))
    manager.add_node(make_node("n0"))
    manager.submit_job(make_job("j", now=clock.now(), supports_progressive_output=True))
    manager.run_scheduling_cycle()
    clock.advance(timedelta(hours=1))
    manager.run_scheduling_cycle()
    manager.complete_job("j")
    job = manager.jobs["j"]
    assert job.started_at.year == 1999 and job.completed_at.year == 2000
    assert {e.timestamp.year for e in manager.audit_logger.entries} <= {1999, 2000}
    assert manager.get_farm_status()["time"] == clock.now()
    assert T0.year != 1999


class PreemptsTheUnpreemptible(DeadlineScheduler):
    """Plans to preempt every running job, whatever its flags: an impossible plan."""

    def plan_cycle(self, **kwargs):
        from render_farm_manager.scheduling.cycle_plan import Preemption

        plan = super().plan_cycle(**kwargs)
        waiting = next(iter(kwargs["queue"].ids()), None)
        for node_id, job in kwargs["running_by_node"].items():
            if waiting is not None:
                plan.preemptions.append(Preemption(job.id, node_id, waiting, "deadline"))
                plan.assignments[waiting] = node_id
        return plan


def test_a_plan_that_preempts_protected_work_is_refused_whole():
    from render_farm_manager.core.errors import CyclePlanError

    manager, _ = make_farm(nodes=1, scheduler=PreemptsTheUnpreemptible())
    manager.submit_job(make_job("locked", can_be_preempted=False))
    manager.run_scheduling_cycle()
    manager.submit_job(make_job("other"))
    before = snapshot(manager)
    with pytest.raises(CyclePlanError, match="may not be preempted"):
        manager.run_scheduling_cycle()
    assert snapshot(manager) == before


# -- lists and dicts changed in place ------------------------------------------------------------


def test_a_dependency_appended_in_place_is_an_edit():
    manager, _ = make_farm(nodes=2)
    manager.submit_job(make_job("parent"))
    job = make_job("job")
    manager.submit_job(job)
    deps = job.dependencies
    deps.append("parent")
    deps.append("later")  # the same list, changed again: both count
    assert job.dependencies == ["parent", "later"] and deps == ["parent", "later"]
    assert "not been submitted" in job.blocked_reason
    manager.run_scheduling_cycle()
    assert job.status is S.PENDING
    job.dependencies.remove("later")
    manager.complete_job("parent")
    manager.run_scheduling_cycle()
    assert job.status is S.RUNNING


def test_an_in_place_change_that_would_close_a_cycle_is_refused_and_the_list_kept():
    manager, _ = make_farm()
    manager.submit_job(make_job("a"))
    manager.submit_job(make_job("b", dependencies=["a"]))
    deps = manager.jobs["a"].dependencies
    before = snapshot(manager)
    with pytest.raises(DependencyCycleError):
        deps.append("b")
    with pytest.raises(DependencyCycleError):
        manager.jobs["a"].dependencies += ["b"]
    assert deps == [] and snapshot(manager) == before


def test_hardware_tags_and_learned_speeds_changed_in_place_are_seen():
    manager, _ = make_farm(nodes=0)
    manager.add_node(make_node("plain"))
    manager.add_node(make_node("other"))
    manager.nodes["other"].capabilities.specialized_for.append("animation")
    manager.submit_job(make_job("j"))  # an animation job: the tagged node scores higher
    manager.run_scheduling_cycle()
    assert manager.jobs["j"].assigned_node_id == "other"
    manager.nodes["plain"].performance_history["lighting"] = 4.0
    assert manager.node_specializer.expected_speed(manager.nodes["plain"], "lighting") == 4.0
    with pytest.raises(ValidationError):
        manager.nodes["plain"].performance_history["lighting"] = -1.0
    assert manager.nodes["plain"].performance_history == {"lighting": 4.0}
    assert manager.audit_logger.get_logs_by_event_type("node_field_changed")


def test_copies_of_held_lists_are_plain_lists():
    import copy
    import pickle

    manager, _ = make_farm()
    job = make_job("j", dependencies=["x"])
    manager.submit_job(job)
    assert type(copy.deepcopy(job).dependencies) is list
    assert type(pickle.loads(pickle.dumps(job)).dependencies) is list
    assert job.model_dump()["dependencies"] == ["x"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda deps: deps.insert(0, "z"), ["z", "a", "b"]),
        (lambda deps: deps.pop(), ["a"]),
        (lambda deps: deps.clear(), []),
        (lambda deps: deps.sort(reverse=True), ["b", "a"]),
        (lambda deps: deps.reverse(), ["b", "a"]),
        (lambda deps: deps.__setitem__(0, "c"), ["c", "b"]),
        (lambda deps: deps.__delitem__(0), ["b"]),
        (lambda deps: deps.extend(["c"]), ["a", "b", "c"]),
        (lambda deps: deps.__imul__(1), ["a", "b"]),
    ],
)
def test_every_in_place_list_change_of_a_held_job_is_an_edit(change, expected):
    manager, _ = make_farm()
    job = make_job("j", dependencies=["a", "b"])
    manager.submit_job(job)
    history = len(manager.audit_logger.get_job_history("j"))
    change(job.dependencies)
    assert job.dependencies == expected
    assert manager.get_job_status("j")["blocked_reason"] == (
        f"waiting for job {expected[0]!r}, which has not been submitted" if expected else None
    )
    if expected != ["a", "b"]:
        assert len(manager.audit_logger.get_job_history("j")) > history


def test_every_in_place_dict_change_of_a_held_node_is_an_edit():
    manager, _ = make_farm(nodes=1)
    history = manager.nodes["n0"].performance_history
    history.update({"lighting": 2.0, "vfx": 3.0})
    history.setdefault("compositing", 1.5)
    assert history.setdefault("lighting", 9.0) == 2.0
    history.pop("vfx")
    del history["compositing"]
    history |= {"fx": 1.2}
    assert manager.nodes["n0"].performance_history == {"lighting": 2.0, "fx": 1.2}
    assert history.popitem() == ("fx", 1.2)
    history.clear()
    assert manager.nodes["n0"].performance_history == {}
    assert len(manager.audit_logger.get_logs_by_event_type("node_field_changed")) >= 6


def test_status_edits_cover_every_move_of_the_transition_table():
    manager, _ = make_farm(nodes=1)
    job = make_job("j", supports_checkpoint=True)
    manager.submit_job(job)
    job.status = "queued"  # pending -> queued: only the label
    job.status = "pending"
    assert [j.id for j in manager.waiting_jobs()] == ["j"]
    job.status = "running"
    job.progress = 30
    job.status = "queued"  # back to the queue, keeping its checkpoint
    assert job.progress == 30 and manager.nodes["n0"].current_job_id is None
    job.status = "paused"
    assert manager.waiting_jobs() == []
    job.status = "queued"  # resumed
    job.status = "failed"
    assert job.failure_reason == "set to failed by an operator"
    job.status = "queued"  # retried
    assert job.error_count == 0 and job.failure_reason is None
    job.assigned_node_id = None  # not on a node: only the record
    manager.run_scheduling_cycle()
    assert job.status is S.RUNNING


def test_plain_fields_of_held_models_are_written_and_audited():
    manager, _ = make_farm(nodes=1)
    job = make_job("j")
    manager.submit_job(job)
    job.name = "Shot 010, final"
    job.deadline = job.deadline + timedelta(days=1)
    manager.nodes["n0"].name = "renderbox-01"
    manager.nodes["n0"].status = "online"  # unchanged: nothing to do
    manager.clients["c1"].name = "Northlight"
    manager.clients["c1"].sla_tier = "premium"
    assert job.name == "Shot 010, final" and manager.clients["c1"].sla_tier == "premium"
    kinds = {e.event_type for e in manager.audit_logger.entries}
    assert {"job_field_changed", "node_field_changed", "client_field_changed"} <= kinds
    assert manager.audit_logger.get_logs_by_event_type("client_updated")[-1].details[
        "new_tier"
    ] == ("premium")
    with pytest.raises(InvalidInputError, match="cannot change"):
        manager.clients["c1"].id = "other"
    with pytest.raises(InvalidInputError, match="cannot change"):
        manager.nodes["n0"].id = "other"
