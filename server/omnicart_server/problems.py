"""Turn every exception into application/problem+json with a stable code, and document those errors in OpenAPI."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException, ProblemDetailsPlugin
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from omnicart.protocol.problems import ErrorCode, Problem
from omnicart_server.errors import OmnicartError

logger = logging.getLogger(__name__)

TYPE_PREFIX = "urn:omnicart:problem:"

_CODE_OF_STATUS = {
    400: ErrorCode.INVALID_BODY,
    401: ErrorCode.TOKEN_MISSING,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    503: ErrorCode.NOT_READY,
}


_TITLES = {400: "The request is not valid", 405: "Method not allowed", 401: "Authentication required"}


def problem(
    status: int, code: ErrorCode, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> ProblemDetailsException:
    return ProblemDetailsException(
        status_code=status,
        type_=TYPE_PREFIX + code,
        title=title,
        detail=detail,
        headers=headers,
        extra={"code": code, **extra},
    )


def _from_domain(exc: OmnicartError) -> ProblemDetailsException:
    return problem(exc.status, exc.code, exc.title, exc.detail, exc.headers or None, **exc.extra)


def _json_path(key: str) -> str:
    """Litestar's `ops.0.qty` as the JSON path `$.ops[0].qty` a client developer can find in their body."""
    # Litestar names the body `data`; a field of the body comes as `ops.0.qty`, the body itself as `data`.
    names = [part for part in key.split(".") if part and key != "data"]
    parts = [f"[{part}]" if part.isdigit() else f".{part}" for part in names]
    return "$" + "".join(parts)


def _from_validation(exc: ValidationException) -> ProblemDetailsException:
    """Litestar's request validation: body errors are 422 invalid_body, query and path errors 400 invalid_query."""
    issues = [issue for issue in (exc.extra if isinstance(exc.extra, list) else []) if isinstance(issue, dict)]
    if any(issue.get("source") in ("query", "path", "header", "cookie") for issue in issues):
        said = "; ".join(f"{issue.get('key')}: {issue.get('message')}" for issue in issues)
        return problem(400, ErrorCode.INVALID_QUERY, "A parameter is not valid", f"{said}.")
    said = "; ".join(
        f"{issue.get('message')} at `{_json_path(str(issue['key']))}`"
        if issue.get("key")
        else str(issue.get("message"))
        for issue in issues
    )
    return problem(422, ErrorCode.INVALID_BODY, "The request body is not valid", f"{said or exc.detail}.")


def _from_http(exc: HTTPException) -> ProblemDetailsException:
    code = _CODE_OF_STATUS.get(exc.status_code, ErrorCode.INVALID_BODY)
    if exc.status_code == 413:
        return problem(
            413, code, "The request body is too large", "The body is over the server's size limit; send less."
        )
    if exc.status_code >= 500:
        return _from_unexpected(exc)
    if exc.status_code == 404:
        return problem(404, code, "Not found", "There is no such route; the API is described at /schema.")
    title = _TITLES.get(exc.status_code, "Bad request")
    return problem(exc.status_code, code, title, str(exc.detail or title))


def _from_bad_encoding(exc: UnicodeDecodeError) -> ProblemDetailsException:
    """Litestar lets a body that is not UTF-8 escape from its JSON decoding; it is still the caller's mistake."""
    return problem(
        400, ErrorCode.INVALID_BODY, "The request is not valid", f"The body is not UTF-8 JSON: {exc.reason}."
    )


def _from_body_decoding(exc: msgspec.DecodeError) -> ProblemDetailsException:
    """The strict body decoder: a wrong shape is 422 with its JSON path, text that is not JSON is 400."""
    if isinstance(exc, msgspec.ValidationError):
        message, _, path = str(exc).partition(" - at ")
        where = f" at `{path}`" if path else ""
        return problem(422, ErrorCode.INVALID_BODY, "The request body is not valid", f"{message}{where}.")
    return problem(400, ErrorCode.INVALID_BODY, "The request is not valid", f"The body is not valid JSON: {exc}.")


def _from_nesting(_exc: RecursionError) -> ProblemDetailsException:
    return problem(400, ErrorCode.INVALID_BODY, "The request is not valid", "The body is nested too deeply.")


def _from_database_error(exc: DBAPIError) -> ProblemDetailsException:
    """A lost or refused connection is the database being away; any other driver error is ours."""
    if isinstance(exc, (OperationalError, InterfaceError)) or exc.connection_invalidated:
        return _from_database_down(exc)
    return _from_unexpected(exc)


def _from_database_down(exc: Exception) -> ProblemDetailsException:
    """The database refused or dropped the connection (down, restarting, out of connections): retryable.

    A refused connection reaches here as the OSError itself: SQLAlchemy wraps only the driver's own exceptions.
    Nothing else in a request opens a socket, so an OSError is the database.
    """
    logger.warning("database unavailable: %r", getattr(exc, "orig", None) or exc)
    return _retry_shortly("The database is unavailable right now")


def _from_pool_exhausted(exc: PoolTimeout) -> ProblemDetailsException:
    """Every database connection of this process stayed busy for OMNICART_DB_POOL_TIMEOUT_SECONDS: retryable."""
    logger.warning("no database connection came free: %s", exc)
    return _retry_shortly("The server is too busy to take this request")


def _retry_shortly(why: str) -> ProblemDetailsException:
    detail = f"{why}; retry shortly (with the same Idempotency-Key for a write)."
    return problem(503, ErrorCode.NOT_READY, "Service unavailable", detail, {"Retry-After": "1"})


def _from_unexpected(exc: Exception) -> ProblemDetailsException:
    logger.error("unhandled error", exc_info=exc)
    return problem(
        500,
        ErrorCode.INTERNAL_ERROR,
        "Internal server error",
        "The server failed to handle this request; retry it (with the same Idempotency-Key for a write).",
    )


def problem_details_plugin() -> ProblemDetailsPlugin:
    return ProblemDetailsPlugin(
        ProblemDetailsConfig(
            enable_for_all_http_exceptions=True,
            exception_to_problem_detail_map={
                OmnicartError: _from_domain,
                ValidationException: _from_validation,
                HTTPException: _from_http,
                UnicodeDecodeError: _from_bad_encoding,
                msgspec.DecodeError: _from_body_decoding,
                RecursionError: _from_nesting,
                DBAPIError: _from_database_error,
                PoolTimeout: _from_pool_exhausted,
                OSError: _from_database_down,
                Exception: _from_unexpected,
            },
        )
    )


_DESCRIPTIONS = {
    400: "A header or query parameter is not valid.",
    401: "Missing, invalid, expired or revoked session token.",
    403: "Not allowed for this caller (a shopper setting a price, an API key without the scope).",
    404: "No such resource for this customer (or no such handoff code).",
    409: "A conflict: a stale `expected_version` (`current_version` says where it is), a used code, a transaction "
    "driven by another device or finished, a move its kind does not allow, or a cart locked by a checkout.",
    410: "Gone: events past retention (`pruned_seq` says where the log continues), or an expired code.",
    413: "The body is over the size limit.",
    429: "Too many attempts; wait `Retry-After` seconds.",
    422: "The body is not valid, or an op cannot apply; `code` says which.",
    503: "A dependency is not available.",
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the errors a route can answer."""
    return {
        status: ResponseSpec(
            data_container=Problem, description=_DESCRIPTIONS[status], media_type="application/problem+json"
        )
        for status in statuses
    }
