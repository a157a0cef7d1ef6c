"""Audit queries by job, node, client, event type and time range (paged). A client's token
sees only the entries of its own client."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from render_farm_manager.core.audit_api import MAX_AUDIT_PAGE
from render_farm_manager.core.clock import to_naive_local
from render_farm_manager.service.deps import Farm, Who, visible_job
from render_farm_manager.service.errors import invalid, not_found
from render_farm_manager.service.schemas import MAX_PAGE, AuditPage

router = APIRouter(tags=["audit"])
Id = Annotated[str | None, Query(min_length=1, max_length=256)]


@router.get("/audit", summary="Audit entries, oldest first")
def audit(
    who: Who,
    manager: Farm,
    job_id: Id = None,
    node_id: Id = None,
    client_id: Id = None,
    event_type: Id = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=min(MAX_PAGE, MAX_AUDIT_PAGE))] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AuditPage:
    if not who.is_admin:
        if client_id is not None and client_id != who.client_id:
            raise not_found("client", client_id)
        client_id = who.client_id
        if job_id is not None:
            visible_job(manager, who, job_id)
    start = to_naive_local(since) if since else None
    end = to_naive_local(until) if until else None
    if start and end and end < start:
        raise invalid("until", "must not be before since")
    entries = manager.audit_entries(
        job_id=job_id,
        node_id=node_id,
        client_id=client_id,
        event_type=event_type,
        since=start,
        until=end,
        limit=limit,
        offset=offset,
    )
    return AuditPage(
        entries=[e.model_dump(mode="json") for e in entries], limit=limit, offset=offset
    )
