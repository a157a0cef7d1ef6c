"""Scarce hardware kept for the work that needs it: work without a GPU does not take a GPU node
while GPU work waits for it (nor ordinary work a large-memory node while large-memory work
waits), unless it is pressing; with nothing waiting for them, scarce nodes take any work."""

from __future__ import annotations

import math

import pytest
from builders import make_client, make_farm, make_job, make_node

from render_farm_manager.core.errors import RenderFarmError
from render_farm_manager.core.models import RenderJobStatus
from render_farm_manager.scheduling.deadline_scheduler import DeadlineScheduler
from render_farm_manager.scheduling.ready_queue import ReadyQueue
from render_farm_manager.simulation.scarce import misused_nodes

S = RenderJobStatus


def farm(protect: bool = True, **scheduler_settings):
    manager, clock = make_farm(
        nodes=0, scheduler=DeadlineScheduler(protect_scarce_nodes=protect, **scheduler_settings)
    )
    return manager, clock


def test_cpu_work_ahead_in_the_queue_leaves_the_only_gpu_node_to_gpu_work() -> None:
    def placed(protect: bool) -> dict[str, str]:
        manager, _ = farm(protect)
        manager.add_node(make_node("gpu", gpus=1))
        manager.submit_job(make_job("cpu", priority="high", deadline_in=30))
        manager.submit_job(make_job("render", priority="low", requires_gpu=True, deadline_in=40))
        manager.run_scheduling_cycle()
        return {j.id: j.assigned_node_id for j in manager.jobs.values() if j.assigned_node_id}

    assert placed(protect=True) == {"render": "gpu"}
    assert placed(protect=False) == {"cpu": "gpu"}


def test_gpu_nodes_beyond_the_gpu_work_waiting_take_other_work() -> None:
    manager, _ = farm()
    manager.add_node(make_node("gpu-a", gpus=1))
    manager.add_node(make_node("gpu-b", gpus=1))
    manager.submit_job(make_job("cpu", priority="high"))
    manager.submit_job(make_job("render", priority="low", requires_gpu=True))
    manager.run_scheduling_cycle()
    assert manager.jobs["cpu"].status == S.RUNNING
    assert manager.jobs["render"].status == S.RUNNING


def test_with_no_gpu_work_waiting_a_gpu_node_takes_other_work() -> None:
    manager, _ = farm()
    manager.add_node(make_node("gpu", gpus=1))
    manager.submit_job(make_job("cpu"))
    manager.run_scheduling_cycle()
    assert manager.jobs["cpu"].assigned_node_id == "gpu"


def test_pressing_work_takes_a_scarce_node_all_the_same() -> None:
    manager, _ = farm()
    manager.add_node(make_node("gpu", gpus=1))
    # two hours of work due in two and a half: at risk of missing its deadline
    manager.submit_job(make_job("urgent", hours=2.0, deadline_in=2.5))
    manager.submit_job(make_job("render", requires_gpu=True, priority="critical"))
    manager.run_scheduling_cycle()
    assert manager.jobs["urgent"].assigned_node_id == "gpu"


def test_large_memory_nodes_are_kept_for_work_that_needs_their_memory() -> None:
    manager, _ = farm()
    manager.add_node(make_node("big", memory=512))
    manager.add_node(make_node("small", memory=64))
    manager.submit_job(make_job("blocker", priority="critical", memory_requirements_gb=16))
    manager.run_scheduling_cycle()
    assert manager.jobs["blocker"].assigned_node_id == "small"  # the snug fit
    manager.submit_job(make_job("light", priority="high", memory_requirements_gb=16))
    manager.submit_job(make_job("assembly", priority="low", memory_requirements_gb=300))
    manager.run_scheduling_cycle()
    assert manager.jobs["assembly"].assigned_node_id == "big"
    assert manager.jobs["light"].status == S.QUEUED


def test_the_large_memory_threshold_is_a_setting() -> None:
    # With the threshold above the big node, it is an ordinary node: first come, first served.
    manager, _ = farm(large_memory_gb=1024)
    manager.add_node(make_node("big", memory=512))
    manager.submit_job(make_job("light", priority="high", memory_requirements_gb=16))
    manager.submit_job(make_job("assembly", priority="low", memory_requirements_gb=300))
    manager.run_scheduling_cycle()
    assert manager.jobs["light"].assigned_node_id == "big"


@pytest.mark.parametrize("value", [0, -1, math.inf, math.nan, "many"])
def test_a_bad_large_memory_setting_is_refused_by_name(value: object) -> None:
    with pytest.raises(RenderFarmError, match="large_memory_gb"):
        DeadlineScheduler(large_memory_gb=value)  # type: ignore[arg-type]


def test_the_simulator_counts_scarce_nodes_put_to_the_wrong_use() -> None:
    manager, _ = farm(protect=False)
    manager.add_node(make_node("gpu", gpus=1))
    manager.add_node(make_node("big", memory=512))
    manager.add_node(make_node("small", memory=64))
    for name in ("a", "b", "c"):
        manager.submit_job(make_job(name, priority="critical", memory_requirements_gb=16))
    manager.submit_job(make_job("render", priority="low", requires_gpu=True))
    manager.submit_job(make_job("assembly", priority="low", memory_requirements_gb=300))
    manager.run_scheduling_cycle()
    waiting = manager.waiting_job_ids()
    assert sorted(waiting) == ["assembly", "render"]
    # the GPU node and the big node both run 16 GB work without a GPU while each is wanted
    assert misused_nodes(manager.nodes.values(), manager.jobs, waiting) == 2
    assert misused_nodes(manager.nodes.values(), manager.jobs, waiting, ["render"]) == 1
    assert misused_nodes(manager.nodes.values(), manager.jobs, []) == 0


def test_a_scarce_node_the_waiting_work_cannot_take_goes_to_the_work_that_spared_it() -> None:
    # Client g may run one node (half the farm) and already does: its GPU render waits on its
    # ceiling, so the free GPU node is not kept for it.
    manager, _ = farm()
    manager.add_client(make_client("g", maximum=50.0))
    manager.add_node(make_node("cpu"))
    manager.submit_job(make_job("g-first", client="g", priority="critical"))
    manager.run_scheduling_cycle()
    assert manager.jobs["g-first"].assigned_node_id == "cpu"
    manager.add_node(make_node("gpu", gpus=1))
    manager.submit_job(make_job("render", client="g", requires_gpu=True, priority="high"))
    manager.submit_job(make_job("cpu-work", priority="low"))
    manager.run_scheduling_cycle()
    assert manager.jobs["render"].status == S.QUEUED
    assert manager.jobs["cpu-work"].assigned_node_id == "gpu"


def test_by_default_large_memory_means_twice_the_farms_median() -> None:
    # Most nodes have 256 GB: those are ordinary, only the 768 GB node is kept for big work.
    manager, _ = farm()
    for index in range(3):
        manager.add_node(make_node(f"mid-{index}", memory=256))
    manager.add_node(make_node("huge", memory=768))
    for index in range(3):
        manager.submit_job(
            make_job(f"fill-{index}", priority="critical", memory_requirements_gb=16)
        )
    manager.submit_job(make_job("light", priority="high", memory_requirements_gb=200))
    manager.submit_job(make_job("assembly", priority="low", memory_requirements_gb=512))
    manager.run_scheduling_cycle()
    assert manager.jobs["assembly"].assigned_node_id == "huge"
    assert manager.jobs["light"].status == S.QUEUED  # 200 GB fits a 256 GB node: ordinary


def test_the_queue_counts_what_its_work_needs_and_an_undone_change_restores_the_counts() -> None:
    queue = ReadyQueue()
    queue.put("a", "c1", 1, 100.0, gpu=True, memory_gb=64)
    queue.put("b", "c1", 1, 100.0, memory_gb=512)
    queue.put("c", "c1", 1, 100.0, memory_gb=16)
    assert queue.waiting_for_gpu == 1
    assert queue.waiting_for_memory_above(64) == 1
    assert queue.waiting_for_memory_above(8) == 3
    queue.begin_journal()
    queue.discard("a")
    queue.put("b", "c1", 1, 100.0, gpu=True, memory_gb=128)  # moved: its needs changed
    queue.put("d", "c1", 1, 100.0, gpu=True, memory_gb=1024)
    assert queue.waiting_for_gpu == 2
    assert queue.waiting_for_memory_above(64) == 2
    queue.undo_journal()
    assert queue.waiting_for_gpu == 1
    assert queue.waiting_for_memory_above(64) == 1
    assert queue.waiting_for_memory_above(128) == 1
    assert sorted(queue.ids()) == ["a", "b", "c"]
