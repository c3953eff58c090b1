"""Sans-I/O request layer shared by Client and AsyncClient: what to send, how to read the answer, when to retry."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
import msgspec

from omnicart.errors import ProblemError, RateLimitedError, ServerError, from_problem

T = TypeVar("T")
RETRY_STATUSES = frozenset({429, 502, 503, 504})
"""Answers worth retrying: overload and gateways. Never other 4xx, which say the request itself is wrong."""
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API call, before any I/O: a write carries an Idempotency-Key made once and reused on every retry."""

    method: str
    path: str
    decode: Callable[[bytes], T]
    body: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    write: bool = False
    idempotency_key: str = field(default_factory=lambda: str(uuid.uuid4()))
    credential: str | None = None
    """Sent instead of the session token: an agent app's API key when it picks a customer up."""

    @property
    def repeatable(self) -> bool:
        """Whether sending it twice is safe: reads, deletes, and writes that carry an Idempotency-Key."""
        return self.write or self.method in ("GET", "DELETE")

    def content(self) -> bytes | None:
        return None if self.body is None else _encoder.encode(self.body)

    def headers(self, token: str | None) -> dict[str, str]:
        headers = {"accept": "application/json"}
        if self.body is not None:
            headers["content-type"] = "application/json"
        if self.credential or token:
            headers["authorization"] = f"Bearer {self.credential or token}"
        if self.write:
            headers["idempotency-key"] = self.idempotency_key
        return headers


def call(method: str, path: str, response: type[T], **kwargs: Any) -> Call[T]:
    decoder = msgspec.json.Decoder(response)
    return Call(method, path, decoder.decode, **kwargs)


def no_content(_body: bytes) -> None:
    return None


def may_resend(c: Call[Any], error: httpx.TransportError) -> bool:
    """After a network failure: resend a repeatable call, or any call that provably never reached the server."""
    return c.repeatable or isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout))


def read_answer(c: Call[T], status: int, body: bytes) -> T:
    """The decoded answer, or the ProblemError the server's problem+json maps to."""
    if 200 <= status < 300:
        return c.decode(body)
    raise from_problem(status, body)


def retry_delay(c: Call[Any], error: ProblemError, fallback: float) -> float | None:
    """How long to wait before retrying after this answer, or None when it must not be retried.

    A call that is not repeatable is retried only on 429, which the server answers before doing anything.
    """
    if error.status not in RETRY_STATUSES and not isinstance(error, ServerError):
        return None
    if not c.repeatable and error.status != 429:
        return None
    if isinstance(error, RateLimitedError) and error.retry_after:
        return float(error.retry_after)
    return fallback
