"""Store a write's answer with the write, and replay it for a retry with the same key (DESIGN.md §1)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, insert, select

from omnicart_server.db.driver import named_values, prepared
from omnicart_server.db.models import idempotency_keys
from omnicart_server.db.writer import Along
from omnicart_server.errors import IdempotencyKeyReused, InvalidIdempotencyKey

if TYPE_CHECKING:
    from sqlalchemy.engine import Row

    from omnicart_server.db.executor import Executor

MAX_KEY_LENGTH = 255
RECORD_COLUMNS = (idempotency_keys.c.body_hash, idempotency_keys.c.status_code, idempotency_keys.c.response)
"""What `stored_response` reads; a write may join them to its own first read (carts do)."""
_FIND = prepared(
    select(*RECORD_COLUMNS).where(
        idempotency_keys.c.customer_id == bindparam("customer_id"), idempotency_keys.c.key == bindparam("key")
    )
)
_STORE = prepared(
    insert(idempotency_keys).values(
        named_values(
            idempotency_keys,
            "customer_id",
            "key",
            "body_hash",
            "status_code",
            "response",
            "created_at",
            prefix="answer_",
        )
    )
)


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: bytes


def check_key(key: str) -> str:
    """Refuse keys that could not be stored, before any work is done."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidIdempotencyKey(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.")
    return key


def request_fingerprint(route: str, canonical_body: bytes) -> str:
    """Hash of what was asked: the same key sent to another route or with another body is a different request."""
    return hashlib.sha256(route.encode() + b"\n" + canonical_body).hexdigest()


async def find_response(conn: Executor, customer_id: str, key: str, fingerprint: str) -> StoredResponse | None:
    """The stored answer for this key, or None; the same key with another request is refused."""
    row = (await conn.execute(_FIND, {"customer_id": customer_id, "key": key})).one_or_none()
    return None if row is None else stored_response(row, fingerprint)


def stored_response(record: Row[Any], fingerprint: str) -> StoredResponse | None:
    """The answer in a row with the record's columns (None where no record joined), checked against the request."""
    if record.body_hash is None:
        return None
    if record.body_hash != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used for a different request; use a new key for a new change."
        )
    return StoredResponse(record.status_code, record.response)


def response_write(customer_id: str, key: str, fingerprint: str, response: StoredResponse, now: datetime) -> Along:
    """The write that keeps `response` as the answer to `key`: run it, or send it along with the write's event."""
    row = {
        "answer_customer_id": customer_id,
        "answer_key": key,
        "answer_body_hash": fingerprint,
        "answer_status_code": response.status_code,
        "answer_response": response.body,
        "answer_created_at": now,
    }
    return Along(_STORE, row)


async def purge_before(conn: Executor, cutoff: datetime) -> int:
    """Forget answers older than the retention window; returns how many were dropped."""
    result = await conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff))
    return result.rowcount
