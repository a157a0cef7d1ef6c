"""The loopback HTTP server the hook tests run against (a real server on 127.0.0.1, a free
port, in a thread), and the check that it answers and records like one."""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.target).query).items()}

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, bytes]:
        """The fields of a multipart/form-data body (files as their bytes)."""
        head = f"Content-Type: {self.headers['content-type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + self.body)
        fields: dict[str, bytes] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = part.get_payload(decode=True) or b""
        return fields


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    """bytes or str are sent as they are; anything else as JSON."""
    content_type: str | None = None


Handler = Callable[[Request], Reply]


@dataclass
class LoopbackServer:
    """Answers every request with ``handler`` and records it (in ``requests``)."""

    handler: Handler
    requests: list[Request] = field(default_factory=list)

    def __enter__(self) -> LoopbackServer:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                server.requests.append(request)
                reply = server.handler(request)
                if isinstance(reply.body, bytes):
                    body, kind = reply.body, "application/octet-stream"
                elif isinstance(reply.body, str):
                    body, kind = reply.body.encode(), "text/plain"
                else:
                    body, kind = json.dumps(reply.body).encode(), "application/json"
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type or kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815 - http.server's names

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"


def test_the_loopback_server_answers_and_records_requests():
    with LoopbackServer(lambda r: Reply(201, {"seen": r.path})) as server:
        response = httpx.post(server.url + "/x?a=1", content=b"hello")
    assert response.status_code == 201
    assert response.json() == {"seen": "/x"}
    assert [(r.method, r.path, r.query, r.body) for r in server.requests] == [
        ("POST", "/x", {"a": "1"}, b"hello")
    ]
