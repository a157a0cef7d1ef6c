"""resource_management package."""
