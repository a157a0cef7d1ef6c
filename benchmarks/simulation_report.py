"""Regenerate BENCHMARKS.md: every named scenario, fixed seeds, every policy.

    uv run python benchmarks/simulation_report.py              # writes BENCHMARKS.md
    uv run python benchmarks/simulation_report.py --nodes 20   # a quicker, smaller farm

Each scenario runs every policy on the same workload (same seed, same failures). The figures are
deterministic except the scheduler's CPU time, which is measured.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

from render_farm_manager.simulation.comparison import Comparison, run_comparison
from render_farm_manager.simulation.optimal import reference_workload
from render_farm_manager.simulation.policies import POLICIES, resolve_policies
from render_farm_manager.simulation.scenarios import SCENARIOS, generate_workload
from render_farm_manager.simulation.tables import idle_by_choice

ROOT = Path(__file__).resolve().parent.parent


def pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def scenario_section(comparison: Comparison) -> list[str]:
    w = comparison.workload
    lines = [
        f"### {w.scenario}",
        "",
        f"{len(w.jobs)} jobs ({sum(j.estimated_duration_hours for j in w.jobs):,.0f} "
        f"reference render-hours), {sum(c.count for c in w.node_classes)} nodes, "
        f"{w.days:g} days of submissions, seed {w.seed}.",
        "",
        "| policy | on time | on time (feasible) | mean / p95 late h | mean / p95 turnaround h "
        "| utilization | idle owed / by choice h | efficiency | guarantee short (client-h) "
        "| first preview from submit / from start | kWh (night) | cost (night) "
        "| longest wait h (low / critical) | cold starts | scarce misused h | preemptions "
        "| work lost h | overhead |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in comparison.results:
        lost = r.work_lost_to_failures_node_hours + r.work_lost_to_preemption_node_hours
        waits = r.longest_wait_hours_by_priority
        lines.append(
            f"| {r.policy} | {pct(r.on_time_rate)} | {pct(r.feasible_on_time_rate)} "
            f"| {r.mean_tardiness_hours:.2f} / {r.p95_tardiness_hours:.2f} "
            f"| {r.turnaround_mean_hours:.2f} / {r.turnaround_p95_hours:.2f} "
            f"| {pct(r.utilization)} "
            f"| {r.idle_hours.get('runnable', 0):.0f} / {idle_by_choice(r):.0f} "
            f"| {r.render_efficiency:.3f} "
            f"| {r.guarantee_shortfall_client_hours:.0f} "
            f"| {pct(r.first_preview_from_submit_mean)} / {pct(r.first_preview_fraction_mean)} "
            f"| {r.energy_kwh:,.0f} ({r.overnight_kwh:,.0f}) "
            f"| {r.energy_cost:,.0f} ({r.overnight_cost:,.0f}) "
            f"| {waits.get('low', 0.0):.1f} / {waits.get('critical', 0.0):.1f} "
            f"| {pct(r.cold_start_share if r.task_starts else None)} "
            f"| {r.scarce_node_hours_misused:.0f} "
            f"| {r.preemptions} | {lost:.1f} "
            f"| {pct(r.scheduler_overhead, 4)} |"
        )
    lines += [
        "",
        "| target (ours) | value | seed floor | our goal | floor | goal |",
        "|---|---|---|---|---|---|",
    ]
    mark = {True: "met", False: "**missed**", None: "-"}
    for t in comparison.targets():
        lines.append(
            f"| {t.criterion} | {t.show(t.value)} | {t.show(t.floor)} | {t.show(t.goal)} "
            f"| {mark[t.meets_floor]} | {mark[t.meets_goal]} |"
        )
    return [*lines, ""]


OPTIMAL_POLICIES = (
    "ours",
    "ours-no-learning",
    "edf",
    "deadline10",
    "opencue",
    "fifo",
    "round-robin",
)


def optimal_section(seeds: int, workers: int) -> list[str]:
    """Small failure-free crunch instances: each policy's gap to the CP-SAT optimum."""
    policies = resolve_policies(list(OPTIMAL_POLICIES))
    lines = [
        "## Small instances against the CP-SAT optimum",
        "",
        "`crunch`, 6 nodes, half a day of submissions, no failures or maintenance "
        "(`reference_workload`). The reference knows every true duration and arrival in "
        "advance and maximises jobs on time; the gap is the share of its on-time jobs a policy "
        "missed (lower is better; our goal is within 2%).",
        "",
        "| seed | jobs | CP-SAT on time | " + " | ".join(OPTIMAL_POLICIES) + " |",
        "|---|---|---|" + "---|" * len(OPTIMAL_POLICIES),
    ]
    gaps: dict[str, list[float]] = {name: [] for name in OPTIMAL_POLICIES}
    for seed in range(1, seeds + 1):
        workload = reference_workload(generate_workload("crunch", 6, 0.5, seed))
        comparison = run_comparison(workload, policies, workers=workers, optimal=True)
        assert comparison.optimal is not None
        reference = comparison.optimal
        proof = "" if reference.proven_optimal else f" (bound {reference.upper_bound})"
        row = []
        for name in OPTIMAL_POLICIES:
            gap = comparison.optimal_gap(name) or 0.0
            gaps[name].append(gap)
            row.append(pct(gap))
        lines.append(
            f"| {seed} | {reference.jobs} | {reference.on_time}{proof} | " + " | ".join(row) + " |"
        )
        print(
            f"optimal seed {seed}: {reference.on_time}/{reference.jobs}",
            file=sys.stderr,
            flush=True,
        )
    mean = [pct(sum(g) / len(g)) for g in gaps.values()]
    lines += ["| mean | | | " + " | ".join(mean) + " |", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=40)
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument(
        "--optimal-seeds",
        type=int,
        default=5,
        help="small crunch instances compared with the CP-SAT reference",
    )
    args = parser.parse_args()
    policies = resolve_policies(list(POLICIES))
    sections: list[str] = []
    started = time.perf_counter()
    for scenario in SCENARIOS:
        workload = generate_workload(scenario, args.nodes, args.days, args.seed)
        t0 = time.perf_counter()
        comparison = run_comparison(workload, policies, workers=args.workers)
        print(
            f"{scenario}: {len(workload.jobs)} jobs, {time.perf_counter() - t0:.1f}s",
            file=sys.stderr,
            flush=True,
        )
        sections += scenario_section(comparison)
    header = [
        "# Benchmarks: scheduling quality in simulation",
        "",
        "Generated by `uv run python benchmarks/simulation_report.py "
        f"--nodes {args.nodes} --days {args.days:g} --seed {args.seed}` "
        f"(Python {platform.python_version()}, {time.perf_counter() - started:.0f} s). "
        "Do not edit by hand; the notes at the end are part of the script.",
        "",
        "Every policy runs on the same workload with the same hidden speeds, noise, failures and "
        "tariff. *Feasible* deadlines are those the job could meet on an empty farm on the "
        "fastest fitting hardware, starting when the jobs it depends on could have finished. "
        "*Utilization* is busy node-hours over busy node-hours plus the hours an awake node sat "
        "idle while work it could run waited and was allowed to start (*idle owed*); *idle by "
        "choice* is idle node-hours while the only fitting work was deferred for cheaper power, "
        "waited for faster hardware or belonged to a client at its ceiling. *Efficiency* is the "
        "best possible "
        "node-hours of the completed jobs over the node-hours they used (lost work included). "
        "*Guarantee short* is client-hours below a client's guaranteed nodes while it had "
        "work waiting. *Turnaround* is submission to completion of the completed jobs. *First "
        "preview from submit* is the mean time from submission to a job's first preview as a "
        "share of its turnaround (queue time included: the seed's measure); *from start*, the "
        "time from its first start as a share of its start-to-end time. Energy is integrated "
        "at each node's true idle, busy and sleep draw over the same horizon for every policy "
        "(the submission days plus two days, whenever its work ended); night is 21:00-07:00. "
        "*Cold starts* is the share of shot task starts whose node loads the scene first "
        "(0.5-10 minutes, per job) because the last work it started was of another shot or "
        "step, or it has slept, failed or gone to maintenance since. *Scarce misused* is the "
        "GPU and large-memory (twice the median memory or more) node-hours spent on work that "
        "needed neither "
        "while as much work that needed them waited. "
        "*Overhead* is scheduler CPU time over render time.",
        "",
        "Policies: " + "; ".join(f"`{p.name}` {p.description}" for p in policies) + ".",
        "",
    ]
    notes = [
        "## Reading the misses",
        "",
        "* **Scale.** The targets of the issue on scheduling quality are stated for 150 nodes "
        "and 5 seeds per scenario; this report runs 40 nodes and one seed, because a 150-node "
        "run of `ours` still takes minutes on this machine. Single-seed differences of one or "
        "two jobs (0.5-1 pp) are noise.",
        "* **On time and turnaround.** `ours` trails EDF, the strong simple baseline, in most "
        "scenarios: it holds work back for faster hardware and for cheaper power (see *idle by "
        "choice*), and its slack is still computed at reference speed, so work that only fast "
        "hardware can finish in time is filed as already late. It is far ahead of the "
        "baselines as studios configure them (Deadline, OpenCue) under crunch.",
        "* **Utilization** counts against a policy only the hours a node sat idle while work "
        "it could run waited and may start. What is left for `ours` is mostly guarantees kept "
        "for clients whose waiting work fits none of the idle nodes (a guarantee is counted in "
        "nodes, not in kinds of hardware); lending those raised utilization to 98.6% on "
        "average but cost 0.55 pp of jobs on time over nine runs (normal, overnight, crunch; "
        "seeds 1-3), so they are kept. Work deferred for cheaper "
        "power does lend its client's guarantee meanwhile.",
        "* **Energy.** Nearly all the kWh saved comes from sleeping idle nodes (the manager's "
        "power plan, which `deadline10` gets too, as Deadline's idle shutdown: it draws about "
        "as little or less). Deferring energy-intensive work to cheap hours (the default "
        "`balanced` mode defers only low-priority work; `night_savings` deferred more and met "
        "fewer deadlines) lowers cost a little but moves "
        "work into the night, so night-time kWh can exceed round-robin's when the farm is "
        "full anyway (`crunch`).",
        "* **Previews from submission.** A shot's first look (its first frame) queues one level "
        "above the shot, and its first frames render before the bulk; the wait for a node "
        "still dominates, so the seed's 10% of turnaround is missed.",
        "* **Guarantee shortfall** counts work waiting by choice (for faster nodes, or deferred "
        "to cheaper hours) as unserved demand, so it is higher for `ours` although no client is "
        "ever kept below its guarantee by another client's work (see the property test "
        "`test_guarantees_are_honoured_while_demanded`).",
        "",
    ]
    sections += optimal_section(args.optimal_seeds, args.workers)
    args.out.write_text("\n".join(header + sections + notes), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
