"""Clients and their quotas (admin), a client's own status, and API tokens (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import AnyClient, Client, ServiceTier
from render_farm_manager.service.deps import Admin, Farm, Who, context, visible_client
from render_farm_manager.service.errors import invalid, not_found
from render_farm_manager.service.schemas import (
    ClientRegistration,
    ClientUpdate,
    TokenInfo,
    TokenIssued,
    WhoAmI,
)

router = APIRouter(tags=["clients"])
ClientId = Annotated[str, Path(min_length=1, max_length=256)]


def client_view(client: AnyClient) -> dict[str, Any]:
    return {
        "id": client.id,
        "name": client.name,
        "sla_tier": ServiceTier(client.sla_tier).value,
        "guaranteed_resources": client.guaranteed_resources,
        "max_resources": client.max_resources,
    }


def check_quota(guaranteed: float, ceiling: float) -> None:
    if ceiling < guaranteed:
        raise invalid(
            "max_resources",
            f"the ceiling ({ceiling}) must not be below the guarantee ({guaranteed})",
        )


def _known(manager: RenderFarmManager, client_id: str) -> AnyClient:
    client = manager.clients.get(client_id)
    if client is None:
        raise not_found("client", client_id)
    return client


@router.get("/whoami", tags=["access"], summary="The role and client of the token used")
def whoami(who: Who) -> WhoAmI:
    return WhoAmI(role=who.role, client_id=who.client_id, token_id=who.token_id)


@router.get("/clients", summary="List clients and their quotas (admin)")
def list_clients(who: Admin, manager: Farm) -> list[dict[str, Any]]:
    with manager.lock:
        return [client_view(c) for _, c in sorted(manager.clients.items())]


@router.post("/clients", status_code=201, summary="Register a client (admin)")
def add_client(body: ClientRegistration, who: Admin, manager: Farm) -> dict[str, Any]:
    check_quota(body.guaranteed_resources, body.max_resources)
    client = Client(**body.model_dump())
    manager.add_client(client)
    return client_view(client)


@router.get("/clients/{client_id}", summary="A client's status (admin, or the client itself)")
def client_status(client_id: ClientId, who: Who, manager: Farm) -> dict[str, Any]:
    visible_client(manager, who, client_id)
    status = manager.get_client_status(client_id)
    if status is None:
        raise not_found("client", client_id)
    return status


@router.patch("/clients/{client_id}", summary="Change a client's tier, quotas or name (admin)")
def update_client(
    client_id: ClientId, body: ClientUpdate, who: Admin, manager: Farm
) -> dict[str, Any]:
    client = _known(manager, client_id)
    changes = body.model_dump(exclude_none=True)
    current = client_view(client)
    # The client as it would be: refused here, naming the field, before anything changes.
    final = {**current, **changes}
    check_quota(final["guaranteed_resources"], final["max_resources"])
    Client(**final)
    with manager.change_set():
        if "sla_tier" in changes:
            manager.update_client_tier(client_id, changes.pop("sla_tier"))
        # Raise the ceiling before the guarantee, lower the guarantee before the ceiling: every
        # step is a valid client on its own.
        order = ["name", "max_resources", "guaranteed_resources"]
        if changes.get("max_resources", current["max_resources"]) < current["max_resources"]:
            order = ["name", "guaranteed_resources", "max_resources"]
        for name in order:
            if name in changes:
                setattr(client, name, changes[name])
    return client_view(client)


@router.delete("/clients/{client_id}", status_code=204, summary="Unregister a client (admin)")
def remove_client(client_id: ClientId, request: Request, who: Admin, manager: Farm) -> Response:
    if not manager.remove_client(client_id):
        raise not_found("client", client_id)
    context(request).tokens.revoke_client(client_id)
    return Response(status_code=204)


@router.post(
    "/clients/{client_id}/tokens",
    status_code=201,
    tags=["access"],
    summary="Issue an API token for a client (admin; the token is shown once)",
)
def issue_token(client_id: ClientId, request: Request, who: Admin, manager: Farm) -> TokenIssued:
    _known(manager, client_id)
    token, record = context(request).tokens.issue(client_id)
    return TokenIssued(token=token, token_id=record.id, client_id=client_id)


@router.get("/clients/{client_id}/tokens", tags=["access"], summary="A client's tokens (admin)")
def list_tokens(
    client_id: ClientId, request: Request, who: Admin, manager: Farm
) -> list[TokenInfo]:
    _known(manager, client_id)
    return [TokenInfo(**r.public()) for r in context(request).tokens.tokens_of(client_id)]


@router.delete(
    "/clients/{client_id}/tokens/{token_id}",
    status_code=204,
    tags=["access"],
    summary="Revoke a client's token (admin)",
)
def revoke_token(
    client_id: ClientId,
    token_id: Annotated[str, Path(max_length=64)],
    request: Request,
    who: Admin,
) -> Response:
    if not context(request).tokens.revoke(token_id, client_id=client_id):
        raise not_found("token", token_id)
    return Response(status_code=204)
