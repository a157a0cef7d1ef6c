"""The ShotGrid adapter, through shotgun_api3, against a loopback server that speaks the few
calls it uses (JSON-RPC ``info``, ``read``, ``update``, ``create`` on /api3/json, and the file
upload form)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from builders import make_farm, make_job
from test_hooks_loopback import LoopbackServer, Reply, Request

from render_farm_manager.hooks import HookDispatcher, JobEvent, JobEventKind, RetryPolicy, TaskMap
from render_farm_manager.hooks.base import DeliveryError
from render_farm_manager.hooks.shotgrid import ShotGridHook

# shotgun_api3 leaves the file it uploads and the upload's response open (closed when collected,
# on the hook's thread): not this project's leak to fail on.
pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def link(entity: dict[str, Any]) -> dict[str, Any]:
    return {"type": entity["type"], "id": entity["id"]}


class FakeShotGrid:
    """The part of ShotGrid the adapter talks to: one project, shot and rendering task."""

    def __init__(self) -> None:
        project = {"type": "Project", "id": 1, "name": "Northlight"}
        shot = {"type": "Shot", "id": 10, "code": "sh010", "project": link(project)}
        self.task = {
            "type": "Task",
            "id": 100,
            "content": "Rendering",
            "entity": link(shot),
            "sg_status_list": "wtg",
        }
        self.entities: dict[str, list[dict[str, Any]]] = {
            "Project": [project],
            "Shot": [shot],
            "Task": [self.task],
            "Version": [],
            "Note": [],
        }
        self.status_history: list[str] = []
        self.uploads: list[dict[str, bytes]] = []
        self.fail_next: list[int] = []

    def __call__(self, request: Request) -> Reply:
        if self.fail_next:
            return Reply(self.fail_next.pop(0), "busy")
        if request.path == "/upload/upload_file":
            form = request.form()
            if form["script_key"] != b"key":
                return Reply(403, "bad key")
            self.uploads.append(form)
            return Reply(200, "1:555\n", "text/plain")
        if request.path != "/api3/json":
            return Reply(404, "no such page")
        call = request.json()
        method, params = call["method_name"], call["params"]
        if method == "info":
            return Reply(200, {"version": [8, 20, 0], "full_version": [8, 20, 0, 0]})
        auth, args = params[0], params[1]
        if (auth.get("script_name"), auth.get("script_key")) != ("farm", "key"):
            return Reply(200, {"exception": True, "error_code": 102, "message": "bad script"})
        return Reply(200, {"results": getattr(self, method)(args)})

    def read(self, args: dict[str, Any]) -> dict[str, Any]:
        rows = self.entities[args["type"]]
        found = [r for r in rows if all(self._holds(r, c) for c in args["filters"]["conditions"])]
        limit = args["paging"]["entities_per_page"]
        return {"entities": found[:limit], "paging_info": {"has_next_page": False}}

    @staticmethod
    def _holds(row: dict[str, Any], condition: dict[str, Any]) -> bool:
        assert condition["relation"] == "is"
        value, wanted = row.get(condition["path"]), condition["values"][0]
        if isinstance(wanted, dict):
            return isinstance(value, dict) and link(value) == link(wanted)
        return bool(value == wanted)

    def update(self, args: dict[str, Any]) -> dict[str, Any]:
        [row] = [r for r in self.entities[args["type"]] if r["id"] == args["id"]]
        for field in args["fields"]:
            row[field["field_name"]] = field["value"]
            if field["field_name"] == "sg_status_list":
                self.status_history.append(field["value"])
        return dict(row)

    def create(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        rows = self.entities[args["type"]]
        row = {"type": args["type"], "id": 1000 + len(rows)}
        row.update({f["field_name"]: f["value"] for f in args["fields"]})
        rows.append(row)
        return [row]


def shotgrid_hook(server: LoopbackServer, key: str = "key") -> ShotGridHook:
    return ShotGridHook(server.url, "farm", key, TaskMap(project="Northlight"))


def test_a_shot_run_sets_the_shotgrid_task_status_and_uploads_a_preview_version(tmp_path):
    grid = FakeShotGrid()
    preview = tmp_path / "sh010.0001.jpg"
    preview.write_bytes(b"JPEG preview pixels")
    manager, _ = make_farm(nodes=2)
    shot = make_job("s-10", frames="1-2", chunk_size=1, preview_first=False)
    shot = shot.model_copy(update={"name": "sh010"})  # the job is named after the shot
    with LoopbackServer(grid) as server:
        dispatcher = HookDispatcher([shotgrid_hook(server)], deadline_check_seconds=None)
        dispatcher.attach(manager)
        manager.submit_job(shot)
        manager.run_scheduling_cycle()
        task = next(t for t in manager.tasks_of("s-10") if t.status == "running")
        manager.record_preview(task.id, 1, str(preview))
        for task in manager.tasks_of("s-10"):
            manager.complete_job(task.id)
        assert dispatcher.close(timeout=10)
    assert grid.status_history == ["ip", "rev"]
    assert grid.task["sg_status_list"] == "rev"
    [note] = grid.entities["Note"]  # the submission, which sets no status
    assert "submitted" in note["content"]
    assert note["tasks"] == [link(grid.task)]
    [version] = grid.entities["Version"]
    assert version["sg_task"] == link(grid.task)
    assert version["entity"] == {"type": "Shot", "id": 10}
    assert version["code"] == "sh010 preview frame 1"
    [upload] = grid.uploads
    assert upload["entity_type"] == b"Version"
    assert int(upload["entity_id"]) == version["id"]
    assert upload["field_name"] == b"sg_uploaded_movie"
    assert upload["file"] == b"JPEG preview pixels"
    assert dispatcher.stats()["shotgrid"].delivered == 4


def test_a_failure_is_a_note_on_the_task_with_the_reason():
    grid = FakeShotGrid()
    manager, _ = make_farm(nodes=1)
    job = make_job("s-10").model_copy(update={"name": "sh010"})
    with LoopbackServer(grid) as server:
        dispatcher = HookDispatcher([shotgrid_hook(server)], deadline_check_seconds=None)
        dispatcher.attach(manager)
        manager.submit_job(job)
        manager.run_scheduling_cycle()
        manager.report_render_error("s-10", "texture missing: wall.exr", failure="scene")
        assert dispatcher.close(timeout=10)
    assert grid.status_history == ["ip"]
    _submitted, failed = grid.entities["Note"]
    assert failed["subject"] == "Render farm: failed"
    assert "texture missing: wall.exr" in failed["content"]


def test_a_busy_server_is_retried_and_a_refused_script_is_not():
    grid = FakeShotGrid()
    event = JobEvent(
        kind=JobEventKind.COMPLETED,
        job_id="s-10",
        job_name="sh010",
        at=datetime(2026, 1, 1) + timedelta(hours=3),
    )
    with LoopbackServer(grid) as server:
        grid.fail_next = [503]
        dispatcher = HookDispatcher(
            [shotgrid_hook(server)],
            retry=RetryPolicy(attempts=3, first_delay=0.01),
            deadline_check_seconds=None,
        )
        dispatcher.publish([event])
        assert dispatcher.close(timeout=5)
        assert grid.status_history == ["rev"]
        assert dispatcher.stats()["shotgrid"].retries == 1
        stolen = shotgrid_hook(server, key="stolen")
        with pytest.raises(DeliveryError, match="AuthenticationFault") as refused:
            stolen.deliver(event)
        assert not refused.value.retryable
        stolen.close()
        grid.fail_next = [404]
        lost = shotgrid_hook(server)
        with pytest.raises(DeliveryError, match="HTTP 404") as refused:
            lost.deliver(event)
        assert not refused.value.retryable
        lost.close()
