"""The seed models: validation names the bad field; enums are strings; copies work."""

from datetime import datetime, timedelta

import pytest
from builders import make_job, make_node
from pydantic import ValidationError

from render_farm_manager.core.models import (
    AuditLogEntry,
    Client,
    EnergyMode,
    JobPriority,
    LogLevel,
    NodeCapabilities,
    NodeStatus,
    NodeType,
    PerformanceMetrics,
    ProgressiveOutputConfig,
    RenderClient,
    RenderJob,
    RenderJobStatus,
    RenderNode,
    ResourceAllocation,
    ServiceTier,
)


def test_enums_are_lower_case_strings():
    assert RenderJobStatus.RUNNING == "running"
    assert NodeStatus.ONLINE == "online"
    assert EnergyMode.NIGHT_SAVINGS == "night_savings"
    assert ServiceTier.PREMIUM == "premium"
    assert NodeType.HYBRID == "hybrid"
    assert LogLevel.CRITICAL == "critical"
    assert [p.value for p in JobPriority] == ["low", "medium", "high", "critical"]


def test_priorities_compare_by_rank_not_text():
    assert JobPriority.CRITICAL.rank > JobPriority.HIGH.rank > JobPriority.MEDIUM.rank
    assert JobPriority.MEDIUM.rank > JobPriority.LOW.rank
    assert JobPriority.from_rank(7) is JobPriority.CRITICAL


def test_plain_strings_are_accepted_for_enums():
    node = make_node("n1", status="maintenance")
    assert node.status is NodeStatus.MAINTENANCE
    node.status = "online"
    assert node.status is NodeStatus.ONLINE


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("estimated_duration_hours", 0),
        ("progress", 101),
        ("scene_complexity", 11),
        ("memory_requirements_gb", -1),
        ("cpu_requirements", 0),
        ("priority", "urgent"),
    ],
)
def test_invalid_job_values_name_the_field(field, value):
    data = make_job("j1").model_dump()
    data[field] = value
    with pytest.raises(ValidationError) as error:
        RenderJob(**data)
    assert field in str(error.value)


def test_assignment_is_validated_too():
    node = make_node("n1")
    node.capabilities.gpu_count = 0
    with pytest.raises(ValidationError, match="cpu_cores"):
        node.capabilities.cpu_cores = 0
    assert node.capabilities.cpu_cores == 32


def test_round_trip_and_copies():
    job = make_job("j1", dependencies=["a"])
    again = RenderJob(**job.model_dump())
    assert again == job
    copied = job.copy()
    copied.dependencies.append("b")
    assert job.dependencies == ["a", "b"]  # shallow, like pydantic's copy
    deep = job.copy(deep=True)
    deep.dependencies.append("c")
    assert job.dependencies == ["a", "b"]
    assert job.model_copy(update={"name": "x"}).name == "x"


def test_client_ceiling_must_not_be_below_guarantee():
    with pytest.raises(ValidationError, match="max_resources"):
        Client(id="c", name="C", sla_tier="basic", guaranteed_resources=50, max_resources=20)


def test_render_client_is_the_older_shape_with_id_and_tier():
    client = RenderClient(client_id="old", name="Old", service_tier="premium")
    assert client.id == "old"
    assert client.sla_tier is ServiceTier.PREMIUM
    client.sla_tier = "basic"
    assert client.service_tier is ServiceTier.BASIC
    assert client.guaranteed_resources == 0 and client.max_resources == 100


def test_aware_datetimes_become_naive_local_time():
    aware = datetime(2026, 1, 1, 12, 0).astimezone()
    job = make_job("j1")
    job.deadline = aware + timedelta(hours=1)
    assert job.deadline.tzinfo is None


def test_other_models_have_contract_defaults():
    assert ProgressiveOutputConfig().quality_levels == [25, 50, 75]
    assert ProgressiveOutputConfig().max_overhead_percentage == 5.0
    assert PerformanceMetrics().total_jobs_completed == 0
    allocation = ResourceAllocation(client_id="c")
    assert allocation.borrowed_from == {} and allocation.lent_to == {}
    entry = AuditLogEntry(timestamp=datetime(2026, 1, 1), event_type="x", description="d")
    assert entry.details == {} and entry.job_id is None
    caps = NodeCapabilities(cpu_cores=4, memory_gb=8)
    assert caps.gpu_count == 0 and caps.specialized_for == []
    assert RenderNode(id="n", name="n", capabilities=caps).current_job_id is None


def test_quality_levels_are_checked_and_sorted():
    assert ProgressiveOutputConfig(quality_levels=[75, 25]).quality_levels == [25, 75]
    with pytest.raises(ValidationError, match="quality_levels"):
        ProgressiveOutputConfig(quality_levels=[0])
    with pytest.raises(ValidationError, match="quality_levels"):
        ProgressiveOutputConfig(quality_levels=[])
