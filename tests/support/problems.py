"""Assertions on application/problem+json error bodies (RFC 9457 plus our `code`)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.devices import describe

PROBLEM_FIELDS = ("type", "title", "status", "detail", "code")


def assert_problem(response: httpx.Response, status: int | range, code: str | tuple[str, ...]) -> dict[str, Any]:
    """The response is a problem+json with this status (or one in the range), this code and every field; returns it.

    Args:
        response: The answer to check.
        status: The exact status, or a range such as `range(400, 500)` where the contract says only "4xx".
        code: The expected ErrorCode value, or the values the contract leaves open.
    """
    statuses = status if isinstance(status, range) else range(status, status + 1)
    assert response.status_code in statuses, f"expected {status} {code}: {describe(response)}"
    content_type = response.headers.get("content-type", "")
    assert content_type.split(";")[0].strip() == "application/problem+json", (
        f"content-type {content_type!r}: {describe(response)}"
    )
    body = response.json()
    assert isinstance(body, dict), describe(response)
    missing = [name for name in PROBLEM_FIELDS if name not in body]
    assert not missing, f"problem lacks {missing}: {describe(response)}"
    codes = (code,) if isinstance(code, str) else code
    assert body["code"] in codes, f"expected code {code}: {describe(response)}"
    assert body["status"] == response.status_code, describe(response)
    return body
