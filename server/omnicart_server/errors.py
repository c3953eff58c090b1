"""Domain errors raised by services; each knows its HTTP status and stable code, so routes never build errors."""

from __future__ import annotations

from typing import Any, ClassVar

from omnicart.protocol.problems import ErrorCode


class OmnicartError(Exception):
    """Base of every error a caller can act on; `detail` is a sentence a person can act on."""

    status: ClassVar[int] = 400
    code: ClassVar[ErrorCode] = ErrorCode.INVALID_BODY
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}


class InvalidBody(OmnicartError):
    status, code, title = 422, ErrorCode.INVALID_BODY, "The request body is not valid"


class InvalidQuery(OmnicartError):
    status, code, title = 400, ErrorCode.INVALID_QUERY, "A query parameter is not valid"


class PayloadTooLarge(OmnicartError):
    status, code, title = 413, ErrorCode.PAYLOAD_TOO_LARGE, "The request body is too large"


class UnknownSku(OmnicartError):
    status, code, title = 422, ErrorCode.UNKNOWN_SKU, "Unknown SKU"


class UnknownLine(OmnicartError):
    status, code, title = 422, ErrorCode.UNKNOWN_LINE, "Unknown cart line"


class InvalidQuantity(OmnicartError):
    status, code, title = 422, ErrorCode.INVALID_QUANTITY, "Quantity out of range"


class TooManyOps(OmnicartError):
    status, code, title = 422, ErrorCode.TOO_MANY_OPS, "Too many ops in one batch"


class TooManyLines(OmnicartError):
    status, code, title = 422, ErrorCode.TOO_MANY_LINES, "Too many lines in the cart"


class PriceNotAllowed(OmnicartError):
    status, code, title = 403, ErrorCode.PRICE_NOT_ALLOWED, "Prices are set by the catalog"


class VersionConflict(OmnicartError):
    status, code, title = 409, ErrorCode.VERSION_CONFLICT, "The cart has changed"

    def __init__(self, *, expected: int, current: int, what: str = "cart") -> None:
        super().__init__(
            f"The {what} is at version {current}, not {expected}: fetch it again and reapply your change.",
            current_version=current,
        )


class IdempotencyKeyReused(OmnicartError):
    status, code, title = 422, ErrorCode.IDEMPOTENCY_KEY_REUSED, "Idempotency-Key reused with another body"


class InvalidIdempotencyKey(OmnicartError):
    status, code, title = 400, ErrorCode.INVALID_IDEMPOTENCY_KEY, "Invalid Idempotency-Key"


class TokenMissing(OmnicartError):
    status, code, title = 401, ErrorCode.TOKEN_MISSING, "Authentication required"


class TokenInvalid(OmnicartError):
    status, code, title = 401, ErrorCode.TOKEN_INVALID, "Invalid token"


class TokenExpired(OmnicartError):
    status, code, title = 401, ErrorCode.TOKEN_EXPIRED, "Token expired"


class SessionRevoked(OmnicartError):
    status, code, title = 401, ErrorCode.SESSION_REVOKED, "Session revoked"


def customer_gone() -> TokenInvalid:
    """For a session still trusted for a moment (the session cache) after its anonymous customer was purged."""
    return TokenInvalid("This session's customer no longer exists; open a new session.")


class LogTruncated(OmnicartError):
    status, code, title = 410, ErrorCode.LOG_TRUNCATED, "Events were pruned"

    def __init__(self, *, pruned_seq: int) -> None:
        super().__init__(
            f"Events up to seq {pruned_seq} are past retention: fetch the cart, then read events since {pruned_seq}.",
            pruned_seq=pruned_seq,
        )


class HandoffCodeUnknown(OmnicartError):
    status, code, title = 404, ErrorCode.HANDOFF_CODE_UNKNOWN, "Unknown handoff code"


class HandoffCodeExpired(OmnicartError):
    status, code, title = 410, ErrorCode.HANDOFF_CODE_EXPIRED, "Handoff code expired"


class HandoffCodeUsed(OmnicartError):
    status, code, title = 409, ErrorCode.HANDOFF_CODE_USED, "Handoff code already used"


class RateLimited(OmnicartError):
    status, code, title = 429, ErrorCode.RATE_LIMITED, "Too many attempts"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.headers = {"Retry-After": str(retry_after)}


class InvalidIdentity(OmnicartError):
    status, code, title = 422, ErrorCode.INVALID_IDENTITY, "Invalid identity"


class UnknownTransactionKind(OmnicartError):
    status, code, title = 422, ErrorCode.UNKNOWN_TRANSACTION_KIND, "Unknown transaction kind"


class InvalidTransition(OmnicartError):
    status, code, title = 409, ErrorCode.INVALID_TRANSITION, "Transition not allowed"


class MissingFields(OmnicartError):
    status, code, title = 422, ErrorCode.MISSING_FIELDS, "Fields missing"


class TransactionFinished(OmnicartError):
    status, code, title = 409, ErrorCode.TRANSACTION_FINISHED, "Transaction finished"


class TransactionLeaseHeld(OmnicartError):
    status, code, title = 409, ErrorCode.TRANSACTION_LEASE_HELD, "Another device drives this transaction"


class CartLocked(OmnicartError):
    status, code, title = 409, ErrorCode.CART_LOCKED, "Cart locked by a checkout"


class Forbidden(OmnicartError):
    status, code, title = 403, ErrorCode.FORBIDDEN, "Forbidden"


class NotFound(OmnicartError):
    status, code, title = 404, ErrorCode.NOT_FOUND, "Not found"


class NotReady(OmnicartError):
    status, code, title = 503, ErrorCode.NOT_READY, "Not ready"


_REJECTIONS: dict[ErrorCode, type[OmnicartError]] = {
    error.code: error for error in (UnknownSku, UnknownLine, InvalidQuantity, TooManyOps, TooManyLines, PriceNotAllowed)
}


def rejection(code: ErrorCode, detail: str) -> OmnicartError:
    """The domain error for a batch the shared cart rules (omnicart.cart_ops) refused."""
    return _REJECTIONS.get(code, InvalidBody)(detail)
