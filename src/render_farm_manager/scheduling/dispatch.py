"""The placement pass: walk eligible work in scheduling order and give each job the best free
node it may have. One commented condition per rule."""

from __future__ import annotations

from functools import partial

from render_farm_manager.core.models import RenderNode
from render_farm_manager.core.work import UnitOfWork, remaining_hours
from render_farm_manager.scheduling.cycle_plan import CycleInputs, CyclePlan
from render_farm_manager.scheduling.earliest_finish import PoolAvailability, choose_or_wait
from render_farm_manager.scheduling.feasibility import job_shape
from render_farm_manager.scheduling.locality import WarmNodes
from render_farm_manager.scheduling.node_pools import NodePool
from render_farm_manager.scheduling.preemption import plan_preemptions
from render_farm_manager.scheduling.priority import is_at_risk


def pressing(job: UnitOfWork, now_ts: float, inputs: CycleInputs) -> bool:
    """An emergency, or work at risk of missing its deadline or already late."""
    return job.emergency or inputs.latest_start_of(job) < now_ts + inputs.margin_seconds


def plan_cycle(inputs: CycleInputs) -> CyclePlan:
    plan = CyclePlan()
    quotas = inputs.quotas
    limits = inputs.limits
    free_nodes = sum(len(pool.free) for pool in inputs.pools)
    schedulable = max(1, sum(len(pool.free) + len(pool.busy) for pool in inputs.pools))
    unplaced_hours = 0.0  # work examined and left waiting, for load-aware energy deferral
    no_free_fit: set[tuple[object, ...]] = set()
    candidates: list[UnitOfWork] = []
    candidate_ids: set[str] = set()
    want_candidates = inputs.preemption_enabled and inputs.max_preemptions > 0
    scanned_past_full = 0
    now_ts = inputs.now.timestamp()
    availability = PoolAvailability(inputs) if inputs.earliest_finish else None
    warm = WarmNodes(inputs.locality, inputs.pools)
    taken = warm.taken
    scarce = inputs.scarce

    def start(job: UnitOfWork, node: RenderNode, pool: NodePool) -> None:
        nonlocal free_nodes
        plan.assignments[job.id] = node.id
        taken.add(node.id)
        free_nodes -= 1
        if scarce is not None:
            scarce.started(job, pool)
        if quotas is not None:
            quotas.started(job.client_id)
        if limits is not None:
            limits.started(job)

    def may_start(job: UnitOfWork, backlog_hours: float) -> bool:
        """Limits, quotas and energy deferral let the job start now (nothing is recorded)."""
        if limits is not None and not limits.may_start(job):
            return False
        if quotas is not None and not quotas.may_start(job.client_id):
            return False
        if inputs.deferral is None:
            return True
        per_node = max(0.0, backlog_hours - remaining_hours(job)) / schedulable
        return inputs.deferral(job, inputs.now, per_node) is None

    def stick(level: int) -> None:
        """Free nodes that hold a scene whose work waits at ``level`` or above take that work
        (see :mod:`.locality`), unless it would take scarce hardware from work that needs it."""

        def can_start(job: UnitOfWork, pool: NodePool) -> bool:
            if scarce is not None and not scarce.spares(job, pool):
                return False
            return may_start(job, inputs.queued_hours)

        for job, pool, node in warm.sticking(level, inputs.rank_of, plan.assignments, can_start):
            pool.take_node(node)
            start(job, node, pool)

    def consider_for_preemption(job: UnitOfWork) -> None:
        if not want_candidates or len(candidates) >= inputs.max_preemptions:
            return
        if job.id in candidate_ids:
            return
        candidate_ids.add(job.id)
        # Never for work its licences or machine limit hold back.
        if limits is not None and not limits.may_start(job):
            return
        # Emergencies may always take a node by preemption.
        if job.emergency:
            candidates.append(job)
            return
        # So may work at risk of missing its deadline (not work already late: preempting for
        # it would only make a second job late).
        if is_at_risk(inputs.latest_start_of(job), now_ts, inputs.margin_seconds):
            candidates.append(job)
            return
        # And a client below its guarantee reclaims what it lent.
        if inputs.reclaim_enabled and quotas is not None and quotas.below_guarantee(job.client_id):
            candidates.append(job)

    spared: list[UnitOfWork] = []
    """Work left waiting while scarce nodes were kept for work that needs them."""

    def place(job: UnitOfWork, sparing: bool = True) -> None:
        """Give ``job`` the best free node it may have, or leave it waiting."""
        nonlocal unplaced_hours
        # Scarce hardware (GPU, large memory) is kept for the work that needs it, unless this
        # work is pressing (what it spares only grows scarcer during a cycle).
        allowed = None
        if sparing and scarce is not None and not pressing(job, now_ts, inputs):
            allowed = partial(scarce.spares, job)
        # Skip quickly when an identical job already found no free node.
        signature = job_shape(job)
        spared_shape = (signature, "sparing")
        if not job.excluded_node_ids and (
            signature in no_free_fit or (allowed is not None and spared_shape in no_free_fit)
        ):
            if allowed is not None and scarce is not None and scarce.free:
                spared.append(job)
            consider_for_preemption(job)
            return
        # Hard constraints, then the best-scoring pool with a free node (or, placing by
        # earliest finish, a wait for faster hardware that is about to free up).
        if availability is not None:
            pool, waits = choose_or_wait(job, inputs, availability, allowed)
            if waits:
                plan.waiting_for_faster.append(job.id)
                unplaced_hours += remaining_hours(job)
                return
        else:
            among = None
            if allowed is not None:
                among = {p.key for p in inputs.ranker.fitting(job) if allowed(p)}
            pool = inputs.ranker.choose(job, among=among)
        node = None
        if pool is not None:
            node = warm.for_job(job, pool)
            if node is not None:
                pool.take_node(node)
            else:
                node = pool.take(job.excluded_node_ids)
        if node is None or pool is None:
            if not job.excluded_node_ids:
                no_free_fit.add(signature if allowed is None else spared_shape)
            if allowed is not None and scarce is not None and scarce.free:
                spared.append(job)
            unplaced_hours += remaining_hours(job)
            consider_for_preemption(job)
            return
        start(job, node, pool)

    refused: list[UnitOfWork] = []
    """Work a quota held back, to look at again if deferred work frees a guarantee."""
    lent_after_refusal = False
    stuck = not warm
    for job in inputs.order:
        if job.id in plan.assignments:
            continue  # started on a node that holds its scene
        # Once the pressing work (emergencies, work at risk or late, and work the starvation
        # guard serves) has had its turn, nodes that hold a scene stick with its waiting work
        # if it is at this job's level or above.
        if (
            not stuck
            and free_nodes
            and not pressing(job, now_ts, inputs)
            and not inputs.starving(job)
        ):
            stuck = True
            stick(inputs.rank_of(job))
            if job.id in plan.assignments:
                continue
        if free_nodes == 0:
            # The farm is full: only look further for work that may preempt.
            if not want_candidates or len(candidates) >= inputs.max_preemptions:
                break
            if scanned_past_full >= inputs.scan_limit:
                break
            scanned_past_full += 1
            consider_for_preemption(job)
            continue
        plan.examined += 1
        # Licences in use and a job's machine limit hold work back (it cannot preempt for them).
        if limits is not None and not limits.may_start(job):
            continue
        # A client never runs more than its ceiling, nor borrows what it may not.
        if quotas is not None and not quotas.may_start(job.client_id):
            consider_for_preemption(job)  # it may still replace its own client's work
            refused.append(job)
            continue
        # Energy-intensive work with slack to spare waits for cheaper electricity; meanwhile
        # it wants no node, so its client's idle guarantee may be lent.
        if inputs.deferral is not None:
            # the rest of the queue (the job itself excluded) may run before it
            backlog = max(unplaced_hours, inputs.queued_hours - remaining_hours(job))
            start_at = inputs.deferral(job, inputs.now, backlog / schedulable)
            if start_at is not None:
                plan.deferred[job.id] = start_at
                unplaced_hours += remaining_hours(job)
                if quotas is not None:
                    quotas.withdrawn(job.client_id)
                    lent_after_refusal = lent_after_refusal or bool(refused)
                continue
        place(job)

    # Scarce nodes no work that needs them took this cycle (what waits for them may be held
    # back by its quota, its limits or for cheaper power) go to the work that spared them.
    for job in spared:
        if scarce is None or not scarce.free or free_nodes == 0:
            break
        if job.id in plan.assignments:
            continue
        if limits is not None and not limits.may_start(job):
            continue
        if quotas is None or quotas.may_start(job.client_id):
            place(job, sparing=False)

    # Work refused before deferred work lent its guarantee gets a second look, in order.
    if lent_after_refusal and quotas is not None:
        for job in refused:
            if free_nodes == 0:
                break
            if quotas.may_start(job.client_id):
                place(job)

    candidates = [job for job in candidates if job.id not in plan.assignments]
    if candidates:
        plan_preemptions(candidates, inputs, plan)
    return plan
