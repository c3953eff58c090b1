"""API keys for trusted backends (identity linking, agents): scoped, shown once, stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import insert, select

from omnicart_server.db.models import api_keys
from omnicart_server.errors import Forbidden

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

KEY_PREFIX = "ock_"
IDENTITY_WRITE = "identity:write"
AGENT = "agent"
PAYMENTS = "payments"
ADMIN = "admin"
SCOPES = (IDENTITY_WRITE, AGENT, PAYMENTS, ADMIN)
"""Scopes a key can carry: identity linking, call-center agents, payment confirmation, operations."""


@dataclass(frozen=True)
class TrustedBackend:
    """The caller of a request made with an API key."""

    key_id: str
    scopes: frozenset[str]

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(
                f"This API key lacks the scope {scope!r}; create one with `omnicart keys create --scope {scope}`."
            )


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_api_key(conn: AsyncConnection, name: str, scopes: list[str]) -> tuple[str, str]:
    """Store a new key and return (key id, the key itself); the key is never retrievable again."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; choose from {', '.join(SCOPES)}")
    key_id = "key_" + secrets.token_hex(8)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        insert(api_keys).values(
            id=key_id,
            name=name,
            key_hash=hash_key(key),
            scopes=" ".join(sorted(set(scopes))),
            created_at=datetime.now(UTC),
        )
    )
    return key_id, key


async def backend_of(conn: AsyncConnection, key: str) -> TrustedBackend | None:
    """The backend holding a live key, or None for an unknown or revoked one."""
    row = (
        await conn.execute(
            select(api_keys.c.id, api_keys.c.scopes).where(
                api_keys.c.key_hash == hash_key(key), api_keys.c.revoked_at.is_(None)
            )
        )
    ).one_or_none()
    return None if row is None else TrustedBackend(key_id=row.id, scopes=frozenset(row.scopes.split()))
