"""API tokens in their file (hashes only, 0600), the admin token at first start, and the
service's state while the manager is still opening (503 until ready; /health says why)."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import httpx
import pytest
from test_service_api import job_fields, wait_for

from render_farm_manager.core.manager import RenderFarmManager
from render_farm_manager.service.app import create_app
from render_farm_manager.service.auth import TokenFileError, TokenStore
from render_farm_manager.service.client import FarmAPIError, FarmClient
from render_farm_manager.service.farm import FarmHolder, store_opener
from render_farm_manager.service.server import ServiceThread
from render_farm_manager.store import open_manager


def test_the_token_file_keeps_hashes_only_with_owner_only_permissions(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    store = TokenStore(path)
    admin = store.ensure_admin()
    assert admin is not None
    token, record = store.issue("north")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert admin not in text and token not in text
    assert record.sha256 in text
    reloaded = TokenStore(path)
    who = reloaded.authenticate(token)
    assert who is not None and (who.role, who.client_id) == ("client", "north")
    assert reloaded.authenticate(admin) is not None and reloaded.authenticate(admin).is_admin
    assert reloaded.ensure_admin() is None  # an admin exists: nothing new to show
    assert reloaded.authenticate(token + "x") is None
    assert reloaded.authenticate("") is None


def test_revoking_a_token_is_kept_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    store = TokenStore(path)
    token, record = store.issue("north")
    other, _ = store.issue("north")
    assert not store.revoke(record.id, client_id="south")  # not that client's token
    assert store.revoke(record.id, client_id="north")
    assert TokenStore(path).authenticate(token) is None
    assert TokenStore(path).authenticate(other) is not None
    assert store.revoke_client("north") == 1
    assert TokenStore(path).authenticate(other) is None


def test_the_admin_token_can_come_from_the_environment(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    assert store.ensure_admin("a-long-enough-admin-secret") is None
    who = TokenStore(tmp_path / "tokens.json").authenticate("a-long-enough-admin-secret")
    assert who is not None and who.is_admin
    with pytest.raises(TokenFileError):
        store.ensure_admin("short")


def test_an_unreadable_token_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"format": 99, "tokens": []}))
    with pytest.raises(TokenFileError, match=r"tokens\.json"):
        TokenStore(path)


def test_endpoints_answer_503_until_the_manager_is_open() -> None:
    release = threading.Event()

    def slow_opener(holder: FarmHolder) -> RenderFarmManager:
        holder.standby("standby: another manager is the leader of this store")
        release.wait(10)
        return open_manager(None)

    tokens = TokenStore(None)
    admin = tokens.ensure_admin()
    with ServiceThread(create_app(opener=slow_opener, tokens=tokens)) as service:
        health = httpx.get(service.url + "/health")
        assert health.status_code == 503
        assert health.json()["status"] == "standby"
        assert "another manager" in health.json()["detail"]
        with FarmClient(service.url, admin) as farm:
            with pytest.raises(FarmAPIError) as waiting:
                farm.list_jobs()
            assert waiting.value.status == 503
            assert "standby" in waiting.value.message
            release.set()
            wait_for(lambda: farm.health()["status"] == "ready")
            assert farm.list_jobs()["total"] == 0


def test_a_manager_that_cannot_open_is_reported_by_health() -> None:
    def broken(holder: FarmHolder) -> RenderFarmManager:
        raise RuntimeError("database is on fire")

    with ServiceThread(create_app(opener=broken, tokens=TokenStore(None))) as service:
        wait_for(lambda: httpx.get(service.url + "/health").json()["status"] == "failed")
        health = httpx.get(service.url + "/health")
        assert health.status_code == 503
        assert "database is on fire" in health.json()["detail"]


def test_a_service_on_sqlite_keeps_its_jobs_across_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'farm.db'}"
    tokens = TokenStore(tmp_path / "tokens.json")
    admin = tokens.ensure_admin()
    for round_ in range(2):
        app = create_app(opener=store_opener(url), tokens=TokenStore(tmp_path / "tokens.json"))
        with ServiceThread(app) as service, FarmClient(service.url, admin) as farm:
            wait_for(lambda: farm.health()["status"] == "ready", timeout=30)
            assert farm.health()["storage"] == url
            if round_ == 0:
                farm.add_client({"id": "north", "name": "North"})
                farm.submit_job(job_fields("kept", client_id="north"))
            else:
                assert farm.job("kept")["job"]["client_id"] == "north"
