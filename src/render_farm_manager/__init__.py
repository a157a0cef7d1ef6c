"""Render farm manager: deadline-driven scheduling, client guarantees, learned node matching,
progressive previews and energy-aware scheduling behind the seed API."""

from render_farm_manager.core.errors import RenderFarmError

__all__ = ["RenderFarmError"]
__version__ = "0.1.0"
