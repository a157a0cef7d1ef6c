"""What the farm has learned about how fast each node, and each hardware class, renders
each job type.

A speed is ``estimated hours / observed hours``: 1.0 renders at the estimate, 2.0 twice as fast.
Each observation moves the estimate by ``learning_rate`` (an exponential moving average); the first
observation is taken as it is. A node without its own history uses its hardware class's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from render_farm_manager.core.validation import setting

REFERENCE_SPEED = 1.0
_MIN_SPEED, _MAX_SPEED = 0.05, 20.0


@dataclass
class SpeedEstimate:
    speed: float
    samples: int


class LearnedSpeeds:
    def __init__(self, learning_rate: float = 0.2) -> None:
        self.learning_rate = setting(
            learning_rate, "learning_rate", maximum=1.0, above_minimum=True
        )
        self._by_node: dict[tuple[str, str], SpeedEstimate] = {}
        self._by_class: dict[tuple[str, str], SpeedEstimate] = {}
        self._lock = threading.Lock()
        self.version = 0
        """Incremented by every observation, so callers can cache derived rankings."""

    def _blend(
        self, table: dict[tuple[str, str], SpeedEstimate], key: tuple[str, str], speed: float
    ) -> float:
        current = table.get(key)
        if current is None:
            table[key] = SpeedEstimate(speed, 1)
            return speed
        current.speed += self.learning_rate * (speed - current.speed)
        current.samples += 1
        return current.speed

    def observe(
        self,
        node_id: str,
        hardware_class: str,
        job_type: str,
        expected_hours: float,
        observed_hours: float,
    ) -> float:
        """Record one render; returns the node's new speed estimate for ``job_type``."""
        if expected_hours <= 0 or observed_hours <= 0:
            raise ValueError(
                f"render times must be positive (expected {expected_hours}, "
                f"observed {observed_hours})"
            )
        speed = min(_MAX_SPEED, max(_MIN_SPEED, expected_hours / observed_hours))
        with self._lock:
            node_speed = self._blend(self._by_node, (node_id, job_type), speed)
            self._blend(self._by_class, (hardware_class, job_type), speed)
            self.version += 1
        return node_speed

    def speed(self, node_id: str, hardware_class: str, job_type: str) -> float:
        """Best current estimate: the node's own, else its class's, else the reference speed."""
        estimate = self._by_node.get((node_id, job_type)) or self._by_class.get(
            (hardware_class, job_type)
        )
        return estimate.speed if estimate is not None else REFERENCE_SPEED

    def class_speed(self, hardware_class: str, job_type: str) -> float:
        estimate = self._by_class.get((hardware_class, job_type))
        return estimate.speed if estimate is not None else REFERENCE_SPEED

    def class_samples(self, hardware_class: str, job_type: str) -> int:
        estimate = self._by_class.get((hardware_class, job_type))
        return estimate.samples if estimate is not None else 0

    def samples(self, node_id: str, job_type: str) -> int:
        estimate = self._by_node.get((node_id, job_type))
        return estimate.samples if estimate is not None else 0

    def node_speeds(self, node_id: str) -> dict[str, float]:
        return {jt: e.speed for (nid, jt), e in self._by_node.items() if nid == node_id}

    def set_node(self, node_id: str, job_type: str, speed: float) -> None:
        """Take ``speed`` as the node's speed for ``job_type`` (an operator's correction)."""
        with self._lock:
            current = self._by_node.get((node_id, job_type))
            samples = current.samples if current is not None else 1
            self._by_node[(node_id, job_type)] = SpeedEstimate(speed, samples)
            self.version += 1

    def seed_node(self, node_id: str, job_type: str, speed: float) -> None:
        """Start from a known speed (e.g. a node's stored ``performance_history``)."""
        with self._lock:
            self._by_node.setdefault((node_id, job_type), SpeedEstimate(speed, 1))
            self.version += 1

    def snapshot(self) -> dict[str, list[list[Any]]]:
        """Everything learned, as JSON-ready lists (for a store)."""
        with self._lock:
            return {
                "by_node": [[n, j, e.speed, e.samples] for (n, j), e in self._by_node.items()],
                "by_class": [[c, j, e.speed, e.samples] for (c, j), e in self._by_class.items()],
            }

    def restore(self, snapshot: dict[str, list[list[Any]]]) -> None:
        """Take back what :meth:`snapshot` gave (replacing what is known)."""
        by_node = {
            (str(n), str(j)): SpeedEstimate(float(s), int(c))
            for n, j, s, c in snapshot.get("by_node", [])
        }
        by_class = {
            (str(n), str(j)): SpeedEstimate(float(s), int(c))
            for n, j, s, c in snapshot.get("by_class", [])
        }
        with self._lock:
            self._by_node = by_node
            self._by_class = by_class
            self.version += 1
