"""Every error the SDK raises, mirroring the server's problem+json codes.

OmnicartError
TransportError          network or timeout; retryable (writes keep their Idempotency-Key)
ProblemError            the server answered with problem+json: .problem, .code, .status
AuthError             401 token_missing, token_invalid, token_expired, session_revoked
ForbiddenError        403 (a shopper setting a price, an API key without the scope)
NotFoundError         404
ConflictError         409 version_conflict (.current_version), cart_locked, lease held, ...
InvalidRequestError   400, 413, 422
RateLimitedError      429: .retry_after
ServerError           5xx after the retries ran out
StreamError             the live stream was refused or closed for good
"""

from __future__ import annotations

import msgspec

from omnicart.protocol.problems import Problem


class OmnicartError(Exception):
    """Base of every SDK error."""


class TransportError(OmnicartError):
    """The server could not be reached or did not answer in time."""


class ProblemError(OmnicartError):
    """The server refused the request; `problem.detail` says what to do."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.status} {problem.code}: {problem.detail}")
        self.problem = problem
        self.code = problem.code
        self.status = problem.status


class AuthError(ProblemError):
    """The credential is missing, invalid, expired or revoked: start or refresh the session."""


class ForbiddenError(ProblemError):
    """Authenticated, but not allowed."""


class NotFoundError(ProblemError):
    """No such resource for this customer."""


class ConflictError(ProblemError):
    """The state moved on (a stale version, a locked cart, another driver); fetch and decide again."""

    @property
    def current_version(self) -> int | None:
        return self.problem.current_version


class InvalidRequestError(ProblemError):
    """The request itself is wrong; sending it again will not help."""


class RateLimitedError(ProblemError):
    """Too many attempts; wait `retry_after` seconds."""

    @property
    def retry_after(self) -> int | None:
        return self.problem.retry_after


class ServerError(ProblemError):
    """The server failed, also after the retries."""


class StreamError(OmnicartError):
    """The live stream cannot go on (token rejected, or closed with a code that forbids retrying)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"stream closed {code}: {reason}")
        self.close_code = code
        self.reason = reason


_BY_STATUS: dict[int, type[ProblemError]] = {
    401: AuthError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitedError,
}
_problem_decoder = msgspec.json.Decoder(Problem)


def from_problem(status: int, body: bytes) -> ProblemError:
    """The exception for an error answer; an unknown code still maps by status (old SDK, new server)."""
    try:
        problem = _problem_decoder.decode(body)
    except msgspec.DecodeError:
        problem = Problem(
            type="about:blank", title="Error", status=status, detail=body[:300].decode(errors="replace"), code="unknown"
        )
    if status >= 500:
        return ServerError(problem)
    if status in (400, 410, 413, 422):
        return InvalidRequestError(problem)
    return _BY_STATUS.get(status, ProblemError)(problem)
