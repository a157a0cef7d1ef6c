"""Seeded workloads for a studio's week: named scenarios over a heterogeneous farm.

Scenarios:
  normal         offered load about 80% of the farm, day/night submission rhythm
  crunch         demand well above capacity (about 140%)
  overnight      artists submit at the end of the day for the next morning
  failure-storm  normal load, and for a day nodes fail forty times as often
  farm-upgrade   a new hardware generation arrives mid-run while the oldest is retired

The work is what a studio runs: most jobs (animation, vfx, lighting and compositing: about
three quarters of them) are shots of 24-500 frames (log-uniform) at 10 s to 2 h a frame
(log-uniform; composites 10 s to 10 min), in one step (render), two (render, then composite
frame by frame) or three (a simulation as one task, render, composite); the rest (simulations,
scene assembly) are single-task jobs. A shot is at most a few percent of the scenario's work, so
each scenario keeps its load (work over farm capacity). Shots are chunked by the manager into
tasks of about an hour (``target_task_hours``: the manager sizes chunks by the speed it has
learned) or, for some, by a fixed chunk size a wrangler picked for tasks of half an hour to two
hours on a typical node.

The world does not suit a learner by construction (the same in every scenario):

- Estimates are biased, by job type (:data:`ESTIMATE_BIAS`): artists are mostly optimistic, so a
  vfx shot or a simulation takes a quarter to a third longer than its estimate, a composite about
  its estimate; each job also varies around that (log-sigma :data:`ESTIMATE_SPREAD`).
- Nodes of a class differ (:data:`NODE_VARIATION`): a few percent in speed, about one node in
  twenty a slow outlier (a thermal-throttled box at 0.6-0.8 of the speed), run-to-run noise that
  differs from node to node, one node in ten declaring wrong specialisation tags.
- The manager's hardware classes are not the simulator's: some cpu-gen1 and gpu-gen1 nodes have
  had their memory upgraded to 256 GB (another declared class, the same speed), and the last
  third of gpu-gen2 is a power-capped batch (the same declared hardware, 0.8 of the speed); in
  farm-upgrade the second half of the new cpu-gen3 is capped too (0.85: the building's power
  budget).

A node loads a job's scene (0.5-10 minutes, :data:`SCENE_LOAD_MINUTES`) before its first
frame unless the last work it started was of the same shot and step and it has not slept, failed
or gone to maintenance since: the cold-start share of the shot tasks is reported.

Offered load is true work (estimate times noise) over the farm's true capacity (its nodes'
expected speeds), so the biased estimates make the queue look lighter than it is, not the
scenario heavier.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, time
from typing import Any

from render_farm_manager.simulation.workload import (
    STEP_SHARES,
    ClientSpec,
    JobSpec,
    MaintenanceSpec,
    NodeClassSpec,
    TariffPeriodSpec,
    Workload,
    WorkloadError,
)

SCENARIOS = ("normal", "crunch", "overnight", "failure-storm", "farm-upgrade")
START = datetime(2026, 11, 23, 0, 0)  # a Monday

# median hours, log-sigma, share of GPU renders, memory choices, share energy-intensive
JOB_TYPES: dict[str, tuple[float, float, float, tuple[int, ...], float]] = {
    "animation": (2.0, 0.7, 0.4, (16, 32, 64), 0.2),
    "vfx": (3.0, 0.8, 0.3, (32, 64, 96), 0.5),
    "simulation": (4.0, 0.9, 0.0, (64, 128, 256), 0.7),
    "lighting": (2.5, 0.7, 0.6, (32, 64), 0.3),
    "compositing": (0.6, 0.6, 0.0, (8, 16), 0.0),
    "scene-assembly": (1.0, 0.6, 0.0, (128, 256, 512), 0.1),
}
TYPE_WEIGHTS = {
    "animation": 0.25,
    "vfx": 0.2,
    "simulation": 0.1,
    "lighting": 0.2,
    "compositing": 0.15,
    "scene-assembly": 0.1,
}
ESTIMATE_BIAS = {
    "animation": 1.12,
    "vfx": 1.25,
    "simulation": 1.35,
    "lighting": 1.18,
    "compositing": 1.02,
    "scene-assembly": 1.08,
}
"""Median true duration over the artist's estimate, by job type (a shot's is its type's)."""
ESTIMATE_SPREAD = 0.15
"""Log-sigma of a job's true duration around its type's biased estimate."""
CHAINS = (
    ("simulation", "lighting", "compositing"),
    ("scene-assembly", "animation"),
    ("vfx", "compositing"),
)

# name, share, cores, memory, gpus, model, gpu memory, capability, tags, efficiency,
# idle W, busy W, sleep W, speeds by type (hidden), default speed
NODE_CLASSES: tuple[tuple[Any, ...], ...] = (
    (
        "cpu-gen1",
        0.30,
        32,
        128,
        0,
        None,
        0,
        0,
        [],
        50,
        160,
        480,
        8,
        {"compositing": 1.0, "simulation": 0.9},
        1.0,
    ),
    (
        "cpu-gen2",
        0.25,
        64,
        256,
        0,
        None,
        0,
        0,
        ["simulation"],
        80,
        130,
        520,
        6,
        {"simulation": 2.6, "vfx": 1.9, "compositing": 2.0},
        1.8,
    ),
    (
        "gpu-gen1",
        0.15,
        32,
        128,
        2,
        "RTX A5000",
        24,
        8.6,
        ["lighting"],
        60,
        190,
        900,
        10,
        {"lighting": 2.2, "animation": 1.8, "vfx": 1.4, "simulation": 0.9},
        1.1,
    ),
    (
        "gpu-gen2",
        0.15,
        64,
        256,
        4,
        "RTX 6000 Ada",
        48,
        8.9,
        ["path-tracing", "lighting"],
        85,
        170,
        1500,
        9,
        {"lighting": 4.0, "animation": 3.2, "vfx": 2.6, "simulation": 1.6},
        1.9,
    ),
    (
        "highmem",
        0.15,
        48,
        768,
        0,
        None,
        0,
        0,
        ["scene-assembly", "high-memory"],
        65,
        200,
        600,
        10,
        {"scene-assembly": 2.2, "simulation": 1.5},
        1.2,
    ),
)

# Hidden variation within each class (see NodeClassSpec): speed spread, slow outliers, a
# power-capped batch, run-to-run noise, wrong tags, upgraded memory.
NODE_VARIATION: dict[str, dict[str, Any]] = {
    "cpu-gen1": {  # the oldest boxes: more outliers, some with their memory upgraded
        "speed_spread": 0.05,
        "outlier_share": 0.08,
        "outlier_speed": 0.7,
        "run_noise_sigma": 0.08,
        "wrong_tag_share": 0.1,
        "upgraded_memory_share": 0.3,
        "upgraded_memory_gb": 256,
    },
    "cpu-gen2": {
        "speed_spread": 0.04,
        "outlier_share": 0.05,
        "outlier_speed": 0.7,
        "run_noise_sigma": 0.06,
        "wrong_tag_share": 0.1,
    },
    "gpu-gen1": {  # GPU drivers: noisier runs
        "speed_spread": 0.04,
        "outlier_share": 0.05,
        "outlier_speed": 0.65,
        "run_noise_sigma": 0.1,
        "wrong_tag_share": 0.1,
        "upgraded_memory_share": 0.25,
        "upgraded_memory_gb": 256,
    },
    "gpu-gen2": {  # a second batch power-capped to fit the room's power budget
        "speed_spread": 0.04,
        "outlier_share": 0.04,
        "outlier_speed": 0.7,
        "run_noise_sigma": 0.08,
        "wrong_tag_share": 0.1,
        "capped_share": 1 / 3,
        "capped_speed": 0.8,
    },
    "highmem": {  # scene assembly reads from shared storage: the noisiest runs
        "speed_spread": 0.03,
        "outlier_share": 0.04,
        "outlier_speed": 0.75,
        "run_noise_sigma": 0.12,
        "wrong_tag_share": 0.1,
    },
    "cpu-gen3": {  # farm-upgrade's new generation; its second half power-capped
        "speed_spread": 0.04,
        "outlier_share": 0.03,
        "outlier_speed": 0.7,
        "run_noise_sigma": 0.05,
        "wrong_tag_share": 0.1,
        "capped_share": 0.5,
        "capped_speed": 0.85,
    },
}

TARIFF = [
    TariffPeriodSpec(start=time(7), end=time(17), price_per_kwh=0.20),
    TariffPeriodSpec(start=time(17), end=time(21), price_per_kwh=0.32),
    TariffPeriodSpec(start=time(21), end=time(23), price_per_kwh=0.14),
    TariffPeriodSpec(start=time(23), end=time(7), price_per_kwh=0.07),
]

CLIENTS = [
    ClientSpec(
        id="northlight",
        name="Northlight Pictures",
        sla_tier="premium",
        guaranteed_resources=35,
        max_resources=75,
    ),
    ClientSpec(
        id="bluefin",
        name="Bluefin Animation",
        sla_tier="standard",
        guaranteed_resources=20,
        max_resources=60,
    ),
    ClientSpec(
        id="kestrel",
        name="Kestrel VFX",
        sla_tier="standard",
        guaranteed_resources=20,
        max_resources=60,
    ),
    ClientSpec(
        id="pixelmill",
        name="Pixelmill Ads",
        sla_tier="basic",
        guaranteed_resources=5,
        max_resources=40,
    ),
]
CLIENT_WEIGHTS = (0.35, 0.25, 0.25, 0.15)
LOAD = {"normal": 0.8, "crunch": 1.4, "overnight": 0.8, "failure-storm": 0.8, "farm-upgrade": 0.85}

# Shots: job types rendered as frame ranges, frame counts, seconds per frame (log-uniform).
SHOT_TYPES = frozenset({"animation", "vfx", "lighting", "compositing"})
SHOT_FRAMES = (24, 500)
SECONDS_PER_FRAME = (10.0, 7200.0)
COMP_SECONDS_PER_FRAME = (10.0, 600.0)
STEP_WEIGHTS = {1: 0.65, 2: 0.25, 3: 0.10}
"""Steps of a rendered shot: render; render -> comp; sim -> render -> comp."""
FIXED_CHUNK_SHARE = 0.3
"""Shots whose submitter fixed the chunk size (the others ask for tasks of TASK_HOURS)."""
TASK_HOURS = 1.0
SHOT_SHARE_CAP = 0.025
"""A shot is at most this share of the scenario's work (within 2-200 hours)..."""
SIM_SHOT_CAP_HOURS = 40.0
"""...and a shot with a simulation step at most this many (its sim is one task)."""
SHOT_LANES = 0.2
"""Share of the farm a shot can expect to use at once (sizes its deadline)."""
SCENE_LOAD_MINUTES = (0.5, 10.0)
"""What loading a job's scene costs a node that last worked on something else (log-uniform,
drawn per job from its own seed, so the rest of a workload is the same with or without it)."""


def _node_classes(nodes: int, scenario: str, hours: float) -> list[NodeClassSpec]:
    specs = []
    for (
        name,
        share,
        cores,
        memory,
        gpus,
        model,
        gpu_mem,
        capability,
        tags,
        eff,
        idle,
        busy,
        sleep,
        speeds,
        default,
    ) in NODE_CLASSES:
        specs.append(
            NodeClassSpec(
                name=name,
                count=max(1, round(nodes * share)),
                cpu_cores=cores,
                memory_gb=memory,
                gpu_count=gpus,
                gpu_model=model,
                gpu_memory_gb=gpu_mem,
                gpu_compute_capability=capability,
                specialized_for=list(tags),
                power_efficiency_rating=eff,
                idle_watts=idle,
                busy_watts=busy,
                sleep_watts=sleep,
                speed_by_job_type=dict(speeds),
                default_speed=default,
                **NODE_VARIATION[name],
            )
        )
    if scenario == "farm-upgrade":
        half = hours / 2
        old = next(s for s in specs if s.name == "cpu-gen1")
        old.retires_at_hours = half + 12
        specs.append(
            NodeClassSpec(
                name="cpu-gen3",
                count=max(1, round(nodes * 0.3)),
                cpu_cores=96,
                memory_gb=384,
                specialized_for=["simulation"],
                power_efficiency_rating=92,
                idle_watts=110,
                busy_watts=560,
                sleep_watts=5,
                arrives_at_hours=half,
                speed_by_job_type={"simulation": 3.4, "vfx": 2.5, "compositing": 2.6},
                default_speed=2.4,
                **NODE_VARIATION["cpu-gen3"],
            )
        )
    return specs


def _capacity_per_hour(specs: list[NodeClassSpec]) -> float:
    """Reference-speed hours of work the farm renders per hour (at the average class speed,
    times the expected speed factor of the class's nodes)."""
    total = 0.0
    for spec in specs:
        average = sum(spec.speed(t) * w for t, w in TYPE_WEIGHTS.items())
        total += spec.count * average * spec.mean_speed_factor()
    return total


def _arrival_weight(hour_of_day: float, scenario: str) -> float:
    if scenario == "overnight":
        return 6.0 if 17 <= hour_of_day < 21 else 0.3
    return 1.0 + 1.5 * math.exp(-((hour_of_day - 14.0) ** 2) / 18.0)  # busiest mid-afternoon


def _deadline_factor(rng: random.Random) -> float:
    draw = rng.random()
    if draw < 0.04:
        return rng.uniform(0.4, 0.9)  # impossible even on the fastest node
    if draw < 0.25:
        return rng.uniform(1.5, 3.0)
    if draw < 0.75:
        return rng.uniform(3.0, 8.0)
    return rng.uniform(8.0, 24.0)


def _scene_load(rng_name: str, job_id: str) -> float:
    """Minutes a cold node spends loading the job's scene (see :data:`SCENE_LOAD_MINUTES`)."""
    return round(_log_uniform(random.Random(f"{rng_name}:scene:{job_id}"), *SCENE_LOAD_MINUTES), 2)


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _shot(
    rng: random.Random,
    job_type: str,
    frames: int | None,
    cap_hours: float,
    lanes: int,
    typical_speed: float,
) -> tuple[dict[str, object], float, float]:
    """A shot's fields, its estimated hours and its span: about how long it takes when it gets
    its share of the farm (``lanes`` nodes), never less than its longest chain of tasks. A fixed
    chunk size is what makes tasks of 0.5-2 hours on a typical node (``typical_speed``)."""
    if frames is None:
        frames = round(_log_uniform(rng, *SHOT_FRAMES))
    steps = 1
    if job_type != "compositing":
        steps = rng.choices(list(STEP_WEIGHTS), list(STEP_WEIGHTS.values()))[0]
    low, high = COMP_SECONDS_PER_FRAME if job_type == "compositing" else SECONDS_PER_FRAME
    per_frame = _log_uniform(rng, low, high) / 3600.0
    cap = min(cap_hours, SIM_SHOT_CAP_HOURS) if steps == 3 else cap_hours
    per_frame = min(per_frame, cap / frames)
    hours = round(per_frame * frames, 4)
    fields: dict[str, object] = {"frames": frames, "steps": steps}
    if rng.random() < FIXED_CHUNK_SHARE:
        chunk = min(frames, max(1, round(rng.uniform(0.5, 2.0) * typical_speed / per_frame)))
        fields["chunk_size"] = chunk
        task_hours = chunk * per_frame
    else:
        fields["target_task_hours"] = TASK_HOURS
        task_hours = TASK_HOURS
    path = 0.0
    for name, share in STEP_SHARES[steps].items():
        step_hours = share * hours
        path += (
            step_hours if name == "sim" else min(step_hours, max(task_hours, step_hours / frames))
        )
    return fields, hours, max(path, hours / lanes)


def _make_job(
    rng: random.Random,
    job_id: str,
    job_type: str,
    client: str,
    at: float,
    scenario: str,
    dependencies: list[str],
    before_hours: float = 0.0,
    shot_cap_hours: float = 0.0,
    lanes: int = 1,
    typical_speed: float = 1.0,
    frames: int | None = None,
) -> tuple[JobSpec, float]:
    """One job and its span (hours it takes with its share of the farm); ``before_hours`` is
    the span of the chain ahead of it, which its deadline leaves room for. Job types in
    :data:`SHOT_TYPES` are shots (of ``frames`` frames, if given), others single tasks."""
    median, sigma, gpu_share, memories, energy_share = JOB_TYPES[job_type]
    shot: dict[str, object] = {}
    if job_type in SHOT_TYPES and shot_cap_hours > 0:
        shot, hours, span = _shot(rng, job_type, frames, shot_cap_hours, lanes, typical_speed)
    else:
        hours = round(min(36.0, max(0.1, rng.lognormvariate(math.log(median), sigma))), 3)
        span = hours
    factor = _deadline_factor(rng)
    if scenario == "overnight":
        morning = (math.floor(at / 24) + 1) * 24 + 9  # 09:00 next day
        after = max(morning - at, (before_hours + span) * 1.3)
    else:
        after = (before_hours + span) * factor + (2.0 if factor > 1 else 0.0)
    emergency = rng.random() < 0.01
    priority = rng.choices(("low", "medium", "high", "critical"), (0.25, 0.45, 0.22, 0.08))[0]
    spec = JobSpec(
        id=job_id,
        client_id=client,
        job_type=job_type,
        submit_at_hours=round(at, 4),
        estimated_duration_hours=hours,
        deadline_after_hours=round(after, 3),
        priority=priority,
        requires_gpu=rng.random() < gpu_share,
        memory_requirements_gb=rng.choice(memories),
        cpu_requirements=rng.choice((8, 16, 24)),
        dependencies=dependencies,
        emergency=emergency,
        supports_checkpoint=rng.random() < 0.6,
        supports_progressive_output=rng.random() < 0.7,
        energy_intensive=rng.random() < energy_share,
        can_be_preempted=rng.random() < 0.95,
        noise=round(ESTIMATE_BIAS[job_type] * rng.lognormvariate(0.0, ESTIMATE_SPREAD), 4),
        **shot,
    )
    return spec, span


def generate_workload(
    scenario: str = "normal", nodes: int = 60, days: float = 3.0, seed: int = 1
) -> Workload:
    """A seeded workload for ``scenario`` on about ``nodes`` nodes over ``days`` days."""
    if scenario not in SCENARIOS:
        raise WorkloadError(f"unknown scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}")
    if nodes < 5:
        raise WorkloadError(f"a farm needs at least 5 nodes (one per class), got {nodes}")
    if not 0 < days <= 30:
        raise WorkloadError(f"days must be within (0, 30], got {days}")
    rng_name = f"{scenario}:{nodes}:{float(days):g}:{seed}"
    rng = random.Random(rng_name)
    hours = days * 24.0
    specs = _node_classes(nodes, scenario, hours)
    base_specs = [s for s in specs if s.arrives_at_hours == 0]
    # Submissions stop 20% before the end so most work can finish inside the run. The load
    # counts true work (estimates times noise), so biased estimates do not make it heavier.
    window = hours * 0.8
    work_hours = LOAD[scenario] * _capacity_per_hour(base_specs) * window
    shot_cap = min(200.0, max(2.0, SHOT_SHARE_CAP * work_hours))
    base_nodes = sum(s.count for s in base_specs)
    lanes = max(2, round(SHOT_LANES * base_nodes))
    typical_speed = _capacity_per_hour(base_specs) / base_nodes
    jobs: list[JobSpec] = []
    submitted = 0.0
    peak_weight = 6.0
    while submitted < work_hours:
        at = rng.uniform(0, window)
        if rng.uniform(0, peak_weight) > _arrival_weight(at % 24, scenario):
            continue
        client = rng.choices([c.id for c in CLIENTS], CLIENT_WEIGHTS)[0]
        if rng.random() < 0.15:
            chain = rng.choice(CHAINS)
            previous: list[str] = []
            chain_hours = 0.0
            frames = None  # the shots of a chain share their frames
            for job_type in chain:
                job, span = _make_job(
                    rng,
                    f"j{len(jobs):05d}",
                    job_type,
                    client,
                    at,
                    scenario,
                    previous,
                    chain_hours,
                    shot_cap_hours=shot_cap,
                    lanes=lanes,
                    typical_speed=typical_speed,
                    frames=frames,
                )
                jobs.append(job)
                submitted += job.estimated_duration_hours * job.noise
                chain_hours += span
                previous = [job.id]
                frames = job.frames or frames
        else:
            job_type = rng.choices(list(TYPE_WEIGHTS), list(TYPE_WEIGHTS.values()))[0]
            job, _ = _make_job(
                rng,
                f"j{len(jobs):05d}",
                job_type,
                client,
                at,
                scenario,
                [],
                shot_cap_hours=shot_cap,
                lanes=lanes,
                typical_speed=typical_speed,
            )
            jobs.append(job)
            submitted += job.estimated_duration_hours * job.noise
    jobs.sort(key=lambda j: (j.submit_at_hours, j.id))
    jobs = [
        job.model_copy(update={"scene_load_minutes": _scene_load(rng_name, job.id)}) for job in jobs
    ]
    maintenance = []
    for day in range(int(days)):
        spec = specs[day % len(specs)]
        maintenance.append(
            MaintenanceSpec(
                node_class=spec.name, node_index=0, start_hours=day * 24 + 10, duration_hours=3
            )
        )
    # A day-long storm (a bad driver roll-out, a heat wave): nodes fail forty times as often.
    storm = (hours * 0.25, hours * 0.25 + 24.0, 40.0) if scenario == "failure-storm" else None
    return Workload(
        scenario=scenario,
        seed=seed,
        start=START,
        days=days,
        clients=CLIENTS,
        node_classes=specs,
        jobs=jobs,
        maintenance=maintenance,
        tariff=TARIFF,
        failure_storm=storm,
    )
