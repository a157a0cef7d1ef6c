"""PNG charts of a comparison: utilization by client, deadline outcomes, energy cost by hour."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from render_farm_manager.simulation.comparison import Comparison


def utilization_by_client(comparison: Comparison, path: Path, policy: str = "ours") -> Path:
    result = comparison.result(policy) or comparison.results[0]
    fig, ax = plt.subplots(figsize=(10, 4))
    series = result.utilization_by_client
    clients = list(series)
    if clients:
        hours = [h for h, _ in series[clients[0]]]
        shares = [[100 * s for _, s in series[c]] for c in clients]
        ax.stackplot(hours, shares, labels=clients, alpha=0.85)
    ax.set_xlabel("hour of the run")
    ax.set_ylabel("% of online nodes")
    ax.set_ylim(0, 100)
    ax.set_title(f"Farm use by client ({result.policy}, {comparison.workload.scenario})")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def deadline_outcomes(comparison: Comparison, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(10, 4))
    names = [r.policy for r in comparison.results]
    parts = [
        ("on time", "completed_on_time", "#2e7d32"),
        ("late", "completed_late", "#f9a825"),
        ("failed", "failed", "#c62828"),
        ("unfinished", "unfinished", "#616161"),
    ]
    bottom = [0.0] * len(names)
    for label, attribute, colour in parts:
        values = [100 * getattr(r, attribute) / max(1, r.jobs_total) for r in comparison.results]
        ax.bar(names, values, bottom=bottom, label=label, color=colour)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("% of jobs")
    ax.set_ylim(
        min(90.0, min((100 * r.on_time_rate for r in comparison.results), default=90) - 2), 100
    )
    ax.set_title(f"Deadline outcomes per policy ({comparison.workload.scenario})")
    ax.legend(fontsize=8, loc="lower right")
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def energy_cost_by_hour(comparison: Comparison, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(10, 4))
    for result in comparison.results:
        style = "-" if result.policy.startswith("ours") else ":"
        ax.plot(range(24), result.cost_by_hour, style, marker=".", label=result.policy)
    ax.set_xlabel("hour of day")
    ax.set_ylabel("energy cost over the run")
    ax.set_xticks(range(0, 24, 2))
    ax.set_title(f"Energy cost by hour of day ({comparison.workload.scenario})")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_charts(comparison: Comparison, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        utilization_by_client(comparison, out_dir / "utilization_by_client.png"),
        deadline_outcomes(comparison, out_dir / "deadline_outcomes.png"),
        energy_cost_by_hour(comparison, out_dir / "energy_cost_by_hour.png"),
    ]
