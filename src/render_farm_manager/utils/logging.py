"""Audit trail and performance monitoring.

:class:`AuditLogger` keeps one structured entry per state change, indexed by job, node, client and
event type, optionally mirrored to a JSON-lines file. :class:`PerformanceMonitor` keeps operation
timings and farm metrics. Both are safe to call from several threads.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from render_farm_manager.core.interfaces import AuditLoggerInterface, PerformanceMonitorInterface
from render_farm_manager.core.models import AuditLogEntry, LogLevel

_INDEXED_KEYS = ("job_id", "node_id", "client_id")
_ENTRY_FIELDS = frozenset(AuditLogEntry.model_fields)
_ENTRY_PRIVATE = {
    name: attribute.get_default()
    for name, attribute in AuditLogEntry.__private_attributes__.items()
}
_new = object.__new__
_set = object.__setattr__


def new_entry(
    timestamp: datetime,
    event_type: str,
    job_id: str | None,
    node_id: str | None,
    client_id: str | None,
    description: str,
    details: dict[str, Any],
    log_level: LogLevel,
) -> AuditLogEntry:
    """The entry ``AuditLogEntry.model_construct`` makes of these values (every field given, so
    every field counts as set), without its walk over the fields looking for aliases and
    defaults: that walk was most of the cost of writing an entry. Like ``model_construct``, it
    does not validate: the logger passes values of the fields' types."""
    entry = _new(AuditLogEntry)
    _set(
        entry,
        "__dict__",
        {
            "timestamp": timestamp,
            "event_type": event_type,
            "job_id": job_id,
            "node_id": node_id,
            "client_id": client_id,
            "description": description,
            "details": details,
            "log_level": log_level,
        },
    )
    _set(entry, "__pydantic_fields_set__", set(_ENTRY_FIELDS))
    _set(entry, "__pydantic_extra__", None)
    _set(entry, "__pydantic_private__", dict(_ENTRY_PRIVATE))
    return entry


class AuditLogger(AuditLoggerInterface):
    """Structured, queryable audit trail of everything that happened in the farm (the typed
    helpers such as ``log_job_submitted`` come from :class:`AuditLoggerInterface`).

    ``clock`` supplies timestamps (the manager passes its own, so simulated runs carry simulated
    times); ``sink_path`` appends every entry as one JSON object per line.
    """

    def __init__(
        self,
        sink_path: str | Path | None = None,
        clock: Callable[[], datetime] | None = None,
        max_entries: int | None = None,
    ) -> None:
        """``max_entries`` bounds the entries kept in memory (the oldest are dropped, in batches
        of a tenth, so the bound may be exceeded by that much); the sink keeps everything."""
        self._lock = threading.RLock()
        self._entries: list[AuditLogEntry] = []
        self._by_key: dict[str, dict[str, list[AuditLogEntry]]] = {
            key: defaultdict(list) for key in _INDEXED_KEYS
        }
        self._by_type: dict[str, list[AuditLogEntry]] = defaultdict(list)
        self._clock = clock or datetime.now
        self._sink_path = Path(sink_path) if sink_path is not None else None
        self._max_entries = max_entries
        self._sinks: list[Callable[[AuditLogEntry], None]] = []
        if self._sink_path is not None:
            self._sink_path.parent.mkdir(parents=True, exist_ok=True)

    # -- configuration -------------------------------------------------------------------------

    def use_clock(self, clock: Callable[[], datetime]) -> None:
        """Take timestamps from ``clock`` from now on."""
        self._clock = clock

    def add_sink(self, sink: Callable[[AuditLogEntry], None]) -> None:
        """Hand every entry to ``sink`` as it is written (a store writing the trail through)."""
        with self._lock:
            self._sinks.append(sink)

    @property
    def entries(self) -> list[AuditLogEntry]:
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    # -- writing -------------------------------------------------------------------------------

    def log_event(self, event_type: str, description: str, **details: Any) -> AuditLogEntry:
        """Record one event. ``job_id``, ``node_id`` and ``client_id`` in ``details`` are indexed;
        ``log_level`` (a :class:`LogLevel` or its value) defaults to info."""
        level = details.pop("log_level", LogLevel.INFO)
        if level is not LogLevel.INFO:
            level = LogLevel(level)
        job_id = details.pop("job_id", None)
        node_id = details.pop("node_id", None)
        client_id = details.pop("client_id", None)
        with self._lock:
            entry = new_entry(
                self._clock(), event_type, job_id, node_id, client_id, description, details, level
            )
            self._entries.append(entry)
            self._by_type[event_type].append(entry)
            by_key = self._by_key
            if job_id is not None:
                by_key["job_id"][job_id].append(entry)
            if node_id is not None:
                by_key["node_id"][node_id].append(entry)
            if client_id is not None:
                by_key["client_id"][client_id].append(entry)
            if self._sink_path is not None:
                self._write(entry)
            for sink in self._sinks:
                sink(entry)
            limit = self._max_entries
            if limit is not None and len(self._entries) > limit + max(1, limit // 10):
                self._trim()
        return entry

    def log_batch_event(
        self, event_type: str, description: str, job_ids: list[str], **details: Any
    ) -> AuditLogEntry:
        """One entry for the same change to many jobs; it appears in each job's history."""
        entry = self.log_event(event_type, description, job_ids=list(job_ids), **details)
        with self._lock:
            index = self._by_key["job_id"]
            for job_id in job_ids:
                index[job_id].append(entry)
        return entry

    def _write(self, entry: AuditLogEntry) -> None:
        record = entry.model_dump(mode="json")
        with self._sink_path.open("a", encoding="utf-8") as sink:  # type: ignore[union-attr]
            sink.write(json.dumps(record, default=str) + "\n")

    def _trim(self) -> None:
        assert self._max_entries is not None
        keep = self._entries[-self._max_entries :]
        self._entries = []
        self._by_type.clear()
        for index in self._by_key.values():
            index.clear()
        for entry in keep:
            self._entries.append(entry)
            self._by_type[entry.event_type].append(entry)
            for key in _INDEXED_KEYS:
                value = getattr(entry, key)
                if value is not None:
                    self._by_key[key][value].append(entry)
            for job_id in entry.details.get("job_ids", ()):
                self._by_key["job_id"][job_id].append(entry)

    # -- queries -------------------------------------------------------------------------------

    def get_job_history(self, job_id: str) -> list[AuditLogEntry]:
        with self._lock:
            return list(self._by_key["job_id"].get(job_id, ()))

    def get_node_history(self, node_id: str) -> list[AuditLogEntry]:
        with self._lock:
            return list(self._by_key["node_id"].get(node_id, ()))

    def get_client_history(self, client_id: str) -> list[AuditLogEntry]:
        with self._lock:
            return list(self._by_key["client_id"].get(client_id, ()))

    def get_logs_by_event_type(self, event_type: str) -> list[AuditLogEntry]:
        with self._lock:
            return list(self._by_type.get(event_type, ()))

    def get_logs_by_time_range(
        self, start_time: datetime, end_time: datetime
    ) -> list[AuditLogEntry]:
        """Entries with ``start_time <= timestamp <= end_time``."""
        with self._lock:
            return [e for e in self._entries if start_time <= e.timestamp <= end_time]

    def get_logs_by_level(self, level: LogLevel | str) -> list[AuditLogEntry]:
        wanted = LogLevel(level)
        with self._lock:
            return [e for e in self._entries if e.log_level == wanted]


class PerformanceMonitor(PerformanceMonitorInterface):
    """Operation timings and farm-level metrics."""

    def __init__(self, audit_logger: AuditLoggerInterface | None = None) -> None:
        self.audit_logger = audit_logger
        self._lock = threading.RLock()
        self.reset_metrics()

    def reset_metrics(self) -> None:
        with self._lock:
            self.operation_times: dict[str, list[float]] = defaultdict(list)
            self.scheduling_cycle_times: list[float] = []
            self.node_utilization: dict[str, float] = {}
            self.client_job_counts: dict[str, int] = {}
            self.client_resource_metrics: dict[str, dict[str, float]] = {}
            self.job_turnaround_hours: dict[str, float] = {}
            self.node_failure_counts: dict[str, int] = defaultdict(int)
            self.energy_cost_saved: float = 0.0

    def record_operation_time(self, operation_name: str, seconds: float) -> None:
        with self._lock:
            self.operation_times[operation_name].append(seconds)

    def _times(self, operation_name: str) -> list[float]:
        with self._lock:
            return list(self.operation_times.get(operation_name, ()))

    def get_average_operation_time(self, operation_name: str) -> float:
        times = self._times(operation_name)
        return sum(times) / len(times) if times else 0.0

    def get_min_operation_time(self, operation_name: str) -> float:
        times = self._times(operation_name)
        return min(times) if times else 0.0

    def get_max_operation_time(self, operation_name: str) -> float:
        times = self._times(operation_name)
        return max(times) if times else 0.0

    def update_scheduling_cycle_time(self, seconds: float, jobs_scheduled: int = 0) -> None:
        with self._lock:
            self.scheduling_cycle_times.append(seconds)
            self.operation_times["scheduling_cycle"].append(seconds)

    def update_node_utilization(self, node_id: str, utilization_percentage: float) -> None:
        with self._lock:
            self.node_utilization[node_id] = utilization_percentage

    def update_client_job_count(self, client_id: str, count: int) -> None:
        with self._lock:
            self.client_job_counts[client_id] = count

    def update_client_resource_metrics(
        self,
        client_id: str,
        allocated_percentage: float,
        used_percentage: float = 0.0,
        borrowed_percentage: float = 0.0,
        lent_percentage: float = 0.0,
    ) -> None:
        with self._lock:
            self.client_resource_metrics[client_id] = {
                "allocated_percentage": allocated_percentage,
                "used_percentage": used_percentage,
                "borrowed_percentage": borrowed_percentage,
                "lent_percentage": lent_percentage,
            }

    def update_job_turnaround_time(self, job_id: str, hours: float) -> None:
        with self._lock:
            self.job_turnaround_hours[job_id] = hours

    def update_node_failure_count(self, node_id: str) -> None:
        with self._lock:
            self.node_failure_counts[node_id] += 1

    def update_energy_cost_saved(self, amount: float) -> None:
        with self._lock:
            self.energy_cost_saved += amount

    def get_client_metrics(self, client_id: str) -> dict[str, Any]:
        with self._lock:
            return {
                "job_count": self.client_job_counts.get(client_id, 0),
                **self.client_resource_metrics.get(client_id, {}),
            }

    @property
    def average_turnaround_hours(self) -> float:
        with self._lock:
            values = list(self.job_turnaround_hours.values())
        return sum(values) / len(values) if values else 0.0
