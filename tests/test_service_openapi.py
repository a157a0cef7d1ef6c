"""The OpenAPI document: served at /openapi.json, and the committed docs/openapi.json is the
current one (regenerate it with ``uv run python -m render_farm_manager.service.openapi``)."""

from __future__ import annotations

import json

import httpx

from render_farm_manager.service.app import create_app
from render_farm_manager.service.auth import TokenStore
from render_farm_manager.service.openapi import COMMITTED, main, openapi_document
from render_farm_manager.service.server import ServiceThread


def test_the_committed_document_is_current() -> None:
    assert main(["--check"]) == 0, (
        "docs/openapi.json is stale: run uv run python -m render_farm_manager.service.openapi"
    )
    assert json.loads(COMMITTED.read_text()) == openapi_document()


def test_the_document_is_served_and_lists_every_resource() -> None:
    with ServiceThread(create_app(tokens=TokenStore(None), run_loop=False)) as service:
        served = httpx.get(service.url + "/openapi.json").json()
    assert served == openapi_document()
    paths = served["paths"]
    for path in (
        "/api/v1/jobs",
        "/api/v1/jobs/file",
        "/api/v1/jobs/{job_id}/deadline",
        "/api/v1/nodes/{node_id}/maintenance",
        "/api/v1/clients/{client_id}/tokens",
        "/api/v1/energy/mode",
        "/api/v1/audit",
        "/api/v1/power-down",
        "/api/v1/power-plan",
        "/metrics",
        "/health",
    ):
        assert path in paths
    assert "HTTPBearer" in served["components"]["securitySchemes"]
