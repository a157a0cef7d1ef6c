"""Energy modes: switching is audited; night savings defers energy-intensive work only when its
slack allows; efficient nodes are preferred; kWh and cost are accounted."""

from datetime import datetime, time, timedelta

import pytest
from builders import DAY, T0, make_farm, make_job, make_node

from render_farm_manager.core.models import EnergyMode, RenderJobStatus
from render_farm_manager.energy_optimization.energy_optimizer import EnergyOptimizer
from render_farm_manager.energy_optimization.power_model import node_power
from render_farm_manager.energy_optimization.tariff import TariffPeriod, TimeOfUseTariff


def test_mode_switch_is_stored_and_audited():
    manager, _ = make_farm()
    manager.set_energy_mode(EnergyMode.NIGHT_SAVINGS)
    assert manager.energy_optimizer.current_energy_mode is EnergyMode.NIGHT_SAVINGS
    assert manager.get_farm_status()["current_energy_mode"] == "night_savings"
    entry = manager.audit_logger.get_logs_by_event_type("energy_mode_changed")[-1]
    assert entry.details == {"old_mode": "balanced", "new_mode": "night_savings"}
    manager.set_energy_mode("performance")
    assert manager.energy_optimizer.current_energy_mode is EnergyMode.PERFORMANCE
    with pytest.raises(ValueError):
        manager.set_energy_mode("turbo")


def test_night_savings_defers_energy_intensive_work_during_peak_when_slack_allows():
    manager, clock = make_farm(nodes=2, start=DAY)  # 10:00, peak until 20:00
    manager.set_energy_mode("night_savings")
    manager.submit_job(make_job("relaxed", now=DAY, hours=4, deadline_in=40, energy_intensive=True))
    manager.submit_job(make_job("tight", now=DAY, hours=4, deadline_in=12, energy_intensive=True))
    result = manager.run_scheduling_cycle()
    assert result["energy_optimized_jobs"] == 1
    assert manager.jobs["relaxed"].status is RenderJobStatus.QUEUED
    assert manager.jobs["tight"].status is RenderJobStatus.RUNNING

    clock.set(DAY.replace(hour=20, minute=0))
    manager.run_scheduling_cycle()
    assert manager.jobs["relaxed"].status is RenderJobStatus.RUNNING


def test_performance_mode_never_defers():
    manager, _ = make_farm(nodes=1, start=DAY)
    manager.set_energy_mode("performance")
    manager.submit_job(
        make_job("j", now=DAY, hours=2, deadline_in=72, energy_intensive=True, priority="low")
    )
    assert manager.run_scheduling_cycle()["energy_optimized_jobs"] == 0
    assert manager.jobs["j"].status is RenderJobStatus.RUNNING


def test_critical_and_emergency_work_is_never_deferred():
    optimizer = EnergyOptimizer(current_energy_mode=EnergyMode.NIGHT_SAVINGS)
    critical = make_job("c", now=DAY, deadline_in=72, energy_intensive=True, priority="critical")
    emergency = make_job("e", now=DAY, deadline_in=72, energy_intensive=True, emergency=True)
    assert optimizer.deferral_until(critical, DAY) is None
    assert optimizer.deferral_until(emergency, DAY) is None
    normal = make_job("n", now=DAY, deadline_in=72, energy_intensive=True)
    assert optimizer.deferral_until(normal, DAY) == DAY.replace(hour=20)
    assert optimizer.deferral_until(normal, T0) is None  # already cheap


def test_efficiency_mode_prefers_efficient_nodes():
    manager, _ = make_farm(nodes=0)
    manager.add_node(make_node("hungry", efficiency=20))
    manager.add_node(make_node("frugal", efficiency=95))
    manager.set_energy_mode("efficiency")
    manager.submit_job(make_job("j"))
    manager.run_scheduling_cycle()
    assert manager.jobs["j"].assigned_node_id == "frugal"


def test_optimize_energy_usage_places_urgent_work_on_efficient_nodes_and_holds_the_rest():
    optimizer = EnergyOptimizer(current_energy_mode=EnergyMode.EFFICIENCY, clock=lambda: DAY)
    nodes = [make_node("hungry", efficiency=20), make_node("frugal", efficiency=95)]
    jobs = [
        make_job("urgent", now=DAY, priority="high", deadline_in=5),
        make_job("later", now=DAY, deadline_in=72, energy_intensive=True),
    ]
    assert optimizer.optimize_energy_usage(jobs, nodes) == {"urgent": "frugal"}


def test_tariff_with_several_periods():
    tariff = TimeOfUseTariff(
        [
            TariffPeriod(time(0), time(6), 0.05),
            TariffPeriod(time(6), time(17), 0.12),
            TariffPeriod(time(17), time(21), 0.30),
            TariffPeriod(time(21), time(0), 0.10),
        ]
    )
    day = datetime(2026, 11, 23)
    assert tariff.price_at(day.replace(hour=3)) == 0.05
    assert tariff.price_at(day.replace(hour=18)) == 0.30
    assert tariff.price_at(day.replace(hour=23)) == 0.10
    assert tariff.next_change(day.replace(hour=18)) == day.replace(hour=21)
    assert tariff.next_cheapest_start(day.replace(hour=18)) == day + timedelta(days=1)
    # 1 kW from 16:00 to 18:00: one hour at 0.12, one at 0.30
    assert tariff.cost(1.0, day.replace(hour=16), day.replace(hour=18)) == pytest.approx(0.42)
    assert tariff.average_price(day.replace(hour=16), 2) == pytest.approx(0.21)


def test_bad_tariffs_are_refused():
    with pytest.raises(ValueError, match="price"):
        TariffPeriod(time(0), time(6), -1)
    with pytest.raises(ValueError, match="empty"):
        TariffPeriod(time(6), time(6), 1)
    with pytest.raises(ValueError):
        TimeOfUseTariff([])


def test_prices_follow_the_seed_peak_parameters():
    optimizer = EnergyOptimizer(
        peak_hours_start=time(9),
        peak_hours_end=time(17),
        peak_energy_cost=0.2,
        off_peak_energy_cost=0.05,
    )
    assert optimizer.get_time_of_day_energy_price(DAY) == 0.2
    assert optimizer.get_time_of_day_energy_price(T0) == 0.05


def test_power_model_depends_on_hardware_and_efficiency():
    small, big = make_node("s", cores=16), make_node("b", cores=64, gpus=4)
    assert node_power(big).busy_watts > node_power(small).busy_watts
    assert node_power(small).idle_watts < node_power(small).busy_watts
    good, bad = make_node("g", efficiency=100), make_node("x", efficiency=0)
    assert node_power(good).busy_watts < node_power(bad).busy_watts
    explicit = make_node("e")
    explicit.busy_power_watts = 999
    assert node_power(explicit).busy_watts == 999


def test_energy_is_accounted_between_cycles():
    manager, clock = make_farm(nodes=2, start=T0)
    manager.submit_job(make_job("j", hours=10))
    manager.run_scheduling_cycle()
    clock.advance(timedelta(hours=1))
    manager.run_scheduling_cycle()
    busy = node_power(manager.nodes["n0"]).busy_watts / 1000
    idle = node_power(manager.nodes["n1"]).idle_watts / 1000
    assert manager.performance_metrics.energy_usage_kwh == pytest.approx(busy + idle)
    assert manager.get_farm_status()["energy_cost"] == pytest.approx((busy + idle) * 0.08)
    assert manager.nodes["n0"].uptime_hours == pytest.approx(1)


def test_calculate_energy_cost_spans_price_periods():
    optimizer = EnergyOptimizer()
    node = make_node("n", efficiency=50)
    job = make_job("j", hours=2)
    kw = node_power(node).busy_watts / 1000
    start = DAY.replace(hour=19)
    assert optimizer.calculate_energy_cost(job, node, start) == pytest.approx(kw * (0.15 + 0.08))


def test_estimate_energy_savings_reports_deferral_and_efficiency_gains():
    optimizer = EnergyOptimizer(current_energy_mode="night_savings", clock=lambda: DAY)
    nodes = [make_node("hungry", efficiency=10), make_node("frugal", efficiency=95)]
    jobs = [make_job("j", now=DAY, hours=4, deadline_in=48, energy_intensive=True)]
    savings = optimizer.estimate_energy_savings(jobs, nodes)
    assert savings["optimized_cost"] < savings["baseline_cost"]
    assert savings["savings_percentage"] > 15
    assert optimizer.estimate_energy_savings(jobs, [])["savings"] == 0


def test_power_down_candidates_and_wake_times():
    manager, _ = make_farm(nodes=0, start=DAY)
    for i in range(3):
        manager.add_node(make_node(f"cpu{i}", efficiency=70 + i))
    manager.add_node(make_node("gpu", gpus=2, efficiency=60))
    manager.set_energy_mode("night_savings")
    manager.submit_job(
        make_job("gpu-later", now=DAY, requires_gpu=True, energy_intensive=True, deadline_in=60)
    )
    manager.run_scheduling_cycle()
    assert manager.jobs["gpu-later"].status is RenderJobStatus.QUEUED  # deferred to the night
    advice = {a["node_id"]: a for a in manager.get_power_down_candidates(keep_awake=1)}
    # every idle node but the most efficient one (kept awake for emergencies) may sleep; the
    # GPU node must be awake ten minutes before the cheap hours that its deferred job waits for
    assert set(advice) == {"cpu0", "cpu1", "gpu"}
    assert advice["gpu"]["wake_by"] == DAY.replace(hour=19, minute=50)
    assert advice["cpu0"]["wake_by"] is None and advice["cpu1"]["wake_by"] is None
    # a job that could run now keeps the nodes it fits awake
    manager.set_energy_mode("performance")
    manager.submit_job(make_job("cpu-now", now=DAY, memory_requirements_gb=8))
    advice = {a["node_id"] for a in manager.get_power_down_candidates(keep_awake=1)}
    assert advice == set()
    assert manager.get_power_down_candidates(keep_awake=0, ignore={"cpu-now", "gpu-later"})


def test_efficiency_mode_fills_the_most_efficient_of_identical_nodes_first():
    manager, _ = make_farm(nodes=0)
    for name, efficiency in [("a", 55), ("b", 90), ("c", 40), ("d", 75), ("e", 60)]:
        manager.add_node(make_node(name, efficiency=efficiency))
    manager.set_energy_mode("efficiency")
    for j in range(3):
        manager.submit_job(make_job(f"j{j}"))
    manager.run_scheduling_cycle()
    used = {manager.jobs[f"j{j}"].assigned_node_id for j in range(3)}
    assert used == {"b", "d", "e"}
