"""Nodes: list (any token; a client sees which node runs its own jobs only), add and remove,
drain, maintenance, online and offline (admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.core.models import RenderNode
from render_farm_manager.service.auth import Principal
from render_farm_manager.service.deps import Admin, Farm, Who
from render_farm_manager.service.errors import not_found
from render_farm_manager.service.schemas import MaintenanceChange, NodeRegistration

router = APIRouter(tags=["nodes"])
NodeId = Annotated[str, Path(min_length=1, max_length=256)]


def node_view(manager: RenderFarmManager, node: RenderNode, who: Principal) -> dict[str, Any]:
    view = node.model_dump(mode="json")
    job_id = node.current_job_id
    if not who.is_admin:
        job = manager.jobs.get(job_id) if job_id else None
        if job is None or job.client_id != who.client_id:
            view["current_job_id"] = None
        view.pop("performance_history", None)
        view.pop("last_error", None)
    return view


def _node(manager: RenderFarmManager, node_id: str, who: Principal) -> dict[str, Any]:
    with manager.lock:
        node = manager.nodes.get(node_id)
        if node is None:
            raise not_found("node", node_id)
        return node_view(manager, node, who)


@router.get("/nodes", summary="List the farm's nodes")
def list_nodes(who: Who, manager: Farm) -> list[dict[str, Any]]:
    with manager.lock:
        return [node_view(manager, n, who) for n in sorted(manager.nodes.values(), key=_by_id)]


def _by_id(node: RenderNode) -> str:
    return node.id


@router.post("/nodes", status_code=201, summary="Register a node (admin)")
def add_node(body: NodeRegistration, who: Admin, manager: Farm) -> dict[str, Any]:
    node = RenderNode(**body.model_dump(exclude={"capabilities"}), capabilities=body.capabilities)
    manager.add_node(node)
    return _node(manager, node.id, who)


@router.delete("/nodes/{node_id}", status_code=204, summary="Unregister a node (admin)")
def remove_node(node_id: NodeId, who: Admin, manager: Farm) -> Response:
    if not manager.remove_node(node_id):
        raise not_found("node", node_id)
    return Response(status_code=204)


@router.post("/nodes/{node_id}/drain", summary="Finish the current job, then maintenance (admin)")
def drain_node(node_id: NodeId, who: Admin, manager: Farm) -> dict[str, Any]:
    manager.drain_node(node_id)
    return _node(manager, node_id, who)


@router.post("/nodes/{node_id}/maintenance", summary="Take a node out for maintenance (admin)")
def maintenance(
    node_id: NodeId, body: MaintenanceChange, who: Admin, manager: Farm
) -> dict[str, Any]:
    manager.set_node_maintenance(node_id, drain=body.drain)
    return _node(manager, node_id, who)


@router.post("/nodes/{node_id}/online", summary="Bring a node online (admin)")
def node_online(node_id: NodeId, who: Admin, manager: Farm) -> dict[str, Any]:
    manager.set_node_online(node_id, True)
    return _node(manager, node_id, who)


@router.post("/nodes/{node_id}/offline", summary="Take a node offline; its job is requeued (admin)")
def node_offline(node_id: NodeId, who: Admin, manager: Farm) -> dict[str, Any]:
    manager.set_node_online(node_id, False)
    return _node(manager, node_id, who)
