"""Seed README: basic initialization with default components."""

from render_farm_manager.core.manager import RenderFarmManager

# Initialize with default components
manager = RenderFarmManager()

print(f"Scheduler: {type(manager.scheduler).__name__}")
print(f"Energy mode: {manager.get_farm_status()['current_energy_mode']}")
