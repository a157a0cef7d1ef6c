"""API tokens: one or more per client, and admin tokens.

A token is a random string (``secrets.token_urlsafe``) shown once, when it is issued. The token
file keeps only its SHA-256 hash, with the role, the client it belongs to and an id by which an
admin revokes it. The file is JSON, written atomically with 0600 permissions.

Presented tokens are hashed and compared with every stored hash in constant time
(:func:`hmac.compare_digest`, no early exit), so neither the time taken nor the answer tells
anything about the other tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

Role = Literal["admin", "client"]
ADMIN: Role = "admin"
CLIENT: Role = "client"
TOKEN_PREFIX = "rf_"
MAX_TOKEN_LENGTH = 512
ADMIN_TOKEN_ENV = "RENDER_FARM_ADMIN_TOKEN"
_FILE_FORMAT = 1


class TokenFileError(Exception):
    """The token file cannot be read or written."""


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: an admin, or one client."""

    role: Role
    token_id: str
    client_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    def may_see_client(self, client_id: str) -> bool:
        return self.is_admin or self.client_id == client_id


@dataclass(frozen=True)
class TokenRecord:
    id: str
    role: Role
    sha256: str
    created_at: str
    client_id: str | None = None

    def public(self) -> dict[str, str | None]:
        """What may be shown of a token: never its hash."""
        return {
            "id": self.id,
            "role": self.role,
            "client_id": self.client_id,
            "created_at": self.created_at,
        }


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class TokenStore:
    """The tokens the service accepts, kept in ``path`` (None: in memory only, for tests)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._records: list[TokenRecord] = []
        if path is not None and path.exists():
            self._records = _read(path)

    # -- start-up --------------------------------------------------------------------------

    def ensure_admin(self, env_token: str | None = None) -> str | None:
        """Make sure an admin can log in. A token from the environment is registered (once);
        without one, an admin token is generated when there is none yet and returned (to be
        printed once). Returns None when nothing new has to be shown."""
        if env_token:
            if len(env_token) > MAX_TOKEN_LENGTH or len(env_token) < 16:
                raise TokenFileError(
                    f"{ADMIN_TOKEN_ENV} must be 16 to {MAX_TOKEN_LENGTH} characters long"
                )
            if self.authenticate(env_token) is None:
                self._add(ADMIN, None, env_token)
            return None
        if any(r.role == ADMIN for r in self._records):
            return None
        token = new_token()
        self._add(ADMIN, None, token)
        return token

    # -- queries ---------------------------------------------------------------------------

    def authenticate(self, token: str) -> Principal | None:
        """The principal of ``token``, or None when it is not a valid token."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        digest = token_digest(token)
        found: TokenRecord | None = None
        with self._lock:
            records = list(self._records)
        for record in records:  # every record is compared: no early exit
            if hmac.compare_digest(record.sha256, digest):
                found = record
        if found is None:
            return None
        return Principal(role=found.role, token_id=found.id, client_id=found.client_id)

    def tokens_of(self, client_id: str) -> list[TokenRecord]:
        with self._lock:
            return [r for r in self._records if r.role == CLIENT and r.client_id == client_id]

    # -- changes ---------------------------------------------------------------------------

    def issue(self, client_id: str) -> tuple[str, TokenRecord]:
        """A new token for ``client_id``: the token (to show once) and its record."""
        token = new_token()
        return token, self._add(CLIENT, client_id, token)

    def revoke(self, token_id: str, client_id: str | None = None) -> bool:
        """Revoke one token (of ``client_id`` when given); False when there is no such token."""
        with self._lock:
            kept = [
                r
                for r in self._records
                if not (r.id == token_id and (client_id is None or r.client_id == client_id))
            ]
            if len(kept) == len(self._records):
                return False
            self._save(kept)
            return True

    def revoke_client(self, client_id: str) -> int:
        """Revoke every token of a client; returns how many there were."""
        with self._lock:
            kept = [r for r in self._records if not (r.role == CLIENT and r.client_id == client_id)]
            removed = len(self._records) - len(kept)
            if removed:
                self._save(kept)
            return removed

    def _add(self, role: Role, client_id: str | None, token: str) -> TokenRecord:
        record = TokenRecord(
            id="tok_" + secrets.token_hex(6),
            role=role,
            sha256=token_digest(token),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            client_id=client_id,
        )
        with self._lock:
            self._save([*self._records, record])
        return record

    def _save(self, records: list[TokenRecord]) -> None:
        """Write ``records`` (atomically, 0600), then keep them: a failed write changes nothing."""
        if self.path is not None:
            _write(self.path, records)
        self._records = records


def _read(path: Path) -> list[TokenRecord]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != _FILE_FORMAT:
            raise ValueError(f"unknown format {data.get('format')!r}")
        return [
            TokenRecord(
                id=str(item["id"]),
                role=ADMIN if item["role"] == ADMIN else CLIENT,
                sha256=str(item["sha256"]),
                created_at=str(item.get("created_at", "")),
                client_id=item.get("client_id"),
            )
            for item in data["tokens"]
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise TokenFileError(f"{path}: not a readable token file ({error})") from error


def _write(path: Path, records: list[TokenRecord]) -> None:
    text = json.dumps({"format": _FILE_FORMAT, "tokens": [asdict(r) for r in records]}, indent=2)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".tokens-", dir=directory)
        try:
            os.fchmod(handle, 0o600)
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise TokenFileError(f"{path}: cannot write the token file ({error})") from error
