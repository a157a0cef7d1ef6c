"""The Kitsu adapter, through gazu, against a loopback server that speaks the few Zou
endpoints it uses (login, data look-ups, task comments, preview upload)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from builders import make_farm, make_job
from test_hooks_loopback import LoopbackServer, Reply, Request

from render_farm_manager.hooks import (
    HookDispatcher,
    JobEvent,
    JobEventKind,
    RetryPolicy,
    TaskMap,
    TrackedTask,
)
from render_farm_manager.hooks.base import DeliveryError
from render_farm_manager.hooks.kitsu import KitsuHook

TOKEN = "zou-access-token"


def new_id() -> str:
    return str(uuid.uuid4())


class FakeZou:
    """The part of Zou the adapter talks to, with one project, shot and rendering task."""

    def __init__(self) -> None:
        self.statuses = {short: new_id() for short in ("todo", "wip", "wfa")}
        project, sequence, shot, task_type = new_id(), new_id(), new_id(), new_id()
        self.task_id = new_id()
        self.data: dict[str, list[dict[str, Any]]] = {
            "projects": [{"id": project, "name": "Northlight", "type": "Project"}],
            "sequences": [{"id": sequence, "name": "sq01", "project_id": project}],
            "shots/all": [{"id": shot, "name": "SH010", "sequence_id": sequence}],
            "task-types": [{"id": task_type, "name": "Rendering"}],
            "tasks": [
                {
                    "id": self.task_id,
                    "name": "main",
                    "task_type_id": task_type,
                    "entity_id": shot,
                    "task_status_id": self.statuses["todo"],
                }
            ],
            "task-status": [{"id": i, "short_name": s} for s, i in self.statuses.items()],
        }
        self.comments: list[dict[str, Any]] = []
        self.previews: dict[str, dict[str, Any]] = {}
        self.fail_next: list[int] = []

    def status_of_task(self) -> str:
        by_id = {i: s for s, i in self.statuses.items()}
        return by_id[self.data["tasks"][0]["task_status_id"]]

    def __call__(self, request: Request) -> Reply:
        if self.fail_next:
            return Reply(self.fail_next.pop(0), {"message": "try later"})
        path = request.path.removeprefix("/api/")
        if path == "auth/login":
            body = request.json()
            if (body["email"], body["password"]) != ("farm@studio", "pw"):
                return Reply(400, {"message": "wrong credentials"})
            return Reply(200, {"login": True, "access_token": TOKEN, "refresh_token": "r"})
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Reply(401, {"message": "Missing Authorization Header"})
        if request.method == "GET" and path.startswith("data/"):
            return self._data(path.removeprefix("data/"), request.query)
        comment = re.fullmatch(r"actions/tasks/([^/]+)/comment", path)
        if comment:
            return self._comment(comment.group(1), request.json())
        add = re.fullmatch(r"actions/tasks/([^/]+)/comments/([^/]+)/add-preview", path)
        if add:
            preview_id = new_id()
            self.previews[preview_id] = {"task_id": add.group(1), "comment_id": add.group(2)}
            return Reply(200, {"id": preview_id})
        upload = re.fullmatch(r"pictures/preview-files/([^/]+)", path)
        if upload and upload.group(1) in self.previews:
            self.previews[upload.group(1)]["file"] = request.form()["file"]
            return Reply(200, {"id": upload.group(1)})
        return Reply(404, {"message": f"no route {path}"})

    def _data(self, model: str, query: dict[str, str]) -> Reply:
        for kind, rows in self.data.items():
            if model.startswith(kind + "/"):  # one by id: data/tasks/<id>
                found = [r for r in rows if r["id"] == model.removeprefix(kind + "/")]
                return Reply(200, found[0]) if found else Reply(404, {"message": "none"})
        rows = self.data.get(model)
        if rows is None:
            return Reply(404, {"message": f"no model {model}"})
        return Reply(200, [r for r in rows if all(str(r.get(k)) == v for k, v in query.items())])

    def _comment(self, task_id: str, body: dict[str, Any]) -> Reply:
        task = next((t for t in self.data["tasks"] if t["id"] == task_id), None)
        if task is None:
            return Reply(404, {"message": "no task"})
        task["task_status_id"] = body["task_status_id"]
        comment = {"id": new_id(), "task_id": task_id, **body}
        self.comments.append(comment)
        return Reply(201, comment)


def kitsu_hook(server: LoopbackServer, **options: Any) -> KitsuHook:
    where = TrackedTask("Northlight", "SH010", "Rendering", sequence="sq01")
    options.setdefault("email", "farm@studio")
    options.setdefault("password", "pw")
    return KitsuHook(server.url + "/api", TaskMap({"sh010": where}), **options)


def test_a_shot_run_sets_the_kitsu_task_status_and_uploads_its_preview(tmp_path):
    zou = FakeZou()
    preview = tmp_path / "sh010.0001.png"
    preview.write_bytes(b"\x89PNG preview pixels")
    manager, _ = make_farm(nodes=2)
    with LoopbackServer(zou) as server:
        dispatcher = HookDispatcher([kitsu_hook(server)], deadline_check_seconds=None)
        dispatcher.attach(manager)
        manager.submit_job(make_job("sh010", frames="1-2", chunk_size=1, preview_first=False))
        manager.run_scheduling_cycle()
        task = next(t for t in manager.tasks_of("sh010") if t.status == "running")
        manager.record_preview(task.id, task.task_frames[0], str(preview))
        for task in manager.tasks_of("sh010"):
            manager.complete_job(task.id)
        assert dispatcher.close(timeout=10)
    by_id = {i: s for s, i in zou.statuses.items()}
    posted = [(by_id[c["task_status_id"]], c["comment"].split(":")[1]) for c in zou.comments]
    assert [status for status, _ in posted] == ["todo", "wip", "wip", "wfa"]
    assert "submitted" in posted[0][1]
    assert "started" in posted[1][1]
    assert "preview" in zou.comments[2]["comment"]
    assert "completed" in posted[3][1]
    assert zou.status_of_task() == "wfa"
    [uploaded] = zou.previews.values()
    assert uploaded["comment_id"] == zou.comments[2]["id"]
    assert uploaded["task_id"] == zou.task_id
    assert uploaded["file"] == b"\x89PNG preview pixels"
    assert dispatcher.stats()["kitsu"].delivered == 4
    logins = [r for r in server.requests if r.path == "/api/auth/login"]
    assert len(logins) == 1


def test_a_kitsu_server_error_is_retried_and_an_unknown_shot_is_not(tmp_path):
    zou = FakeZou()
    event = JobEvent(
        kind=JobEventKind.STARTED, job_id="sh010", job_name="x", at=datetime(2026, 1, 1)
    )
    with LoopbackServer(zou) as server:
        hook = kitsu_hook(server)
        zou.fail_next = [500]
        dispatcher = HookDispatcher(
            [hook], retry=RetryPolicy(attempts=3, first_delay=0.01), deadline_check_seconds=None
        )
        dispatcher.publish([event])
        assert dispatcher.close(timeout=5)
        assert zou.status_of_task() == "wip"
        assert dispatcher.stats()["kitsu"].retries == 1
        elsewhere = KitsuHook(
            server.url + "/api",
            TaskMap(project="Northlight", sequence="sq01"),
            email="farm@studio",
            password="pw",
        )
        with pytest.raises(DeliveryError, match="no shot 'x'") as refused:
            elsewhere.deliver(event)
        assert not refused.value.retryable
        wrong = kitsu_hook(server, password="nope")
        with pytest.raises(DeliveryError, match="login refused") as refused:
            wrong.deliver(event)
        assert not refused.value.retryable


def test_a_job_mapped_to_no_task_is_not_posted_and_a_missing_preview_is_refused(tmp_path):
    zou = FakeZou()
    at = datetime(2026, 1, 1) + timedelta(hours=1)
    with LoopbackServer(zou) as server:
        hook = kitsu_hook(server)
        hook.deliver(JobEvent(kind=JobEventKind.STARTED, job_id="unmapped", at=at))
        assert server.requests == []
        missing = JobEvent(
            kind=JobEventKind.PREVIEW_READY,
            job_id="sh010",
            at=at,
            details={"path": str(tmp_path / "not-there.png"), "frame": 1},
        )
        with pytest.raises(DeliveryError, match="not a readable file") as refused:
            hook.deliver(missing)
        assert not refused.value.retryable
        assert zou.comments == []
