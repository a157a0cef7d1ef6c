"""Farm simulator: drives the real RenderFarmManager through a simulated clock on generated or
recorded workloads, with hidden true render speeds, failures and tariffs, beside baseline
policies, so that every claim about scheduling quality is a measured number."""

from render_farm_manager.simulation.workload import Workload

__all__ = ["Workload"]
