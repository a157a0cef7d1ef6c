"""The farm-level state beside clients, nodes and jobs, as JSON documents a store keeps by key:
counted limits, farm metrics, what was learned about node speeds, energy accounting and the
tariff, the progressive-output settings. Also what the manager remembers per job beside the
job model (blocklist counts, previews, observed task times)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from render_farm_manager.core.models import EnergyMode, ProgressiveOutputConfig

if TYPE_CHECKING:
    from render_farm_manager.core.manager import RenderFarmManager

LIMITS, METRICS, SPEEDS, ENERGY, TARIFF, SETTINGS, WARM = (
    "limits",
    "metrics",
    "learned_speeds",
    "energy",
    "tariff",
    "settings",
    "warm_scenes",
)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def limits_doc(manager: RenderFarmManager) -> str:
    return _dumps(dict(manager._path.limits))


def metrics_doc(manager: RenderFarmManager) -> str:
    farm = manager._metrics
    return _dumps(
        {
            "metrics": farm.metrics.model_dump(mode="json"),
            "turnaround_total": farm.turnaround_total,
            "cycles": farm.cycles,
            "utilization_total": farm.utilization_total,
        }
    )


def speeds_doc(manager: RenderFarmManager) -> str | None:
    speeds = getattr(manager.node_specializer, "speeds", None)
    return _dumps(speeds.snapshot()) if speeds is not None else None


def energy_doc(manager: RenderFarmManager) -> str:
    energy = manager.energy_optimizer
    last = manager._cycle.last_accounting
    return _dumps(
        {
            "mode": EnergyMode(energy.current_energy_mode).value,
            "total_kwh": getattr(energy, "total_kwh", 0.0),
            "total_cost": getattr(energy, "total_cost", 0.0),
            "kwh_by_hour": dict(getattr(energy, "kwh_by_hour", {})),
            "cost_by_hour": dict(getattr(energy, "cost_by_hour", {})),
            "last_accounting": last.isoformat() if last is not None else None,
        }
    )


def tariff_doc(manager: RenderFarmManager) -> str | None:
    tariff = getattr(manager.energy_optimizer, "tariff", None)
    periods = getattr(tariff, "periods", None)
    if periods is None:
        return None
    return _dumps(
        {
            "periods": [[p.start.isoformat(), p.end.isoformat(), p.price_per_kwh] for p in periods],
            "default_price": tariff.default_price,  # type: ignore[union-attr]
        }
    )


def settings_doc(manager: RenderFarmManager) -> str:
    return _dumps({"progressive_output_config": manager.progressive_output_config.model_dump()})


def job_extra(manager: RenderFarmManager, job_id: str) -> str | None:
    """What the manager remembers about a job beside its model, or None."""
    extra: dict[str, Any] = {}
    counts = manager._placement.failures_on_node.get(job_id)
    if counts:
        extra["failures_on_node"] = dict(counts)
    shots = manager._shots
    previews = shots.previews.get(job_id)
    if previews:
        extra["previews"] = previews
    observed = shots.observed.get(job_id)
    if observed is not None:
        extra["observed"] = list(observed)
    progress = manager._jobs.progress_at_start.get(job_id)
    if progress is not None:
        extra["progress_at_start"] = progress
    return _dumps(extra) if extra else None


# -- reading back ------------------------------------------------------------------------------


def warm_doc(manager: RenderFarmManager) -> str:
    """The scene each node holds (the shot and step of the last task started there)."""
    return _dumps({node_id: list(scene) for node_id, scene in manager._cycle.warm.items()})


def apply_docs(manager: RenderFarmManager, docs: dict[str, str]) -> None:
    """Put the farm-level documents a store holds back into a freshly built manager."""
    if WARM in docs:
        warm = json.loads(docs[WARM])
        manager._cycle.warm.update({node_id: (s[0], s[1]) for node_id, s in warm.items()})
    if LIMITS in docs:
        manager._path.limits.update(json.loads(docs[LIMITS]))
    if METRICS in docs:
        doc = json.loads(docs[METRICS])
        farm = manager._metrics
        for name, value in doc["metrics"].items():
            farm.metrics.__dict__[name] = value
        farm.turnaround_total = float(doc["turnaround_total"])
        farm.cycles = int(doc["cycles"])
        farm.utilization_total = float(doc["utilization_total"])
    speeds = getattr(manager.node_specializer, "speeds", None)
    if SPEEDS in docs and speeds is not None:
        speeds.restore(json.loads(docs[SPEEDS]))
    if ENERGY in docs:
        _apply_energy(manager, json.loads(docs[ENERGY]))
    if TARIFF in docs:
        _apply_tariff(manager, json.loads(docs[TARIFF]))
    if SETTINGS in docs:
        doc = json.loads(docs[SETTINGS])
        config = ProgressiveOutputConfig.model_validate(doc["progressive_output_config"])
        manager.progressive_output_config = config
        manager.progressive_renderer.default_config = config


def _apply_energy(manager: RenderFarmManager, doc: dict[str, Any]) -> None:
    energy: Any = manager.energy_optimizer
    energy.current_energy_mode = EnergyMode(doc["mode"])
    if hasattr(energy, "total_kwh"):
        energy.total_kwh = float(doc["total_kwh"])
        energy.total_cost = float(doc["total_cost"])
        energy.kwh_by_hour = defaultdict(
            float, {int(h): float(v) for h, v in doc["kwh_by_hour"].items()}
        )
        energy.cost_by_hour = defaultdict(
            float, {int(h): float(v) for h, v in doc["cost_by_hour"].items()}
        )
    last = doc.get("last_accounting")
    manager._cycle.last_accounting = datetime.fromisoformat(last) if last else None


def _apply_tariff(manager: RenderFarmManager, doc: dict[str, Any]) -> None:
    from render_farm_manager.energy_optimization.tariff import TariffPeriod, TimeOfUseTariff

    periods = [
        TariffPeriod(time.fromisoformat(start), time.fromisoformat(end), float(price))
        for start, end, price in doc["periods"]
    ]
    energy = manager.energy_optimizer
    if hasattr(energy, "tariff"):
        energy.tariff = TimeOfUseTariff(periods, doc.get("default_price"))


def apply_extra(manager: RenderFarmManager, job_id: str, text: str) -> None:
    """Put back what the manager remembered about the job."""
    extra = json.loads(text)
    if "failures_on_node" in extra:
        manager._placement.failures_on_node[job_id] = Counter(extra["failures_on_node"])
    if "previews" in extra:
        manager._shots.previews[job_id] = extra["previews"]
    if "observed" in extra:
        hours, estimate = extra["observed"]
        manager._shots.observed[job_id] = (float(hours), float(estimate))
    if "progress_at_start" in extra:
        manager._jobs.progress_at_start[job_id] = float(extra["progress_at_start"])
