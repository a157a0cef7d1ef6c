"""Wall time of one simulated policy run (prints figures; not a test).

    uv run python benchmarks/simulation_speed.py                        # ours, normal, 150 x 3
    uv run python benchmarks/simulation_speed.py --nodes 500 --days 7   # the issue 10 target
    uv run python benchmarks/simulation_speed.py --policy fifo --scenario crunch --profile

Builds ``generate_workload(scenario, nodes, days, seed)`` and times
``Simulation(workload, POLICIES[policy]).run()`` (building the workload is timed apart). Prints
the seconds, the events the simulator handled, the scheduling cycles it ran (periodic, on-demand
and emergency) and the scheduler's share of the CPU time. ``--profile`` adds the functions with
the most own time (cProfile), for finding where a run spends it.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from render_farm_manager.simulation.engine import Simulation
from render_farm_manager.simulation.policies import POLICIES
from render_farm_manager.simulation.scenarios import SCENARIOS, generate_workload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="ours", choices=sorted(POLICIES))
    parser.add_argument("--scenario", default="normal", choices=sorted(SCENARIOS))
    parser.add_argument("--nodes", type=int, default=150)
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="print the top functions")
    args = parser.parse_args()

    started = time.perf_counter()
    workload = generate_workload(args.scenario, args.nodes, args.days, args.seed)
    built = time.perf_counter() - started
    simulation = Simulation(workload, POLICIES[args.policy])
    profiler = cProfile.Profile() if args.profile else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    result = simulation.run()
    if profiler is not None:
        profiler.disable()
    seconds = time.perf_counter() - started

    print(
        f"{args.policy} on {args.scenario}: {args.nodes} nodes x {args.days:g} days "
        f"(seed {args.seed}), {len(workload.jobs)} jobs"
    )
    print(f"  workload built in   {built:8.2f} s")
    print(f"  simulation ran in   {seconds:8.2f} s")
    print(f"  events handled      {simulation.events_handled:8d}")
    print(f"  scheduling cycles   {result.cycles:8d}")
    print(f"  scheduler CPU       {result.scheduler_cpu_seconds:8.2f} s")
    print(f"  on time             {result.on_time_rate:8.1%}")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
