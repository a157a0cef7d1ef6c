"""The abstract interface of every component the manager is built from.

Each shipped component implements one of these, and a component you write yourself can take its
place: subclass the interface, implement its abstract methods (the seed API of that component),
and hand an instance to ``RenderFarmManager(scheduler=..., resource_manager=...)``. The other
methods have defaults that work with the abstract ones alone; the shipped components override
them with faster or smarter versions.

For example, a scheduler needs only ``schedule_jobs`` (and the three other seed methods): the
manager asks it each cycle for new assignments of the waiting jobs, in scheduling order, and
applies them through its change path, checking each one first.
"""

from render_farm_manager.core.interfaces.audit_logger import AuditLoggerInterface
from render_farm_manager.core.interfaces.energy_optimizer import EnergyOptimizerInterface
from render_farm_manager.core.interfaces.node_specializer import NodeSpecializerInterface
from render_farm_manager.core.interfaces.performance_monitor import PerformanceMonitorInterface
from render_farm_manager.core.interfaces.progressive_renderer import ProgressiveRendererInterface
from render_farm_manager.core.interfaces.resource_manager import ResourceManagerInterface
from render_farm_manager.core.interfaces.scheduler import SchedulerInterface

__all__ = [
    "AuditLoggerInterface",
    "EnergyOptimizerInterface",
    "NodeSpecializerInterface",
    "PerformanceMonitorInterface",
    "ProgressiveRendererInterface",
    "ResourceManagerInterface",
    "SchedulerInterface",
]
