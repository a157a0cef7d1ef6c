"""Models, errors, clock, lifecycle and the RenderFarmManager facade."""
