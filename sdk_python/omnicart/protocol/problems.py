"""Error codes and the problem+json body (RFC 9457) shared by the server and the SDKs."""

from __future__ import annotations

from enum import IntEnum, StrEnum

from omnicart.protocol._base import ServerMessage


class ErrorCode(StrEnum):
    """Stable machine-readable codes: clients branch on these, never on the wording of `detail`."""

    INVALID_BODY = "invalid_body"
    """The body is not JSON, has a wrong type, a missing or an unknown field."""
    INVALID_QUERY = "invalid_query"
    """A query parameter is missing or out of range."""
    PAYLOAD_TOO_LARGE = "payload_too_large"
    """The body is over the server's limit; it was refused before being read whole."""
    UNKNOWN_SKU = "unknown_sku"
    """The SKU is not in the catalog."""
    UNKNOWN_LINE = "unknown_line"
    """The cart has no line with that id."""
    INVALID_QUANTITY = "invalid_quantity"
    """A quantity is below 1 or above the per-line maximum."""
    TOO_MANY_OPS = "too_many_ops"
    """A batch holds more ops than the server accepts at once."""
    TOO_MANY_LINES = "too_many_lines"
    """The cart would hold more lines than allowed."""
    PRICE_NOT_ALLOWED = "price_not_allowed"
    """Only the catalog (or an authorised agent) sets prices; a shopper never does."""
    VERSION_CONFLICT = "version_conflict"
    """`expected_version` is not the cart's current version; the body carries `current_version`."""
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    """The Idempotency-Key was already used with a different body."""
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"
    """The Idempotency-Key header is empty or too long."""
    LOG_TRUNCATED = "log_truncated"
    """`since` is older than the events the server keeps; the body carries `pruned_seq`: start from the cart."""
    HANDOFF_CODE_UNKNOWN = "handoff_code_unknown"
    """No handoff code like this exists: check what was typed."""
    HANDOFF_CODE_EXPIRED = "handoff_code_expired"
    """The handoff code is past its expiry: ask the other device for a new one."""
    HANDOFF_CODE_USED = "handoff_code_used"
    """The handoff code was already claimed; codes are single use."""
    RATE_LIMITED = "rate_limited"
    """Too many attempts; wait `Retry-After` seconds."""
    TOKEN_MISSING = "token_missing"
    """No bearer token was sent."""
    TOKEN_INVALID = "token_invalid"
    """The token is malformed, tampered with, or signed by a retired key."""
    TOKEN_EXPIRED = "token_expired"
    """The token is past its expiry; start or refresh a session."""
    SESSION_REVOKED = "session_revoked"
    """The device session was revoked."""
    INVALID_IDENTITY = "invalid_identity"
    """The identity value is not a valid email, E.164 phone number or handle."""
    UNKNOWN_TRANSACTION_KIND = "unknown_transaction_kind"
    """No transaction kind of that name is configured."""
    INVALID_TRANSITION = "invalid_transition"
    """The transaction cannot move from its state to that one; `allowed_next` lists where it can."""
    MISSING_FIELDS = "missing_fields"
    """The target state requires fields the transaction does not have yet; `missing` lists them."""
    TRANSACTION_LEASE_HELD = "transaction_lease_held"
    """Another device drives this transaction; take it over to continue here."""
    TRANSACTION_FINISHED = "transaction_finished"
    """The transaction reached a final state and cannot change."""
    CART_LOCKED = "cart_locked"
    """A checkout is completing: the cart cannot change until it completes or is cancelled."""
    FORBIDDEN = "forbidden"
    """The caller is authenticated but may not do this."""
    NOT_FOUND = "not_found"
    """No such resource, or it belongs to another customer."""
    METHOD_NOT_ALLOWED = "method_not_allowed"
    """The route exists but not with this HTTP method."""
    NOT_READY = "not_ready"
    """A dependency (database, migrations, Redis) is not available."""
    INTERNAL_ERROR = "internal_error"
    """A fault on the server's side; safe to retry with the same Idempotency-Key."""


class Problem(ServerMessage, frozen=True):
    """An error body, `application/problem+json`; extras such as `current_version` ride along."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    current_version: int | None = None
    pruned_seq: int | None = None
    retry_after: int | None = None
    allowed_next: list[str] | None = None
    missing: list[str] | None = None


class CloseCode(IntEnum):
    """WebSocket close codes of the live stream (4000-4999 is the application range, RFC 6455 §7.4.2)."""

    BAD_FRAME = 4400
    """A frame was not JSON, not a known type, or came out of turn (e.g. no hello first); do not retry as is."""
    TOKEN_REJECTED = 4401
    """The hello frame's token is tampered, expired or revoked, or the session was revoked while connected."""
    HELLO_TIMEOUT = 4408
    """No hello frame within the server's limit after connecting."""
    SLOW_CONSUMER = 4008
    """The client did not read fast enough; reconnect and resume from the last seq it holds."""
    CUSTOMER_MERGED = 4009
    """The customer was merged into another: reconnect with since=0 (the session now belongs to that customer)."""
    TOO_MANY_CONNECTIONS = 4429
    """The customer already has the maximum number of live connections."""
    SERVER_RESTART = 1012
    """The server is shutting down (RFC 6455 "service restart"); reconnect with backoff and resume."""
