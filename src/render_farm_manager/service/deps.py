"""What every route depends on: who is asking (401 without a valid token, 403 for a client on
an admin-only endpoint), the manager (503 until it is open), and what a client may see (another
client's job or status answers 404, exactly as an unknown id does)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import RenderJob, RenderTask
from render_farm_manager.service.auth import Principal, TokenStore
from render_farm_manager.service.errors import ApiError, not_found
from render_farm_manager.service.farm import FarmHolder
from render_farm_manager.service.loop import SchedulingLoop
from render_farm_manager.service.metrics import ServiceMetrics


@dataclass
class ServiceContext:
    holder: FarmHolder
    tokens: TokenStore
    metrics: ServiceMetrics
    cycle_seconds: float
    loop: SchedulingLoop | None = None
    run_loop: bool = True
    admin_token_shown: list[str] = field(default_factory=list)


def context(request: Request) -> ServiceContext:
    found: ServiceContext = request.app.state.service
    return found


_bearer = HTTPBearer(
    auto_error=False,
    description="An API token: a client's (sees only its own jobs) or an admin's.",
)


# The dependencies are ``async``: they only look things up, and FastAPI would otherwise run each
# in a worker thread of its own (a thread hop per dependency per request).


async def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise ApiError(
            401,
            "unauthorized",
            "an API token is required (Authorization: Bearer ...)",
            headers=challenge,
        )
    who = context(request).tokens.authenticate(credentials.credentials)
    if who is None:
        raise ApiError(401, "unauthorized", "the API token is not valid", headers=challenge)
    return who


async def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if not who.is_admin:
        raise ApiError(403, "forbidden", "this endpoint needs an admin token")
    return who


async def farm(request: Request) -> RenderFarmManager:
    holder = context(request).holder
    manager = holder.manager
    if manager is None:
        raise ApiError(
            503,
            "unavailable",
            f"the farm manager is {holder.state}: {holder.detail}",
            headers={"Retry-After": "2"},
        )
    return manager


Who = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]
Farm = Annotated[RenderFarmManager, Depends(farm)]


def visible_job(manager: RenderFarmManager, who: Principal, job_id: str) -> RenderJob:
    """The job ``job_id`` if ``who`` may see it; 404 otherwise (also for a shot's task, which
    is reached through its shot)."""
    job = manager.jobs.get(job_id)
    if job is None or isinstance(job, RenderTask) or not who.may_see_client(job.client_id):
        raise not_found("job", job_id)
    return job


def visible_client(manager: RenderFarmManager, who: Principal, client_id: str) -> str:
    if client_id not in manager.clients or not who.may_see_client(client_id):
        raise not_found("client", client_id)
    return client_id
