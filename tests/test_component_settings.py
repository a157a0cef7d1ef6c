"""Components refuse settings that are not finite numbers in range, naming the setting."""

import math
from datetime import time

import pytest

from render_farm_manager import RenderFarmError
from render_farm_manager.energy_optimization.energy_optimizer import EnergyOptimizer
from render_farm_manager.energy_optimization.tariff import TariffPeriod, TimeOfUseTariff
from render_farm_manager.node_specialization.specialization_manager import (
    NodeSpecializationManager,
)
from render_farm_manager.resource_management.resource_partitioner import ResourcePartitioner
from render_farm_manager.scheduling.deadline_scheduler import DeadlineScheduler

BAD = [math.nan, math.inf, -1.0, "2", None]


@pytest.mark.parametrize(
    ("build", "setting"),
    [
        (
            lambda v: DeadlineScheduler(deadline_safety_margin_hours=v),
            "deadline_safety_margin_hours",
        ),
        (lambda v: DeadlineScheduler(max_discard_ratio=v), "max_discard_ratio"),
        (lambda v: DeadlineScheduler(max_preemptions_per_cycle=v), "max_preemptions_per_cycle"),
        (lambda v: EnergyOptimizer(peak_energy_cost=v), "peak_energy_cost"),
        (lambda v: EnergyOptimizer(off_peak_energy_cost=v), "off_peak_energy_cost"),
        (lambda v: EnergyOptimizer(deferral_headroom=v), "deferral_headroom"),
        (lambda v: EnergyOptimizer(wake_up_minutes=v), "wake_up_minutes"),
        (lambda v: NodeSpecializationManager(learning_rate=v), "learning_rate"),
        (lambda v: NodeSpecializationManager(history_weight=v), "history_weight"),
        (lambda v: ResourcePartitioner(borrowing_limit_percentage=v), "borrowing_limit_percentage"),
        (lambda v: TariffPeriod(time(8), time(20), v), "price_per_kwh"),
        (lambda v: TimeOfUseTariff([], default_price=v), "default[_ ]price"),
    ],
)
@pytest.mark.parametrize("value", BAD, ids=repr)
def test_a_bad_setting_is_refused_by_name(build, setting, value):
    with pytest.raises((RenderFarmError, ValueError), match=setting):
        build(value)
