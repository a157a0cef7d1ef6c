"""Job events out to production tracking: one hook interface, signed webhooks, and adapters for
Kitsu and ShotGrid (the ``tracking`` extra).

>>> from render_farm_manager.hooks import HookDispatcher, WebhookHook
>>> dispatcher = HookDispatcher([WebhookHook("https://tracker.example/hooks", secret)])
>>> dispatcher.attach(manager)

The Kitsu and ShotGrid adapters are imported from their modules
(:mod:`render_farm_manager.hooks.kitsu`, :mod:`render_farm_manager.hooks.shotgrid`); they load
their client library when created.
"""

from render_farm_manager.hooks.base import (
    DeliveryError,
    EventHook,
    HookDispatcher,
    HookStats,
    RetryPolicy,
)
from render_farm_manager.hooks.events import (
    DeadlineWatch,
    JobEvent,
    JobEventKind,
    JobEventTranslator,
    job_events,
)
from render_farm_manager.hooks.tracking import TaskMap, TrackedTask
from render_farm_manager.hooks.webhook import WebhookHook, verify_signature

__all__ = [
    "DeadlineWatch",
    "DeliveryError",
    "EventHook",
    "HookDispatcher",
    "HookStats",
    "JobEvent",
    "JobEventKind",
    "JobEventTranslator",
    "RetryPolicy",
    "TaskMap",
    "TrackedTask",
    "WebhookHook",
    "job_events",
    "verify_signature",
]
