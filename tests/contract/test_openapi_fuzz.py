"""Schemathesis over the served OpenAPI document: generated valid and invalid requests never get a 5xx.

Every operation is fuzzed once per backend (positive and negative generation, MAX_EXAMPLES each) with a valid
bearer token, so authorized routes are exercised past the auth guard; the tests then judge the recorded answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.core.result import Err

from tests.support.devices import bearer, new_device
from tests.support.server import ServerProcess

MAX_EXAMPLES = 25
"""Per operation and generation mode: bounded so the whole file runs well under two minutes."""


@dataclass(frozen=True)
class Outcome:
    """One generated request and what the server answered."""

    operation: str
    mode: str
    status: int
    content_type: str
    body: bytes
    curl: str

    def __str__(self) -> str:
        return f"{self.operation} [{self.mode}] -> {self.status} {self.body[:300]!r}\n    {self.curl[:1000]}"


@dataclass
class FuzzRun:
    """What one backend's fuzzing found."""

    outcomes: list[Outcome] = field(default_factory=list)
    invalid_operations: list[str] = field(default_factory=list)
    """Operations whose schema schemathesis could not use, with the reason."""


def fuzz(server: ServerProcess, token: str) -> FuzzRun:
    """Send generated requests for every operation of the served schema and record what came back."""
    schema = schemathesis.openapi.from_url(f"{server.url}/schema/openapi.json", timeout=10)
    run = FuzzRun()
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            run.invalid_operations.append(str(result.err()))
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz_operation(result.ok(), mode, server.url, bearer(token), run.outcomes)
            except Unsatisfiable:
                # Nothing invalid can be generated for an operation without inputs; its positive run covers it.
                continue
    return run


def fuzz_operation(
    operation: APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    base_url: str,
    headers: dict[str, str],
    outcomes: list[Outcome],
) -> None:
    """Send up to MAX_EXAMPLES generated requests for one operation, appending each answer to `outcomes`."""

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def send(case: Case[Any]) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=15)
        outcomes.append(
            Outcome(
                operation=case.operation.label,
                mode=mode.value,
                status=response.status_code,
                content_type=(response.headers.get("content-type") or [""])[0],
                body=response.content or b"",
                curl=case.as_curl_command(headers=headers, base_url=base_url),
            )
        )

    send()


@pytest.fixture(scope="module")
def fuzzed(shared_server: ServerProcess) -> FuzzRun:
    """This backend's fuzzing run: done once, judged by several tests."""
    with new_device(shared_server, "web", "schemathesis") as device:
        return fuzz(shared_server, device.session_token)


@pytest.fixture
def outcomes(fuzzed: FuzzRun) -> list[Outcome]:
    """Every fuzzed request and its answer."""
    assert fuzzed.outcomes, "schemathesis generated no requests"
    return fuzzed.outcomes


def test_every_operation_schema_is_usable(fuzzed: FuzzRun) -> None:
    """Schemathesis can generate requests from every operation the OpenAPI document describes."""
    assert not fuzzed.invalid_operations, "\n".join(fuzzed.invalid_operations)


@pytest.mark.parametrize("operation", ["GET /v1/cart", "POST /v1/cart/ops", "POST /v1/sessions", "GET /v1/events"])
def test_fuzzing_reaches_the_operation(outcomes: list[Outcome], operation: str) -> None:
    """The core operations were fuzzed, and most requests got past authentication."""
    statuses = [outcome.status for outcome in outcomes if outcome.operation == operation]
    assert statuses, sorted({outcome.operation for outcome in outcomes})
    assert sum(status != 401 for status in statuses) > len(statuses) // 2, statuses


def test_no_generated_request_gets_a_5xx(outcomes: list[Outcome]) -> None:
    """No request, valid or invalid, makes the server answer 5xx."""
    errors = [outcome for outcome in outcomes if outcome.status >= 500]
    assert not errors, f"{len(errors)} of {len(outcomes)} got 5xx:\n" + "\n".join(map(str, errors[:10]))


def test_every_refusal_is_problem_json(outcomes: list[Outcome]) -> None:
    """Every 4xx answer to a generated request is application/problem+json."""
    plain = [o for o in outcomes if 400 <= o.status < 500 and not o.content_type.startswith("application/problem+json")]
    assert not plain, f"{len(plain)} 4xx without problem+json:\n" + "\n".join(map(str, plain[:10]))
