"""The placement pass: walk eligible work in scheduling order and give each job the best free
node it may have. One commented condition per rule."""

from __future__ import annotations

from render_farm_manager.core.work import UnitOfWork, remaining_hours
from render_farm_manager.scheduling.cycle_plan import CycleInputs, CyclePlan
from render_farm_manager.scheduling.earliest_finish import PoolAvailability, choose_or_wait
from render_farm_manager.scheduling.feasibility import job_shape
from render_farm_manager.scheduling.preemption import plan_preemptions
from render_farm_manager.scheduling.priority import is_at_risk


def plan_cycle(inputs: CycleInputs) -> CyclePlan:
    plan = CyclePlan()
    quotas = inputs.quotas
    limits = inputs.limits
    free_nodes = sum(len(pool.free) for pool in inputs.pools)
    schedulable = max(1, sum(len(pool.free) + len(pool.busy) for pool in inputs.pools))
    unplaced_hours = 0.0  # work examined and left waiting, for load-aware energy deferral
    no_free_fit: set[tuple[object, ...]] = set()
    candidates: list[UnitOfWork] = []
    want_candidates = inputs.preemption_enabled and inputs.max_preemptions > 0
    scanned_past_full = 0
    now_ts = inputs.now.timestamp()
    availability = PoolAvailability(inputs) if inputs.earliest_finish else None

    def consider_for_preemption(job: UnitOfWork) -> None:
        if not want_candidates or len(candidates) >= inputs.max_preemptions:
            return
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

    def place(job: UnitOfWork) -> None:
        """Give ``job`` the best free node it may have, or leave it waiting."""
        nonlocal free_nodes, unplaced_hours
        # Skip quickly when an identical job already found no free node.
        signature = job_shape(job)
        if not job.excluded_node_ids and signature in no_free_fit:
            consider_for_preemption(job)
            return
        # Hard constraints, then the best-scoring pool with a free node (or, placing by
        # earliest finish, a wait for faster hardware that is about to free up).
        if availability is not None:
            pool, waits = choose_or_wait(job, inputs, availability)
            if waits:
                plan.waiting_for_faster.append(job.id)
                unplaced_hours += remaining_hours(job)
                return
        else:
            pool = inputs.ranker.choose(job)
        node = pool.take(job.excluded_node_ids) if pool is not None else None
        if node is None:
            if not job.excluded_node_ids:
                no_free_fit.add(signature)
            unplaced_hours += remaining_hours(job)
            consider_for_preemption(job)
            return
        plan.assignments[job.id] = node.id
        free_nodes -= 1
        if quotas is not None:
            quotas.started(job.client_id)
        if limits is not None:
            limits.started(job)

    refused: list[UnitOfWork] = []
    """Work a quota held back, to look at again if deferred work frees a guarantee."""
    lent_after_refusal = False
    for job in inputs.order:
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
