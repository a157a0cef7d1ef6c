"""Signed webhooks: each job event POSTed as JSON to a URL, signed with a shared secret.

What a receiver gets::

    POST <url>
    Content-Type: application/json
    X-RenderFarm-Event: completed
    X-RenderFarm-Delivery: 6f1c...            (the event id: the same on every retry)
    X-RenderFarm-Timestamp: 1764021600        (Unix seconds when this attempt was sent)
    X-RenderFarm-Signature: sha256=<hex>      (HMAC-SHA256 of "<timestamp>." + body)

    {"at": "...", "client_id": "...", "details": {...}, "id": "...", "job_id": "...", ...}

The signature covers the timestamp and the exact bytes of the body, so a receiver checks it on
the raw body before parsing it, and refuses old timestamps to stop replays:
:func:`verify_signature` does both. A delivery answered 2xx is done; 5xx, 408, 429 and
connection errors are retried with back-off by the dispatcher; any other answer (4xx, 3xx) is a
refusal and is not retried.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping

import httpx

from render_farm_manager.core.errors import InvalidInputError
from render_farm_manager.hooks.base import DeliveryError, EventHook
from render_farm_manager.hooks.events import JobEvent

SIGNATURE_HEADER = "X-RenderFarm-Signature"
TIMESTAMP_HEADER = "X-RenderFarm-Timestamp"
EVENT_HEADER = "X-RenderFarm-Event"
DELIVERY_HEADER = "X-RenderFarm-Delivery"
SIGNATURE_SCHEME = "sha256="
DEFAULT_TOLERANCE_SECONDS = 300.0
RETRYABLE_STATUSES = frozenset({408, 425, 429})


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise InvalidInputError("a webhook secret must not be empty", field="secret")
    return key


def signature(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (Unix seconds, text)."""
    digest = hmac.new(_key(secret), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_SCHEME + digest.hexdigest()


def verify_signature(
    secret: str | bytes,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Is ``body`` (the raw request body, before any parsing) a webhook this secret signed,
    sent less than ``tolerance_seconds`` ago (default five minutes)?

    ``headers`` are the request's headers (any mapping; names are matched without regard to
    case). ``now`` is the receiver's Unix time (default: ``time.time()``). False for a missing
    or malformed header, a signature that does not match (a tampered body or timestamp, or
    another secret), or a timestamp outside the tolerance (a replay). Receivers should also
    remember the ``X-RenderFarm-Delivery`` ids they processed: retries repeat them.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER.lower())
    given = lowered.get(SIGNATURE_HEADER.lower())
    if not timestamp or not given:
        return False
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance_seconds:
        return False
    expected = signature(secret, timestamp, body)
    return hmac.compare_digest(expected.encode(), given.encode())


def encode(event: JobEvent) -> bytes:
    """The body sent for ``event``: compact JSON with sorted keys."""
    return json.dumps(event.payload(), separators=(",", ":"), sort_keys=True).encode()


class WebhookHook(EventHook):
    """POSTs each job event, signed, to ``url``.

    ``timeout`` bounds each attempt (seconds); ``headers`` are added to every request (an API
    key the receiver wants, say); ``transport`` is an httpx transport to send through (tests,
    proxies); ``time_source`` gives the Unix time stamped on each attempt.
    """

    def __init__(
        self,
        url: str,
        secret: str | bytes,
        *,
        timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        time_source: Callable[[], float] = time.time,
        name: str | None = None,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInputError(
                f"a webhook URL must start with http:// or https://, got {url!r}", field="url"
            )
        self.url = url
        self._secret = _key(secret)
        self._headers = dict(headers or {})
        self._time = time_source
        self._name = name or f"webhook {httpx.URL(url).host}"
        self._client = httpx.Client(timeout=timeout, transport=transport)

    @property
    def name(self) -> str:
        return self._name

    def deliver(self, event: JobEvent) -> None:
        body = encode(event)
        timestamp = str(int(self._time()))
        headers = {
            **self._headers,
            "Content-Type": "application/json",
            EVENT_HEADER: event.kind.value,
            DELIVERY_HEADER: event.id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self._secret, timestamp, body),
        }
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.TransportError as error:  # connection refused, reset, timed out
            raise DeliveryError(self.name, f"could not reach {self.url}: {error!r}") from error
        status = response.status_code
        if 200 <= status < 300:
            return
        retryable = status >= 500 or status in RETRYABLE_STATUSES
        raise DeliveryError(
            self.name,
            f"{self.url} answered {status} {response.reason_phrase}: {response.text[:200]}",
            retryable=retryable,
        )

    def close(self) -> None:
        self._client.close()
