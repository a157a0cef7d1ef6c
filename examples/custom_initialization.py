"""Seed README: custom initialization with configured components."""

from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.resource_management.resource_partitioner import ResourcePartitioner
from render_farm_manager.scheduling.deadline_scheduler import DeadlineScheduler
from render_farm_manager.utils.logging import AuditLogger, PerformanceMonitor

# Initialize components
audit_logger = AuditLogger()
performance_monitor = PerformanceMonitor(audit_logger)

# Configure custom components
scheduler = DeadlineScheduler(
    audit_logger=audit_logger,
    performance_monitor=performance_monitor,
    deadline_safety_margin_hours=2.0,
    enable_preemption=True,
)

resource_manager = ResourcePartitioner(
    audit_logger=audit_logger,
    performance_monitor=performance_monitor,
    allow_borrowing=True,
    borrowing_limit_percentage=50.0,
)

# Initialize manager with custom components
manager = RenderFarmManager(
    scheduler=scheduler,
    resource_manager=resource_manager,
    audit_logger=audit_logger,
    performance_monitor=performance_monitor,
)

print(f"Same scheduler: {manager.scheduler is scheduler}")
print(f"Same audit logger: {manager.audit_logger is audit_logger}")
print(f"Borrowing limit: {manager.resource_manager.borrowing_limit_percentage}")
