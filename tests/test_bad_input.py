"""Bad input is refused, and a refused call changes nothing.

Every public method of :class:`RenderFarmManager` (and every model constructor and assignment)
refuses wrong types, None where a value is needed, NaN, infinities, values past what the farm can
represent, unknown ids where the method raises for them and illegal transitions, with an error
derived from :class:`RenderFarmError` (or, for model fields, a pydantic ``ValidationError`` naming
the field). A call that raises leaves behind no change: not in the manager's jobs, nodes and
clients, not in the object the caller gave, not in the audit log, and not in later behaviour (the
next scheduling cycle does what it would have done without the refused call).

The example tests pin the known cases; the property tests draw a farm in a random valid state and
one bad call (or one bad edit of a held model) at random.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from builders import T0, make_client, make_farm, make_job, make_node
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from render_farm_manager import RenderFarmError
from render_farm_manager.core.clock import ManualClock
from render_farm_manager.core.errors import (
    ClockError,
    DependencyCycleError,
    DuplicateIdError,
    IllegalTransitionError,
    InvalidInputError,
    UnknownClientError,
)
from render_farm_manager.core.lifecycle import TRANSITIONS
from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import (
    Client,
    NodeCapabilities,
    ProgressiveOutputConfig,
    RenderClient,
    RenderJob,
    RenderJobStatus,
)
from render_farm_manager.energy_optimization.energy_optimizer import EnergyOptimizer
from render_farm_manager.energy_optimization.tariff import TimeOfUseTariff
from render_farm_manager.utils.logging import AuditLogger, PerformanceMonitor

S = RenderJobStatus
NAN = float("nan")
INF = float("inf")
HUGE_INT = 10**400
"""Too large for a float: ``float(HUGE_INT)`` raises OverflowError."""
REFUSED = (RenderFarmError, ValidationError)


def show(value: Any) -> str:
    """A short test id for a parameter."""
    return "10**400" if value == HUGE_INT else repr(value)


PROPERTY_SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- helpers -------------------------------------------------------------------------------------


def snapshot(manager: RenderFarmManager) -> dict[str, Any]:
    """Everything a refused call must leave as it was."""
    return {
        "clients": {k: c.model_dump() for k, c in manager.clients.items()},
        "nodes": {k: n.model_dump() for k, n in manager.nodes.items()},
        "jobs": {k: j.model_dump() for k, j in manager.jobs.items()},
        "objects": {
            kind: {k: id(v) for k, v in held.items()}
            for kind, held in (
                ("clients", manager.clients),
                ("nodes", manager.nodes),
                ("jobs", manager.jobs),
            )
        },
        "metrics": manager.performance_metrics.model_dump(),
        "audit_entries": len(manager.audit_logger.entries),
        "allocations": {k: a.model_dump() for k, a in manager.resource_allocations.items()},
        "waiting": [j.id for j in manager.waiting_jobs()],
        "waiting_by_client": manager.waiting_by_client(),
        "queue_length": manager.queue_length,
        "energy_mode": str(manager.energy_optimizer.current_energy_mode),
        "progressive_config": manager.progressive_output_config.model_dump(),
    }


def twin_snapshot(manager: RenderFarmManager) -> dict[str, Any]:
    """The snapshot without object identities, to compare two farms built the same way. Of
    ``allocated_nodes`` only the count is compared (which node ids are reported is pinned by
    ``test_a_refused_call_does_not_change_the_nodes_reported_in_later_allocations``)."""
    state = snapshot(manager)
    del state["objects"]
    for allocation in state["allocations"].values():
        allocation["allocated_nodes"] = len(allocation["allocated_nodes"])
    return state


def assert_changes_nothing(manager: RenderFarmManager, call: Any, *errors: type[BaseException]):
    """``call()`` raises one of ``errors`` (the project's root by default) and changes nothing;
    returns the error."""
    before = snapshot(manager)
    plan = manager.last_cycle_plan
    with pytest.raises(errors or (RenderFarmError,)) as raised:
        call()
    assert snapshot(manager) == before
    assert manager.last_cycle_plan is plan
    return raised.value


def running_farm(**kwargs: Any) -> tuple[RenderFarmManager, ManualClock]:
    """Two nodes; ``a`` and ``b`` running, ``c`` queued."""
    manager, clock = make_farm(nodes=2, **kwargs)
    for job_id in ("a", "b", "c"):
        manager.submit_job(make_job(job_id, supports_checkpoint=True))
    manager.run_scheduling_cycle()
    assert {manager.jobs[j].status for j in ("a", "b")} == {S.RUNNING}
    assert manager.jobs["c"].status is S.QUEUED
    return manager, clock


def field_names(error: ValidationError) -> set[str]:
    return {str(part) for item in error.errors() for part in item["loc"]}


class SwitchableClock:
    """A manual clock that can be told to return garbage instead of a datetime."""

    def __init__(self, start: datetime) -> None:
        self.inner = ManualClock(start)
        self.broken = False
        self.bad: object = None

    def now(self) -> Any:
        return self.bad if self.broken else self.inner.now()

    def break_with(self, bad: object) -> None:
        self.broken, self.bad = True, bad

    def repair(self) -> None:
        self.broken = False

    def advance(self, delta: timedelta) -> datetime:
        return self.inner.advance(delta)


# ===============================================================================================
# 1. Example tests: the known cases
# ===============================================================================================


@pytest.mark.parametrize("hours", ["1.5", NAN, INF, 0, -1, HUGE_INT], ids=show)
def test_complete_job_refuses_a_bad_render_time(hours):
    manager, _ = running_farm()
    twin, _ = running_farm()
    error = assert_changes_nothing(
        manager, lambda: manager.complete_job("a", render_time_hours=hours), InvalidInputError
    )
    assert "render_time_hours" in str(error) and "'a'" in str(error)
    assert manager.jobs["a"].status is S.RUNNING
    assert manager.run_scheduling_cycle() == twin.run_scheduling_cycle()
    assert manager.complete_job("a", render_time_hours=1.5) is True
    assert manager.jobs["a"].status is S.COMPLETED


@pytest.mark.parametrize("hours", [1e8, INF, 1e300], ids=show)
def test_a_job_with_an_unrepresentable_duration_is_refused_at_construction(hours):
    with pytest.raises(ValidationError) as raised:
        make_job("big", hours=hours)
    assert "estimated_duration_hours" in field_names(raised.value)
    # Nor can a valid job be edited to it, whether held or not.
    manager, _ = running_farm()
    free = make_job("free")
    with pytest.raises(ValidationError) as raised:
        free.estimated_duration_hours = hours
    assert "estimated_duration_hours" in field_names(raised.value)
    assert free.estimated_duration_hours == 2.0
    held = manager.jobs["c"]
    error = assert_changes_nothing(
        manager, lambda: setattr(held, "estimated_duration_hours", hours), ValidationError
    )
    assert "estimated_duration_hours" in field_names(error)


@pytest.mark.parametrize("deadline", [datetime.min, datetime.max], ids=show)
def test_a_job_with_a_deadline_outside_the_farms_time_is_refused(deadline):
    with pytest.raises(ValidationError) as raised:
        RenderJob(
            id="old",
            name="old",
            client_id="c1",
            deadline=deadline,
            estimated_duration_hours=1,
        )
    assert "deadline" in field_names(raised.value)
    manager, _ = running_farm()
    held = manager.jobs["c"]
    error = assert_changes_nothing(
        manager, lambda: setattr(held, "deadline", deadline), ValidationError
    )
    assert "deadline" in field_names(error)


def test_a_clock_returning_aware_times_works():
    aware_now = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
    local_now = aware_now.astimezone().replace(tzinfo=None)
    manager = RenderFarmManager(clock=lambda: aware_now)
    manager.add_client(make_client())
    manager.add_node(make_node("n0"))
    job = make_job("a", now=local_now).model_copy(update={"submission_time": None})
    manager.submit_job(job)
    assert job.submission_time == local_now and job.submission_time.tzinfo is None
    # An aware deadline given with the naive farm times is converted too.
    manager.submit_job(make_job("b", now=local_now))
    aware_deadline = make_job("d", now=aware_now, deadline_in=30)  # converted at construction
    assert aware_deadline.deadline == local_now + timedelta(hours=30)
    assert aware_deadline.deadline.tzinfo is None
    manager.jobs["b"].deadline = aware_now + timedelta(hours=60)  # an aware edit is converted
    assert manager.jobs["b"].deadline == local_now + timedelta(hours=60)
    assert manager.jobs["b"].deadline.tzinfo is None
    assert manager.run_scheduling_cycle()["jobs_scheduled"] == 1
    status = manager.get_job_status("a")
    assert status is not None and status["status"] == "running"
    assert manager.update_job_progress("a", 50) is True
    assert manager.complete_job("a") is True


def test_a_naive_clock_takes_aware_job_times():
    manager, _ = make_farm(nodes=1)
    aware_t0 = T0.astimezone(timezone(timedelta(hours=5)))
    job = make_job("a", now=aware_t0)
    assert job.submission_time == T0 and job.submission_time.tzinfo is None
    manager.submit_job(job)
    assert manager.run_scheduling_cycle()["jobs_scheduled"] == 1


@pytest.mark.parametrize("garbage", ["2026-11-23 22:00", None, 1_700_000_000.0, T0.date()])
def test_a_clock_returning_something_else_refuses_submission_and_stores_nothing(garbage):
    clock = SwitchableClock(T0)
    manager = RenderFarmManager(clock=clock)
    manager.add_client(make_client())
    manager.add_node(make_node("n0"))
    job = make_job("a")
    given_before = job.model_dump()
    before = snapshot(manager)
    clock.break_with(garbage)
    with pytest.raises(ClockError):
        manager.submit_job(job)
    clock.repair()
    assert snapshot(manager) == before
    assert manager.jobs == {}
    assert job.model_dump() == given_before
    # Nothing is left behind: the same job can be submitted and runs.
    manager.submit_job(job)
    assert manager.run_scheduling_cycle()["jobs_scheduled"] == 1


def _clock_cases() -> list[tuple[str, Any]]:
    return [
        ("add_client", lambda m: m.add_client(make_client("c9"))),
        ("add_node", lambda m: m.add_node(make_node("n9"))),
        ("remove_node", lambda m: m.remove_node("n1")),
        ("submit_job", lambda m: m.submit_job(make_job("new"))),
        ("submit_emergency_job", lambda m: m.submit_emergency_job(make_job("new"))),
        ("cancel_job", lambda m: m.cancel_job("c")),
        ("pause_job", lambda m: m.pause_job("a")),
        ("update_job_priority", lambda m: m.update_job_priority("c", "high")),
        ("update_job_progress", lambda m: m.update_job_progress("a", 40)),
        ("complete_job", lambda m: m.complete_job("a")),
        ("set_node_online", lambda m: m.set_node_online("n0", False)),
        ("handle_node_failure", lambda m: m.handle_node_failure("n0", "power")),
        ("report_render_error", lambda m: m.report_render_error("a", "crash")),
        ("update_client_tier", lambda m: m.update_client_tier("c1", "premium")),
        ("set_energy_mode", lambda m: m.set_energy_mode("efficiency")),
        (
            "set_progressive_output_config",
            lambda m: m.set_progressive_output_config(ProgressiveOutputConfig(interval_minutes=5)),
        ),
        ("run_scheduling_cycle", lambda m: m.run_scheduling_cycle()),
        ("edit job.name", lambda m: setattr(m.jobs["c"], "name", "renamed")),
    ]


@pytest.mark.parametrize(("name", "call"), _clock_cases(), ids=[n for n, _ in _clock_cases()])
def test_a_clock_returning_a_string_makes_every_change_refused_and_changes_nothing(name, call):
    clock = SwitchableClock(T0)
    manager = RenderFarmManager(clock=clock)
    twin = RenderFarmManager(clock=ManualClock(T0))
    for farm in (manager, twin):
        farm.add_client(make_client())
        farm.add_node(make_node("n0"))
        farm.add_node(make_node("n1"))
        for job_id in ("a", "b", "c"):
            farm.submit_job(make_job(job_id))
        farm.run_scheduling_cycle()
    before = snapshot(manager)
    assert twin_snapshot(twin) == twin_snapshot(manager)
    clock.break_with("2026-11-23 22:00")
    with pytest.raises(ClockError):
        call(manager)
    clock.repair()
    assert snapshot(manager) == before, f"{name} with a broken clock changed the farm"
    assert manager.run_scheduling_cycle() == twin.run_scheduling_cycle()
    assert twin_snapshot(manager) == twin_snapshot(twin)


def test_a_clock_that_is_neither_a_clock_nor_callable_is_refused():
    with pytest.raises(RenderFarmError) as raised:
        RenderFarmManager(clock=5)  # type: ignore[arg-type]
    assert "clock" in str(raised.value)


def test_a_refused_call_does_not_change_which_job_runs_next():
    def farm() -> RenderFarmManager:
        manager, _ = make_farm(nodes=1)
        manager.submit_job(make_job("a", supports_checkpoint=True))
        manager.submit_job(make_job("b", supports_checkpoint=True))
        manager.run_scheduling_cycle()
        manager.handle_node_failure("n0", "power")  # a goes back to the queue, behind b
        manager.set_node_online("n0")
        return manager

    manager, twin = farm(), farm()
    assert [j.id for j in manager.waiting_jobs()] == ["b", "a"]
    assert_changes_nothing(manager, lambda: manager.cancel_job(123), InvalidInputError)
    assert [j.id for j in manager.waiting_jobs()] == ["b", "a"]
    assert manager.run_scheduling_cycle() == twin.run_scheduling_cycle()
    assert manager.jobs["b"].status is S.RUNNING and manager.jobs["a"].status is S.QUEUED
    assert twin_snapshot(manager) == twin_snapshot(twin)


def test_a_refused_call_does_not_change_the_nodes_reported_in_later_allocations():
    manager, _ = running_farm()
    twin, _ = running_farm()
    assert_changes_nothing(manager, lambda: manager.cancel_job(123), InvalidInputError)
    assert manager.run_scheduling_cycle() == twin.run_scheduling_cycle()
    assert snapshot(manager)["allocations"] == snapshot(twin)["allocations"]


@pytest.mark.parametrize(
    "config",
    [None, "fast", 30, {"junk": 1}, {"interval_minutes": NAN}, {"quality_levels": []}],
    ids=show,
)
def test_a_bad_progressive_config_is_refused_and_the_old_one_kept(config):
    def farm() -> tuple[RenderFarmManager, ManualClock]:
        manager, clock = make_farm(nodes=1)
        manager.set_progressive_output_config(ProgressiveOutputConfig(interval_minutes=10))
        return manager, clock

    manager, clock = farm()
    twin, twin_clock = farm()
    old = manager.progressive_output_config
    error = assert_changes_nothing(
        manager, lambda: manager.set_progressive_output_config(config), *REFUSED
    )
    if isinstance(error, InvalidInputError):
        assert "config" in str(error)
    assert manager.progressive_output_config is old
    assert manager.progressive_output_config.interval_minutes == 10
    # The next cycles with a progressive job work, exactly as on a farm never given the config.
    for farm_ in (manager, twin):
        farm_.submit_job(make_job("p", hours=4, supports_progressive_output=True))
    assert manager.run_scheduling_cycle() == twin.run_scheduling_cycle()
    assert manager.jobs["p"].status is S.RUNNING
    for _ in range(4):
        clock.advance(timedelta(minutes=20))
        twin_clock.advance(timedelta(minutes=20))
        assert manager.run_scheduling_cycle() == twin.run_scheduling_cycle()
    assert twin_snapshot(manager) == twin_snapshot(twin)


def test_submit_emergency_job_with_a_stored_id_changes_neither_the_stored_nor_the_given_job():
    manager, _ = running_farm()
    stored = manager.jobs["c"]
    given_job = make_job("c", priority="low")
    given_before = given_job.model_dump()
    error = assert_changes_nothing(
        manager, lambda: manager.submit_emergency_job(given_job), DuplicateIdError
    )
    assert "'c'" in str(error)
    assert manager.jobs["c"] is stored
    assert given_job.model_dump() == given_before
    assert given_job.emergency is False and given_job.priority == "low"
    # The given object is not held: editing it does not touch the farm.
    before = snapshot(manager)
    given_job.name = "renamed"
    assert snapshot(manager) == before


def test_update_job_progress_refuses_nan_and_does_not_complete_the_job():
    manager, _ = running_farm()
    error = assert_changes_nothing(
        manager, lambda: manager.update_job_progress("a", NAN), InvalidInputError
    )
    assert "progress" in str(error) and "'a'" in str(error)
    assert manager.jobs["a"].status is S.RUNNING
    assert manager.jobs["a"].progress == 0
    assert manager.performance_metrics.total_jobs_completed == 0


@pytest.mark.parametrize("progress", [INF, -INF, HUGE_INT, "50", None, True], ids=show)
def test_update_job_progress_refuses_other_bad_values(progress):
    manager, _ = running_farm()
    assert_changes_nothing(
        manager, lambda: manager.update_job_progress("a", progress), InvalidInputError
    )
    assert manager.jobs["a"].status is S.RUNNING


def test_retry_of_a_failed_job_whose_client_was_removed_is_refused():
    manager, _ = make_farm(nodes=1, clients=("c1", "c2"))
    manager.submit_job(make_job("x", client="c2"))
    manager.run_scheduling_cycle()
    assert manager.report_render_error("x", "scene unreadable", corrupt_scene=True) == "failed"
    assert manager.remove_client("c2") is True
    error = assert_changes_nothing(manager, lambda: manager.retry_job("x"), UnknownClientError)
    assert "'c2'" in str(error)
    assert manager.jobs["x"].status is S.FAILED
    manager.run_scheduling_cycle()
    assert manager.jobs["x"].status is S.FAILED


def test_a_retried_job_has_no_node():
    manager, _ = make_farm(nodes=1)
    manager.submit_job(make_job("x"))
    manager.run_scheduling_cycle()
    manager.report_render_error("x", "scene unreadable", corrupt_scene=True)
    assert manager.retry_job("x") is True
    job = manager.jobs["x"]
    assert job.status is S.QUEUED and job.assigned_node_id is None
    assert manager.nodes["n0"].current_job_id is None
    assert manager.run_scheduling_cycle()["jobs_scheduled"] == 1
    assert job.assigned_node_id == "n0" and manager.nodes["n0"].current_job_id == "x"


@pytest.mark.parametrize("kind", [Client, RenderClient])
def test_a_ceiling_below_the_guarantee_is_refused_on_a_free_and_on_a_held_client(kind):
    def build() -> Client | RenderClient:
        if kind is Client:
            return Client(id="g", name="g", guaranteed_resources=40, max_resources=80)
        return RenderClient(client_id="g", name="g", guaranteed_resources=40, max_resources=80)

    free = build()
    with pytest.raises(ValidationError) as raised:
        free.max_resources = 30
    assert "max_resources" in str(raised.value)
    assert free.max_resources == 80
    with pytest.raises(ValidationError):
        free.guaranteed_resources = 90
    assert free.guaranteed_resources == 40

    manager, _ = make_farm(nodes=1, clients=())
    held = build()
    manager.add_client(held)
    error = assert_changes_nothing(
        manager, lambda: setattr(held, "max_resources", 30), ValidationError
    )
    assert "max_resources" in str(error)
    assert_changes_nothing(manager, lambda: setattr(held, "guaranteed_resources", 90), *REFUSED)
    assert held.max_resources == 80 and held.guaranteed_resources == 40


def test_a_client_constructed_with_its_ceiling_below_its_guarantee_is_refused():
    with pytest.raises(ValidationError) as raised:
        RenderClient(client_id="x", name="x", guaranteed_resources=60, max_resources=50)
    assert "max_resources" in str(raised.value)
    with pytest.raises(ValidationError):
        Client(id="x", name="x", guaranteed_resources=60, max_resources=50)


def test_node_capabilities_too_large_to_represent_are_refused():
    with pytest.raises(ValidationError) as raised:
        NodeCapabilities(cpu_cores=HUGE_INT, memory_gb=64)
    assert "cpu_cores" in field_names(raised.value)
    manager, _ = running_farm()
    caps = manager.nodes["n0"].capabilities
    error = assert_changes_nothing(
        manager, lambda: setattr(caps, "cpu_cores", HUGE_INT), ValidationError
    )
    assert "cpu_cores" in field_names(error)
    assert manager.nodes["n0"].capabilities.cpu_cores == 32


@pytest.mark.parametrize("argument", ["max_job_errors", "node_blocklist_threshold"])
@pytest.mark.parametrize("value", [NAN, 0, "3", True, None, 2.5, -1], ids=show)
def test_manager_settings_must_be_whole_numbers(argument, value):
    with pytest.raises(InvalidInputError) as raised:
        RenderFarmManager(**{argument: value})
    assert argument in str(raised.value)


def test_a_job_submitted_from_the_future_is_refused():
    manager, clock = make_farm(nodes=1)
    job = make_job("f", now=T0 + timedelta(hours=1))
    given_before = job.model_dump()
    error = assert_changes_nothing(manager, lambda: manager.submit_job(job), InvalidInputError)
    assert "submission_time" in str(error) and "'f'" in str(error)
    assert job.model_dump() == given_before
    assert manager.jobs == {}
    clock.advance(timedelta(hours=1))
    assert manager.submit_job(job) == "f"


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda m: m.get_job_status(None), "job_id"),
        (lambda m: m.cancel_job(123), "job_id"),
        (lambda m: m.set_node_online(["n"]), "node_id"),
        (lambda m: m.get_client_status(1.5), "client_id"),
        (lambda m: m.remove_node(None), "node_id"),
        (lambda m: m.update_job_progress(None, 50), "job_id"),
    ],
    ids=["get_job_status", "cancel_job", "set_node_online", "get_client_status", "remove_node",
         "update_job_progress"],
)  # fmt: skip
def test_ids_of_the_wrong_type_are_refused(call, argument):
    manager, _ = running_farm()
    error = assert_changes_nothing(manager, lambda: call(manager), InvalidInputError)
    assert argument in str(error)


@pytest.mark.parametrize(
    ("call", "value"),
    [
        (lambda m: m.update_job_priority("c", "urgent"), "'urgent'"),
        (lambda m: m.set_energy_mode("turbo"), "'turbo'"),
        (lambda m: m.update_client_tier("c1", "gold"), "'gold'"),
    ],
    ids=["update_job_priority", "set_energy_mode", "update_client_tier"],
)
def test_unknown_choices_are_refused_naming_the_value(call, value):
    manager, _ = running_farm()
    error = assert_changes_nothing(manager, lambda: call(manager), InvalidInputError)
    assert isinstance(error, ValueError)
    assert value in str(error)


@pytest.mark.parametrize("ignore", [5, 1.5, True], ids=show)
def test_power_down_advice_refuses_an_ignore_that_is_not_a_set_of_ids(ignore):
    manager, _ = running_farm()
    assert manager.queue_length >= 1
    error = assert_changes_nothing(
        manager, lambda: manager.get_power_down_candidates(ignore=ignore), InvalidInputError
    )
    assert "ignore" in str(error)


# ===============================================================================================
# 3. Example tests: edits of held models that must be refused
# ===============================================================================================


def test_edits_of_a_held_job_that_must_be_refused():
    manager, _ = running_farm()
    job = manager.jobs["c"]
    error = assert_changes_nothing(manager, lambda: setattr(job, "id", "x"), *REFUSED)
    assert job.id == "c" and "x" not in manager.jobs
    if isinstance(error, InvalidInputError):
        assert "'c'" in str(error)
    error = assert_changes_nothing(manager, lambda: setattr(job, "status", "bogus"), *REFUSED)
    assert job.status is S.QUEUED
    error = assert_changes_nothing(manager, lambda: setattr(job, "progress", NAN), *REFUSED)
    assert job.progress == 0
    error = assert_changes_nothing(
        manager, lambda: setattr(job, "dependencies", ["c"]), DependencyCycleError
    )
    assert job.dependencies == []
    assert manager.cancel_job("c") is True
    assert_changes_nothing(
        manager, lambda: setattr(job, "status", "completed"), IllegalTransitionError
    )
    assert job.status is S.CANCELLED
    assert manager.performance_metrics.total_jobs_completed == 0
    assert manager.run_scheduling_cycle()["jobs_scheduled"] == 0


def test_refused_field_edits_name_the_field():
    manager, _ = running_farm()
    job = manager.jobs["c"]
    for name, value in (("status", "bogus"), ("progress", NAN), ("priority", "urgent")):
        error = assert_changes_nothing(
            manager,
            lambda name=name, value=value: setattr(job, name, value),
            ValidationError,
        )
        assert name in field_names(error)


# ===============================================================================================
# 2. Property tests: a random valid farm, one bad call drawn at random
# ===============================================================================================

JOB_SPEC = st.fixed_dictionaries(
    {
        "hours": st.floats(0.5, 8),
        "deadline_in": st.floats(6, 96),
        "priority": st.sampled_from(["low", "medium", "high", "critical"]),
        "client": st.sampled_from(["c1", "c2"]),
        "supports_checkpoint": st.booleans(),
        "supports_progressive_output": st.booleans(),
        "energy_intensive": st.booleans(),
        "after_previous": st.booleans(),
    }
)
OPERATION = st.one_of(
    st.tuples(st.just("advance"), st.integers(1, 240)),
    st.tuples(st.just("progress"), st.integers(0, 20), st.floats(0, 99)),
    st.tuples(st.just("complete"), st.integers(0, 20)),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("priority"), st.integers(0, 20), st.sampled_from(["low", "critical"])),
    st.tuples(st.just("cycle")),
    st.tuples(st.just("node_failure"), st.integers(0, 3)),
    st.tuples(st.just("node_online"), st.integers(0, 3)),
    st.tuples(st.just("render_error"), st.integers(0, 20)),
    st.tuples(st.just("energy"), st.sampled_from(["balanced", "efficiency", "performance"])),
)


DEFAULT_TARIFF = TimeOfUseTariff.peak_off_peak(time(8, 0), time(20, 0), 0.15, 0.08)
"""The energy optimizer's default tariff, built once for every farm of the property tests."""


@dataclass(frozen=True)
class FarmPlan:
    nodes: int
    jobs: list[dict[str, Any]]
    operations: list[tuple[Any, ...]]


@st.composite
def farm_plans(draw: st.DrawFn) -> FarmPlan:
    nodes = draw(st.integers(2, 4))
    jobs = draw(st.lists(JOB_SPEC, min_size=nodes + 3, max_size=nodes + 5))
    operations = draw(st.lists(OPERATION, max_size=6))
    return FarmPlan(nodes, jobs, operations)


def build(plan: FarmPlan) -> tuple[RenderFarmManager, ManualClock]:
    """A farm in a valid state: some jobs running, some waiting, one failed, one paused, then a
    few valid operations. Built the same way twice, it is the same farm."""
    log = AuditLogger()
    monitor = PerformanceMonitor(log)
    manager, clock = make_farm(
        nodes=plan.nodes,
        clients=(),
        audit_logger=log,
        performance_monitor=monitor,
        energy_optimizer=EnergyOptimizer(log, monitor, tariff=DEFAULT_TARIFF),
    )
    manager.add_client(make_client("c1", guaranteed=30, maximum=80))
    manager.add_client(make_client("c2", guaranteed=20, maximum=60))
    ids = [f"j{i}" for i in range(len(plan.jobs))]
    for i, spec in enumerate(plan.jobs):
        fields = dict(spec)
        after_previous = fields.pop("after_previous")
        client = fields.pop("client")
        # The first jobs are independent, so that some run and some wait after the first cycle.
        deps = [ids[i - 1]] if after_previous and i > plan.nodes + 1 else []
        manager.submit_job(
            make_job(ids[i], client=client, now=clock.now(), dependencies=deps, **fields)
        )
    manager.run_scheduling_cycle()
    running = sorted(j.id for j in manager.jobs.values() if j.status is S.RUNNING)
    assert running, "the first cycle starts something"
    assert manager.report_render_error(running[0], "scene unreadable", corrupt_scene=True) == (
        "failed"
    )
    queued = sorted(j.id for j in manager.jobs.values() if j.status is S.QUEUED)
    assert queued, "more independent jobs than nodes: some wait"
    assert manager.pause_job(queued[0]) is True
    for operation in plan.operations:
        kind, *args = operation
        job_id = ids[args[0] % len(ids)] if args and isinstance(args[0], int) else None
        node_id = f"n{args[0] % plan.nodes}" if args and isinstance(args[0], int) else None
        if kind == "advance":
            clock.advance(timedelta(minutes=args[0]))
        elif kind == "progress":
            manager.update_job_progress(job_id, args[1])
        elif kind == "complete":
            manager.complete_job(job_id)
        elif kind == "cancel":
            manager.cancel_job(job_id)
        elif kind == "priority":
            manager.update_job_priority(job_id, args[1])
        elif kind == "cycle":
            manager.run_scheduling_cycle()
        elif kind == "node_failure":
            manager.handle_node_failure(node_id, "power supply")
        elif kind == "node_online":
            manager.set_node_online(node_id, True)
        elif kind == "render_error":
            if manager.jobs[job_id].status is S.RUNNING:
                manager.report_render_error(job_id, "renderer crashed")
        elif kind == "energy":
            manager.set_energy_mode(args[0])
    return manager, clock


@dataclass
class Call:
    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    may_decline: bool = False
    """The method documents False/None for this case (an unknown id, a job in the wrong state)."""

    def __repr__(self) -> str:
        shown = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"manager.{self.method}({', '.join(shown)})"


def _call(method: str, may_decline: bool, *args: Any, **kwargs: Any) -> Call:
    return Call(method, args, kwargs, may_decline)


def call_of(method: str, *args: Any, may_decline: bool = False, **kwargs: Any):
    """A strategy of calls of ``method`` with arguments drawn from the given strategies."""
    return st.builds(partial(_call, method, may_decline), *args, **kwargs)


def one(*values: Any):
    return st.sampled_from(values)


NOT_AN_ID = (None, 0, 123, 1.5, NAN, True, "", ["n0"], ("j0",), {"id": "j0"}, b"j0")
NOT_A_NUMBER = (None, NAN, INF, -INF, HUGE_INT, "50", "1.5", True, False, [50], 1j)
BAD_HOURS = (*[v for v in NOT_A_NUMBER if v is not None], 0, 0.0, -1, -0.5, 1e7, 1e300)
"""Bad ``render_time_hours`` (None is its default: the time since the job started)."""
NOT_A_FLAG = (None, "yes", "False", 1, 0, 1.0, [True])
NOT_TEXT = (None, 5, 1.5, ["boom"], b"boom")
BAD_PRIORITY = (None, "urgent", "", 3, 2.0, ["high"])
BAD_TIER = (None, "gold", "", 2, ["premium"])
BAD_MODE = (None, "turbo", "", 0, ["balanced"])
BAD_CONFIG = (
    None,
    "fast",
    5,
    [],
    {"junk": 1},
    {"interval_minutes": NAN},
    {"interval_minutes": INF},
    {"interval_minutes": 0},
    {"interval_minutes": -5},
    {"interval_minutes": HUGE_INT},
    {"quality_levels": []},
    {"quality_levels": [0]},
    {"quality_levels": [101]},
    {"quality_levels": "25"},
    {"max_overhead_percentage": NAN},
    {"max_overhead_percentage": 1e9},
    {"enabled": "maybe"},
    {"enabled": None},
)
BAD_KEEP_AWAKE = (-1, NAN, 1.5, "1", None, True, [1])
BAD_IGNORE = (5, 1.5, True)


def ids_with(manager: RenderFarmManager, *statuses: S) -> list[str]:
    return sorted(j.id for j in manager.jobs.values() if j.status in statuses)


def bad_calls(manager: RenderFarmManager, clock: ManualClock):
    """Every kind of bad call the farm in its current state offers."""
    jobs = sorted(manager.jobs)
    nodes = sorted(manager.nodes)
    running = ids_with(manager, S.RUNNING)
    unfinished = ids_with(manager, S.PENDING, S.QUEUED, S.RUNNING, S.PAUSED)
    waiting = ids_with(manager, S.PENDING, S.QUEUED)
    finished = ids_with(manager, S.COMPLETED, S.FAILED, S.CANCELLED)
    not_running = sorted(set(jobs) - set(running))
    not_startable = ids_with(manager, S.PAUSED, S.COMPLETED, S.FAILED, S.CANCELLED)
    busy_nodes = sorted(n.id for n in manager.nodes.values() if n.current_job_id)
    in_use = sorted({manager.jobs[j].client_id for j in unfinished})
    held_jobs = [manager.jobs[j] for j in jobs]
    not_a_job_id = one(*NOT_AN_ID, *held_jobs)
    not_a_node_id = one(*NOT_AN_ID, *manager.nodes.values())
    not_a_client_id = one(*NOT_AN_ID, *manager.clients.values())
    now = clock.now()
    not_a_new_job = one(
        None,
        "new",
        5,
        {"id": "new", "name": "new"},
        make_node("n-new"),
        make_client("c-new"),
        make_job(jobs[0], now=now),
        make_job(jobs[-1], now=now, priority="low"),
        manager.jobs[jobs[0]],
        make_job("new", client="unknown-client", now=now),
        make_job("new", now=now + timedelta(hours=1)),
        make_job("new", now=now, status="completed"),
        make_job("new", now=now, status="running"),
        make_job("new", now=now, status="failed"),
        make_job("new", now=now, status="cancelled"),
        make_job("new", now=now, status="paused"),
    )
    not_a_new_node = one(
        None,
        "n-new",
        5,
        make_job("new", now=now),
        make_client("c-new"),
        make_node(nodes[0]),
        manager.nodes[nodes[-1]],
        make_node("n-new").model_copy(update={"current_job_id": jobs[0]}),
    )
    not_a_new_client = one(
        None,
        "c-new",
        5,
        {"id": "c-new", "name": "c"},
        make_node("n-new"),
        make_client("c1"),
        manager.clients["c2"],
    )

    strategies = [
        # clients
        call_of("add_client", not_a_new_client),
        call_of("remove_client", not_a_client_id),
        call_of("remove_client", one("unknown"), may_decline=True),
        call_of("update_client_tier", one("c1", "c2"), one(*BAD_TIER)),
        call_of("update_client_tier", not_a_client_id, one("premium")),
        call_of("update_client_tier", one("unknown"), one("premium", *BAD_TIER), may_decline=True),
        call_of("get_client_status", not_a_client_id),
        call_of("get_client_status", one("unknown"), may_decline=True),
        # nodes
        call_of("add_node", not_a_new_node),
        call_of("remove_node", not_a_node_id),
        call_of("remove_node", one("unknown"), may_decline=True),
        call_of("set_node_online", one(*NOT_AN_ID, "unknown"), st.booleans()),
        call_of("set_node_online", one(*nodes), one(*NOT_A_FLAG)),
        call_of("set_node_maintenance", one(*NOT_AN_ID, "unknown"), st.booleans()),
        call_of("set_node_maintenance", one(*nodes), one(*NOT_A_FLAG)),
        call_of("drain_node", one(*NOT_AN_ID, "unknown")),
        call_of("handle_node_failure", one(*NOT_AN_ID, "unknown"), one("power")),
        call_of("handle_node_failure", one(*nodes), one(*NOT_TEXT)),
        # submissions
        call_of("submit_job", not_a_new_job),
        call_of("submit_emergency_job", not_a_new_job),
        # job operations
        call_of("start_job", one(*NOT_AN_ID, "unknown"), one(None, *nodes)),
        call_of("start_job", one(*jobs), one(*[n for n in NOT_AN_ID if n is not None], "unknown")),
        call_of("cancel_job", not_a_job_id),
        call_of("cancel_job", one("unknown", *finished), may_decline=True),
        call_of("pause_job", not_a_job_id),
        call_of("pause_job", one("unknown", *finished), may_decline=True),
        call_of("resume_job", not_a_job_id),
        call_of("resume_job", one("unknown", *sorted(set(jobs) - set(ids_with(manager, S.PAUSED)))),
                may_decline=True),
        call_of("retry_job", not_a_job_id),
        call_of("retry_job", one("unknown", *sorted(set(jobs) - set(ids_with(manager, S.FAILED)))),
                may_decline=True),
        call_of("update_job_priority", not_a_job_id, one("high")),
        call_of("update_job_priority", one("unknown", *finished), one("high", *BAD_PRIORITY),
                may_decline=True),
        call_of("update_job_progress", not_a_job_id, one(50)),
        call_of("update_job_progress", one("unknown", *finished), one(50, *NOT_A_NUMBER),
                may_decline=True),
        call_of("complete_job", not_a_job_id),
        call_of("complete_job", one("unknown", *finished), one(None, *BAD_HOURS),
                may_decline=True),
        call_of("report_render_error", one(*NOT_AN_ID, "unknown"), one("crash")),
        call_of("report_render_error", one(*not_running), one("crash")),
        call_of("effective_priority", not_a_job_id),
        call_of("effective_priority", one("unknown"), may_decline=True),
        call_of("get_job_status", not_a_job_id),
        call_of("get_job_status", one("unknown"), may_decline=True),
        # settings and reports
        call_of("set_progressive_output_config", one(*BAD_CONFIG)),
        call_of("set_energy_mode", one(*BAD_MODE)),
        call_of("get_power_down_candidates", one(*BAD_KEEP_AWAKE)),
        call_of("get_power_down_candidates", one(0, 1, 2), ignore=one(*BAD_IGNORE)),
    ]  # fmt: skip
    if in_use:
        strategies.append(call_of("remove_client", one(*in_use)))
    if not_startable:
        strategies.append(call_of("start_job", one(*not_startable), one(None, *nodes)))
    if waiting and busy_nodes:
        strategies.append(call_of("start_job", one(*waiting), one(*busy_nodes)))
    if unfinished:
        strategies += [
            call_of("update_job_priority", one(*unfinished), one(*BAD_PRIORITY)),
            call_of("update_job_progress", one(*unfinished), one(*NOT_A_NUMBER)),
            call_of("complete_job", one(*unfinished), one(*BAD_HOURS)),
        ]
    if running:
        other_nodes = [n for n in nodes if n not in busy_nodes] or ["unknown"]
        strategies += [
            call_of("report_render_error", one(*running), one(*NOT_TEXT)),
            call_of("report_render_error", one(*running), one("crash"),
                    node_id=one(*other_nodes, *[n for n in NOT_AN_ID if n is not None])),
            call_of("report_render_error", one(*running), one("crash"),
                    corrupt_scene=one(*NOT_A_FLAG)),
        ]  # fmt: skip
    return st.one_of(strategies)


def given_models(call: Call) -> list[BaseModel]:
    return [a for a in (*call.args, *call.kwargs.values()) if isinstance(a, BaseModel)]


def check_refused(manager: RenderFarmManager, call: Call) -> None:
    """``call`` on ``manager`` is refused (or declined, where documented) and changes nothing."""
    before = snapshot(manager)
    plan = manager.last_cycle_plan
    given_before = [m.model_dump() for m in given_models(call)]
    try:
        result = getattr(manager, call.method)(*call.args, **call.kwargs)
    except REFUSED as error:
        if isinstance(error, InvalidInputError):
            assert error.field and error.field in str(error), f"{call}: {error} names no argument"
    except Exception as error:  # any other error breaks the rule
        pytest.fail(f"{call} raised {type(error).__name__}: {error} (not a RenderFarmError)")
    else:
        assert call.may_decline, f"{call} accepted bad input and returned {result!r}"
        assert result is False or result is None, f"{call} returned {result!r}"
    assert snapshot(manager) == before, f"{call} changed the farm"
    assert manager.last_cycle_plan is plan, f"{call} changed the last cycle plan"
    assert [m.model_dump() for m in given_models(call)] == given_before, (
        f"{call} changed the object it was given"
    )


def assert_behaves_like(manager: RenderFarmManager, twin: RenderFarmManager) -> None:
    """The refused call left no trace in later behaviour: two more cycles go as on the twin."""
    assert manager.run_scheduling_cycle() == twin.run_scheduling_cycle()
    assert twin_snapshot(manager) == twin_snapshot(twin)
    assert manager.forecast() == twin.forecast()
    assert manager.run_scheduling_cycle() == twin.run_scheduling_cycle()
    assert twin_snapshot(manager) == twin_snapshot(twin)


@PROPERTY_SETTINGS
@given(plan=farm_plans(), data=st.data())
def test_a_bad_call_is_refused_and_changes_nothing(plan, data):
    manager, clock = build(plan)
    twin, _ = build(plan)
    assert twin_snapshot(manager) == twin_snapshot(twin)
    call = data.draw(bad_calls(manager, clock), label="call")
    check_refused(manager, call)
    assert_behaves_like(manager, twin)


# -- bad edits of held models --------------------------------------------------------------------


@dataclass
class Edit:
    kind: str
    object_id: str
    name: str
    value: Any
    part: str | None = None

    def target(self, manager: RenderFarmManager) -> BaseModel:
        held = {"job": manager.jobs, "node": manager.nodes, "client": manager.clients}
        model: BaseModel = held[self.kind][self.object_id]
        return getattr(model, self.part) if self.part else model

    def __repr__(self) -> str:
        part = f".{self.part}" if self.part else ""
        return f"{self.kind}[{self.object_id!r}]{part}.{self.name} = {self.value!r}"


JOB_EDITS: dict[str, tuple[Any, ...]] = {
    "id": ("x", None, ""),
    "status": ("bogus", None, 5),
    "progress": (NAN, INF, -1, 101, "half", None),
    "priority": ("urgent", None, 7),
    "estimated_duration_hours": (1e8, NAN, INF, 0, -1, None, 1e300),
    "deadline": (datetime.min, datetime.max, "tomorrow", None),
    "submission_time": (datetime.min, "yesterday"),
    "client_id": ("unknown-client", "", None),
    "dependencies": ("j0", [None], None),
    "assigned_node_id": ("unknown-node", 5),
    "error_count": (-1, NAN, "one"),
    "memory_requirements_gb": (NAN, 0, -1, 1e300),
    "cpu_requirements": (HUGE_INT, 0, 1.5),
    "scene_complexity": (0, 11, None),
    "emergency": ("maybe", None),
    "name": (None, 5),
}
NODE_EDITS: dict[str, tuple[Any, ...]] = {
    "id": ("x", None),
    "status": ("bogus", None),
    "capabilities": (None, "big", {"cpu_cores": HUGE_INT, "memory_gb": 1}),
    "power_efficiency_rating": (101, NAN, -1),
    "current_job_id": ("unknown-job", 5),
    "uptime_hours": (INF, -1),
    "performance_history": ({"animation": 0}, {"animation": NAN}, {"animation": 1e9}, "fast"),
    "draining": ("maybe", None),
}
CAPABILITY_EDITS: dict[str, tuple[Any, ...]] = {
    "cpu_cores": (HUGE_INT, 0, -4, 1.5, NAN, None),
    "memory_gb": (HUGE_INT, 0, NAN),
    "gpu_count": (-1, HUGE_INT),
    "gpu_memory_gb": (INF, -1),
    "specialized_for": ("animation", [None]),
}
CLIENT_EDITS: dict[str, tuple[Any, ...]] = {
    "id": ("x", None),
    "max_resources": (10, NAN, 101, -1, None),
    "guaranteed_resources": (90, NAN, -1, 150),
    "sla_tier": ("gold", None),
    "name": (None,),
}


def pick(table: dict[str, tuple[Any, ...]]):
    return st.sampled_from(sorted(table)).flatmap(
        lambda name: st.tuples(st.just(name), st.sampled_from(table[name]))
    )


def bad_edits(manager: RenderFarmManager):
    jobs = sorted(manager.jobs)
    nodes = sorted(manager.nodes)
    strategies = [
        st.builds(lambda j, nv: Edit("job", j, *nv), st.sampled_from(jobs), pick(JOB_EDITS)),
        st.builds(
            lambda j: Edit("job", j, "dependencies", [j]),
            st.sampled_from(jobs),
        ),
        st.builds(lambda n, nv: Edit("node", n, *nv), st.sampled_from(nodes), pick(NODE_EDITS)),
        st.builds(
            lambda n, nv: Edit("node", n, *nv, part="capabilities"),
            st.sampled_from(nodes),
            pick(CAPABILITY_EDITS),
        ),
        st.builds(
            lambda c, nv: Edit("client", c, *nv), st.sampled_from(["c1", "c2"]), pick(CLIENT_EDITS)
        ),
    ]
    illegal = [
        (job.id, status.value)
        for job in manager.jobs.values()
        for status in S
        if status != job.status and status not in TRANSITIONS[S(job.status)]
    ]
    if illegal:
        strategies.append(
            st.sampled_from(illegal).map(lambda js: Edit("job", js[0], "status", js[1]))
        )
    busy = [n for n in manager.nodes.values() if n.current_job_id]
    others = sorted(set(jobs) - {n.current_job_id for n in busy})
    if busy and others:
        strategies.append(
            st.builds(
                lambda n, j: Edit("node", n, "current_job_id", j),
                st.sampled_from(sorted(n.id for n in busy)),
                st.sampled_from(others),
            )
        )
    return st.one_of(strategies)


@PROPERTY_SETTINGS
@given(plan=farm_plans(), data=st.data())
def test_a_bad_edit_of_a_held_model_is_refused_and_changes_nothing(plan, data):
    manager, _ = build(plan)
    twin, _ = build(plan)
    edit = data.draw(bad_edits(manager), label="edit")
    target = edit.target(manager)
    before = snapshot(manager)
    try:
        setattr(target, edit.name, edit.value)
    except REFUSED:
        pass
    except Exception as error:  # any other error breaks the rule
        pytest.fail(f"{edit} raised {type(error).__name__}: {error} (not a RenderFarmError)")
    else:
        pytest.fail(f"{edit} was accepted")
    assert snapshot(manager) == before, f"{edit} changed the farm"
    assert edit.target(manager) is target
    assert_behaves_like(manager, twin)
