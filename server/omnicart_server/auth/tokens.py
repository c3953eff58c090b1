"""Signed, expiring tokens over a key ring: sign with the newest key, verify with any key not yet retired.

itsdangerous already does rotation (a list of secrets, the last one signs) and expiry (timestamped signatures),
so this module only names the token kinds and turns its exceptions into our 401 codes.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from omnicart_server.errors import TokenExpired, TokenInvalid


class TokenKind(StrEnum):
    """Each kind has its own salt, so a token of one kind is never accepted as another."""

    SESSION = "session"
    CUSTOMER = "customer"


def key_id(secret: str) -> str:
    """A short public name for a key, so operators can tell which key signed a token without seeing the key."""
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


class TokenSigner:
    """Issues and verifies tokens; `keys` are newest first, as in OMNICART_SECRET_KEYS.

    A token found valid is remembered with the moment it expires: a device sends the same token on every request,
    and checking its signature again (itsdangerous builds a signer per key per call) cost ~8 % of a cart write. The
    keys are fixed for the life of the process, so the same token stays valid until it expires.
    """

    MAX_REMEMBERED = 50_000

    def __init__(self, keys: tuple[str, ...], ttl_seconds: dict[TokenKind, int]) -> None:
        if not keys:
            raise ValueError("at least one signing key is needed")
        self.kid = key_id(keys[0])
        self._keys = keys
        self._ttl = ttl_seconds
        oldest_first = list(reversed(keys))
        self._serializers = {
            kind: URLSafeTimedSerializer(
                oldest_first, salt=f"omnicart.{kind}", signer_kwargs={"digest_method": hashlib.sha256}
            )
            for kind in TokenKind
        }
        self._valid: dict[tuple[TokenKind, str], tuple[str, float]] = {}
        """(kind, token) -> (subject, expiry on time.time()), for tokens that passed verification."""

    def issue(self, kind: TokenKind, subject: str) -> tuple[str, datetime]:
        """A token naming `subject` and the key id, with the moment it expires."""
        token = self._serializers[kind].dumps({"sub": subject, "kid": self.kid})
        return token, datetime.now(UTC) + timedelta(seconds=self._ttl[kind])

    def keyed_hashes(self, secret: str) -> list[str]:
        """HMACs of a short secret (a PIN) under every key, newest first: the first to store, all to look up.

        A plain hash of a 6-digit PIN is reversed by trying all million; without the key nobody can.
        """
        return [hmac.new(key.encode(), secret.encode(), hashlib.sha256).hexdigest() for key in self._keys]

    def verify(self, kind: TokenKind, token: str) -> str:
        """The subject of a valid token of this kind."""
        known = self._valid.get((kind, token))
        if known is not None and time.time() < known[1]:
            return known[0]
        try:
            payload, signed_at = self._serializers[kind].loads(token, max_age=self._ttl[kind], return_timestamp=True)
        except SignatureExpired as exc:
            raise TokenExpired(f"This {kind} token has expired; open a new session.") from exc
        except BadData as exc:
            raise TokenInvalid(
                f"This is not a valid {kind} token: it is malformed, altered or its key was retired."
            ) from exc
        subject = payload.get("sub") if isinstance(payload, dict) else None
        if not isinstance(subject, str):
            raise TokenInvalid(f"This is not a valid {kind} token.")
        if len(self._valid) >= self.MAX_REMEMBERED:
            self._valid.clear()
        self._valid[(kind, token)] = (subject, signed_at.timestamp() + self._ttl[kind])
        return subject
