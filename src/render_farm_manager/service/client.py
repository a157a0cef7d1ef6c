"""A small Python client of the service's API (over httpx), one method per endpoint.

    with FarmClient("http://farm:8600", token) as farm:
        farm.submit_job_file("shot.yaml", deadline="2026-12-04T09:00")
        for job in farm.list_jobs(status="running")["jobs"]:
            ...

Errors come back as :class:`FarmAPIError` with the HTTP status, the message and the field at
fault.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

API_PREFIX = "/api/v1"


class FarmAPIError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        self.status = status
        self.message = message
        self.field = field
        super().__init__(f"{status}: {message}")


def _time(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _query(**values: Any) -> dict[str, Any]:
    return {
        k: _time(v) if isinstance(v, datetime) else v for k, v in values.items() if v is not None
    }


class FarmClient:
    def __init__(self, url: str, token: str | None, *, timeout: float = 30.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def __enter__(self) -> FarmClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **options: Any) -> Any:
        try:
            response = self._http.request(method, path, **options)
        except httpx.HTTPError as error:
            raise FarmAPIError(
                0, f"cannot reach the farm at {self._http.base_url}: {error}"
            ) from error
        if response.status_code >= 400:
            try:
                body = response.json()
                message, field = body.get("message") or str(body), body.get("field")
            except ValueError:
                message, field = response.text or response.reason_phrase, None
            raise FarmAPIError(response.status_code, message, field)
        if response.status_code == 204 or not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    def _api(self, method: str, path: str, **options: Any) -> Any:
        return self._call(method, API_PREFIX + path, **options)

    # -- service ---------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        response = self._http.get("/health")
        data: dict[str, Any] = response.json()
        return data

    def metrics(self) -> str:
        text: str = self._call("GET", "/metrics")
        return text

    def whoami(self) -> dict[str, Any]:
        return dict(self._api("GET", "/whoami"))

    # -- jobs ------------------------------------------------------------------------------

    def submit_job(self, job: dict[str, Any]) -> dict[str, Any]:
        """Submit a job given as a RenderJob's fields (datetimes may be datetime objects)."""
        body = {k: _time(v) if isinstance(v, datetime) else v for k, v in job.items()}
        return dict(self._api("POST", "/jobs", json=body))

    def submit_job_file(
        self,
        path: str | Path,
        *,
        client_id: str | None = None,
        parameters: dict[str, str] | None = None,
        deadline: datetime | str | None = None,
        priority: str | None = None,
        job_id: str | None = None,
        hours: float | None = None,
        dry_run: bool = False,
        directory: str | Path | None = None,
    ) -> dict[str, Any]:
        """Upload a job file. Its relative paths point to ``directory`` (default: the file's
        own directory here, which the farm sees on shared storage)."""
        file = Path(path)
        params = _query(
            filename=file.name,
            directory=str(directory if directory is not None else file.parent.resolve()),
            client_id=client_id,
            deadline=deadline,
            priority=priority,
            job_id=job_id,
            hours=hours,
            dry_run="true" if dry_run else None,
        )
        params["param"] = [f"{k}={v}" for k, v in (parameters or {}).items()]
        return dict(
            self._api(
                "POST",
                "/jobs/file",
                params=params,
                content=file.read_bytes(),
                headers={"Content-Type": "application/octet-stream"},
            )
        )

    def list_jobs(
        self,
        *,
        status: str | None = None,
        client_id: str | None = None,
        priority: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> dict[str, Any]:
        params = _query(
            status=status, client_id=client_id, priority=priority, limit=limit, offset=offset
        )
        return dict(self._api("GET", "/jobs", params=params))

    def job(
        self,
        job_id: str,
        *,
        task_status: str | None = None,
        task_limit: int = 100,
        task_offset: int = 0,
    ) -> dict[str, Any]:
        params = _query(task_status=task_status, task_limit=task_limit, task_offset=task_offset)
        return dict(self._api("GET", f"/jobs/{_id(job_id)}", params=params))

    def task_log(self, job_id: str, task: str | None = None, tail_bytes: int = 65536) -> str:
        """The output of the latest render of the job (or of ``task``, one of the shot's)."""
        params = _query(task=task, tail_bytes=tail_bytes)
        return str(self._api("GET", f"/jobs/{_id(job_id)}/log", params=params) or "")

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        return dict(self._api("POST", f"/jobs/{_id(job_id)}/cancel"))

    def pause_job(self, job_id: str) -> dict[str, Any]:
        return dict(self._api("POST", f"/jobs/{_id(job_id)}/pause"))

    def resume_job(self, job_id: str) -> dict[str, Any]:
        return dict(self._api("POST", f"/jobs/{_id(job_id)}/resume"))

    def retry_job(self, job_id: str) -> dict[str, Any]:
        return dict(self._api("POST", f"/jobs/{_id(job_id)}/retry"))

    def set_job_priority(self, job_id: str, priority: str) -> dict[str, Any]:
        return dict(self._api("PUT", f"/jobs/{_id(job_id)}/priority", json={"priority": priority}))

    def set_job_deadline(self, job_id: str, deadline: datetime | str) -> dict[str, Any]:
        body = {"deadline": _time(deadline)}
        return dict(self._api("PUT", f"/jobs/{_id(job_id)}/deadline", json=body))

    # -- nodes -----------------------------------------------------------------------------

    def nodes(self) -> list[dict[str, Any]]:
        return list(self._api("GET", "/nodes"))

    def add_node(self, node: dict[str, Any]) -> dict[str, Any]:
        return dict(self._api("POST", "/nodes", json=node))

    def remove_node(self, node_id: str) -> None:
        self._api("DELETE", f"/nodes/{_id(node_id)}")

    def drain_node(self, node_id: str) -> dict[str, Any]:
        return dict(self._api("POST", f"/nodes/{_id(node_id)}/drain"))

    def set_node_maintenance(self, node_id: str, drain: bool = True) -> dict[str, Any]:
        path = f"/nodes/{_id(node_id)}/maintenance"
        return dict(self._api("POST", path, json={"drain": drain}))

    def set_node_online(self, node_id: str, online: bool = True) -> dict[str, Any]:
        state = "online" if online else "offline"
        return dict(self._api("POST", f"/nodes/{_id(node_id)}/{state}"))

    # -- clients and tokens ----------------------------------------------------------------

    def clients(self) -> list[dict[str, Any]]:
        return list(self._api("GET", "/clients"))

    def add_client(self, client: dict[str, Any]) -> dict[str, Any]:
        return dict(self._api("POST", "/clients", json=client))

    def update_client(self, client_id: str, **changes: Any) -> dict[str, Any]:
        return dict(self._api("PATCH", f"/clients/{_id(client_id)}", json=changes))

    def remove_client(self, client_id: str) -> None:
        self._api("DELETE", f"/clients/{_id(client_id)}")

    def client_status(self, client_id: str) -> dict[str, Any]:
        return dict(self._api("GET", f"/clients/{_id(client_id)}"))

    def issue_token(self, client_id: str) -> dict[str, Any]:
        return dict(self._api("POST", f"/clients/{_id(client_id)}/tokens"))

    def tokens(self, client_id: str) -> list[dict[str, Any]]:
        return list(self._api("GET", f"/clients/{_id(client_id)}/tokens"))

    def revoke_token(self, client_id: str, token_id: str) -> None:
        self._api("DELETE", f"/clients/{_id(client_id)}/tokens/{_id(token_id)}")

    # -- farm, energy, audit ---------------------------------------------------------------

    def farm_status(self) -> dict[str, Any]:
        return dict(self._api("GET", "/farm"))

    def energy(self) -> dict[str, Any]:
        return dict(self._api("GET", "/energy"))

    def set_energy_mode(self, mode: str) -> dict[str, Any]:
        return dict(self._api("PUT", "/energy/mode", json={"mode": mode}))

    def set_energy_tariff(
        self, periods: list[dict[str, Any]], default_price: float | None = None
    ) -> dict[str, Any]:
        """``periods``: ``{"start": "07:00", "end": "21:00", "price_per_kwh": 0.3}`` each."""
        body = {"periods": periods, "default_price": default_price}
        return dict(self._api("PUT", "/energy/tariff", json=body))

    def power_down_candidates(self, keep_awake: int = 1) -> list[dict[str, Any]]:
        return list(self._api("GET", "/power-down", params={"keep_awake": keep_awake}))

    def power_plan(
        self, asleep: list[str] | None = None, keep_awake: int = 1
    ) -> dict[str, list[dict[str, Any]]]:
        """Which idle nodes to sleep and which sleeping ones (``asleep``) to wake, and when."""
        params: dict[str, Any] = {"keep_awake": keep_awake}
        if asleep:
            params["asleep"] = asleep
        return dict(self._api("GET", "/power-plan", params=params))

    def audit(
        self,
        *,
        job_id: str | None = None,
        node_id: str | None = None,
        client_id: str | None = None,
        event_type: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> dict[str, Any]:
        params = _query(
            job_id=job_id,
            node_id=node_id,
            client_id=client_id,
            event_type=event_type,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
        return dict(self._api("GET", "/audit", params=params))


def _id(value: str) -> str:
    return quote(value, safe="")
