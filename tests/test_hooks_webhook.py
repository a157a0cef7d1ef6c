"""Signed webhooks, delivered through the dispatcher to a real HTTP server on loopback."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from test_hooks_loopback import LoopbackServer, Reply

from render_farm_manager.core.errors import InvalidInputError
from render_farm_manager.hooks import (
    DeliveryError,
    HookDispatcher,
    JobEvent,
    JobEventKind,
    RetryPolicy,
    WebhookHook,
    verify_signature,
)
from render_farm_manager.hooks.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER

SECRET = "s3cret"
FAST = RetryPolicy(attempts=4, first_delay=0.01, factor=2.0)


def event(kind: JobEventKind = JobEventKind.COMPLETED, job_id: str = "sh010") -> JobEvent:
    return JobEvent(
        kind=kind,
        job_id=job_id,
        client_id="northlight",
        job_name="Shot 010",
        at=datetime(2026, 11, 23, 22, 30),
        details={"on_time": True},
    )


def scripted(*statuses: int):
    """Answers with ``statuses`` in turn, then 200."""
    answers = list(statuses)
    return lambda request: Reply(answers.pop(0) if answers else 200, {"ok": True})


def deliver_all(hook: WebhookHook, *events: JobEvent) -> HookDispatcher:
    dispatcher = HookDispatcher([hook], retry=FAST, deadline_check_seconds=None)
    dispatcher.publish(list(events))
    assert dispatcher.close(timeout=5)
    return dispatcher


def test_the_body_is_the_event_and_its_signature_verifies():
    with LoopbackServer(scripted()) as server:
        sent = event()
        deliver_all(WebhookHook(server.url + "/hooks", SECRET), sent)
    [request] = server.requests
    assert request.path == "/hooks"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-renderfarm-event"] == "completed"
    assert request.headers["x-renderfarm-delivery"] == sent.id
    assert request.json() == json.loads(sent.model_dump_json())
    assert verify_signature(SECRET, request.body, request.headers)


def test_a_tampered_body_a_wrong_secret_or_an_old_timestamp_fail_verification():
    with LoopbackServer(scripted()) as server:
        deliver_all(WebhookHook(server.url, SECRET), event())
    [request] = server.requests
    body, headers = request.body, request.headers
    sent_at = int(headers[TIMESTAMP_HEADER.lower()])
    assert verify_signature(SECRET, body, headers, now=sent_at + 10)
    tampered = body.replace(b'"on_time":true', b'"on_time":false')
    assert tampered != body
    assert not verify_signature(SECRET, tampered, headers, now=sent_at)
    assert not verify_signature("another secret", body, headers, now=sent_at)
    replayed = {**headers, TIMESTAMP_HEADER: str(sent_at + 3600)}  # re-stamped, same signature
    assert not verify_signature(SECRET, body, replayed, now=sent_at + 3600)
    assert not verify_signature(SECRET, body, headers, now=sent_at + 301)  # too old
    unsigned = {k: v for k, v in headers.items() if k != SIGNATURE_HEADER.lower()}
    assert not verify_signature(SECRET, body, unsigned, now=sent_at)


def test_a_server_error_is_retried_with_back_off_until_it_succeeds():
    with LoopbackServer(scripted(500, 503)) as server:
        dispatcher = deliver_all(WebhookHook(server.url, SECRET), event())
    assert len(server.requests) == 3
    assert len({r.headers["x-renderfarm-delivery"] for r in server.requests}) == 1
    stats = dispatcher.stats()["webhook 127.0.0.1"]
    assert (stats.delivered, stats.retries, stats.failed) == (1, 2, 0)


def test_a_refusal_is_not_retried():
    with LoopbackServer(scripted(400)) as server:
        dispatcher = deliver_all(WebhookHook(server.url, SECRET), event())
    assert len(server.requests) == 1
    stats = dispatcher.stats()["webhook 127.0.0.1"]
    assert (stats.delivered, stats.retries, stats.failed) == (0, 0, 1)


def test_a_receiver_that_keeps_failing_is_given_up_on_after_the_last_try():
    with LoopbackServer(scripted(502, 502, 502, 502, 502)) as server:
        dispatcher = deliver_all(WebhookHook(server.url, SECRET), event())
    assert len(server.requests) == FAST.attempts
    stats = dispatcher.stats()["webhook 127.0.0.1"]
    assert (stats.delivered, stats.failed) == (0, 1)


def test_an_unreachable_receiver_is_a_retryable_failure():
    with LoopbackServer(scripted()) as server:
        url = server.url
    hook = WebhookHook(url, SECRET, timeout=1.0)  # the server is gone: connection refused
    with pytest.raises(DeliveryError) as refused:
        hook.deliver(event())
    assert refused.value.retryable
    hook.close()


def test_events_arrive_in_order():
    with LoopbackServer(scripted()) as server:
        kinds = [JobEventKind.SUBMITTED, JobEventKind.STARTED, JobEventKind.COMPLETED]
        deliver_all(WebhookHook(server.url, SECRET), *(event(k) for k in kinds))
    assert [r.json()["kind"] for r in server.requests] == [k.value for k in kinds]


def test_bad_settings_are_refused():
    with pytest.raises(InvalidInputError, match="http"):
        WebhookHook("ftp://example.com", SECRET)
    with pytest.raises(InvalidInputError, match="secret"):
        WebhookHook("https://example.com", "")
