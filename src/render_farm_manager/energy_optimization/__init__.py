"""energy_optimization package."""
