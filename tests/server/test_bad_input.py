"""Bad input gets a clear problem+json with its code, never a 5xx, and leaves the cart and the log as they were."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.catalog import SKUS
from tests.support.databases import Databases
from tests.support.devices import JSON, Device, OpenDevice, add_item, line_for, remove_item, set_quantity
from tests.support.problems import assert_problem
from tests.support.rawhttp import RawResponse, send_partial_request
from tests.support.server import HOST, ServerProcess

CUP, MUG = SKUS[0], SKUS[2]
ANY_4XX = range(400, 500)
DEFAULT_MAX_QTY = 999
DEFAULT_MAX_OPS = 100
DEFAULT_MAX_BODY = 256 * 1024


@dataclass(frozen=True)
class Primed:
    """A customer whose cart holds one MUG line, with the cart and event head seen before the bad request."""

    device: Device
    cart: JSON
    head: int

    @property
    def line_id(self) -> str:
        line_id: str = line_for(self.cart, MUG)["line_id"]
        return line_id

    def assert_unchanged(self) -> None:
        """The refused request left the cart (version included) and the event log exactly as they were."""
        assert self.device.cart() == self.cart
        assert self.device.head() == self.head


def prime(device: Device) -> Primed:
    cart = device.add(MUG, 1)
    return Primed(device, cart, device.head())


@pytest.fixture
def primed(device: Device) -> Primed:
    return prime(device)


Body = Callable[[Primed], Any]
"""Builds the request body from the primed cart: a JSON value, or bytes sent as they are."""


def ops(*items: JSON) -> Body:
    return lambda _: {"ops": list(items)}


def on_line(make: Callable[[str], JSON]) -> Body:
    return lambda primed: {"ops": [make(primed.line_id)]}


@dataclass(frozen=True)
class BadInput:
    body: Body
    status: int | range
    code: str


BAD_INPUTS: dict[str, BadInput] = {
    # Not JSON at all: any 4xx, always invalid_body.
    "malformed-json": BadInput(lambda _: b'{"ops": [', ANY_4XX, "invalid_body"),
    "not-json": BadInput(lambda _: b"add two mugs please", ANY_4XX, "invalid_body"),
    "empty-body": BadInput(lambda _: b"", ANY_4XX, "invalid_body"),
    "invalid-utf8": BadInput(lambda _: b'{"ops": [{"op": "add_item", "sku": "\xff\xfe"}]}', ANY_4XX, "invalid_body"),
    "deep-nesting": BadInput(lambda _: b'{"ops": ' + b"[" * 5000 + b"]" * 5000 + b"}", ANY_4XX, "invalid_body"),
    # JSON of the wrong shape: 422 invalid_body.
    "body-is-array": BadInput(lambda _: [], 422, "invalid_body"),
    "body-is-null": BadInput(lambda _: None, 422, "invalid_body"),
    "missing-ops": BadInput(lambda _: {}, 422, "invalid_body"),
    "ops-not-a-list": BadInput(lambda _: {"ops": "add_item"}, 422, "invalid_body"),
    "ops-empty": BadInput(ops(), 422, "invalid_body"),
    "unknown-top-level-field": BadInput(lambda _: {"ops": [add_item(CUP)], "force": True}, 422, "invalid_body"),
    "unknown-op-field": BadInput(ops({"op": "add_item", "sku": CUP, "qty": 1, "note": "x"}), 422, "invalid_body"),
    "unknown-op": BadInput(ops({"op": "explode"}), 422, "invalid_body"),
    "missing-op-tag": BadInput(ops({"sku": CUP, "qty": 1}), 422, "invalid_body"),
    "op-not-an-object": BadInput(ops("add_item"), 422, "invalid_body"),  # type: ignore[arg-type]
    "missing-sku": BadInput(ops({"op": "add_item", "qty": 1}), 422, "invalid_body"),
    "qty-string": BadInput(ops({"op": "add_item", "sku": CUP, "qty": "2"}), 422, "invalid_body"),
    "qty-float": BadInput(ops({"op": "add_item", "sku": CUP, "qty": 1.5}), 422, "invalid_body"),
    "qty-bool": BadInput(ops({"op": "add_item", "sku": CUP, "qty": True}), 422, "invalid_body"),
    "qty-null": BadInput(ops({"op": "add_item", "sku": CUP, "qty": None}), 422, "invalid_body"),
    "sku-empty": BadInput(ops(add_item("")), 422, "invalid_body"),
    "sku-too-long": BadInput(ops(add_item("X" * 65)), 422, "invalid_body"),
    "sku-number": BadInput(ops({"op": "add_item", "sku": 42, "qty": 1}), 422, "invalid_body"),
    "line-id-too-long": BadInput(ops(remove_item("L" * 33)), 422, "invalid_body"),
    "expected-version-string": BadInput(
        lambda p: {"ops": [add_item(CUP)], "expected_version": str(p.cart["version"])}, 422, "invalid_body"
    ),
    # Well-formed but refused by the rules.
    "unknown-sku": BadInput(ops(add_item("NO-SUCH-SKU")), 422, "unknown_sku"),
    "unknown-line-set-quantity": BadInput(ops(set_quantity("no-such-line", 2)), 422, "unknown_line"),
    "unknown-line-remove": BadInput(ops(remove_item("no-such-line")), 422, "unknown_line"),
    "add-qty-zero": BadInput(ops(add_item(CUP, 0)), 422, "invalid_quantity"),
    "add-qty-negative": BadInput(ops(add_item(CUP, -1)), 422, "invalid_quantity"),
    "add-qty-over-max": BadInput(ops(add_item(CUP, DEFAULT_MAX_QTY + 1)), 422, "invalid_quantity"),
    "add-qty-huge": BadInput(ops(add_item(CUP, 10**12)), 422, "invalid_quantity"),
    "add-qty-int64-min": BadInput(ops(add_item(CUP, -(2**63))), 422, "invalid_quantity"),
    "add-pushes-line-over-max": BadInput(ops(add_item(MUG, DEFAULT_MAX_QTY)), 422, "invalid_quantity"),
    "set-qty-zero": BadInput(on_line(lambda line: set_quantity(line, 0)), 422, "invalid_quantity"),
    "set-qty-negative": BadInput(on_line(lambda line: set_quantity(line, -5)), 422, "invalid_quantity"),
    "set-qty-over-max": BadInput(
        on_line(lambda line: set_quantity(line, DEFAULT_MAX_QTY + 1)), 422, "invalid_quantity"
    ),
    "too-many-ops": BadInput(ops(*[add_item(CUP)] * (DEFAULT_MAX_OPS + 1)), 422, "too_many_ops"),
    "set-price": BadInput(
        on_line(lambda line: {"op": "set_price", "line_id": line, "unit_price": 1, "reason": "discount"}),
        403,
        "price_not_allowed",
    ),
    "stale-version": BadInput(
        lambda p: {"ops": [add_item(CUP)], "expected_version": p.cart["version"] - 1}, 409, "version_conflict"
    ),
    "future-version": BadInput(
        lambda p: {"ops": [add_item(CUP)], "expected_version": p.cart["version"] + 5}, 409, "version_conflict"
    ),
}


def send(device: Device, body: Any, **kwargs: Any) -> httpx.Response:
    if isinstance(body, bytes):
        return device.post_ops(content=body, **kwargs)
    return device.post_ops(content=json.dumps(body).encode(), **kwargs)


@pytest.mark.parametrize("case", [pytest.param(case, id=name) for name, case in BAD_INPUTS.items()])
def test_bad_batch_is_refused_with_its_code_and_changes_nothing(primed: Primed, case: BadInput) -> None:
    """Each kind of bad batch gets its status and code, and leaves cart, version and event log untouched."""
    response = send(primed.device, case.body(primed))
    assert_problem(response, case.status, case.code)
    primed.assert_unchanged()


def test_quantity_beyond_64_bits_is_refused(primed: Primed) -> None:
    """A quantity too big for any integer type gets a 422 (invalid_quantity or invalid_body), not a 5xx."""
    response = send(primed.device, {"ops": [add_item(CUP, 10**30)]})
    assert_problem(response, 422, ("invalid_quantity", "invalid_body"))
    primed.assert_unchanged()


def test_batch_at_the_ops_limit_is_accepted(device: Device) -> None:
    """A batch of exactly the default maximum number of ops applies."""
    cart = device.apply(*[add_item(CUP)] * DEFAULT_MAX_OPS)
    assert line_for(cart, CUP)["qty"] == DEFAULT_MAX_OPS


def test_quantity_at_the_limit_is_accepted(device: Device) -> None:
    """A line may hold exactly the default per-line maximum."""
    assert line_for(device.add(CUP, DEFAULT_MAX_QTY), CUP)["qty"] == DEFAULT_MAX_QTY


def test_refused_batch_with_idempotency_key_changes_nothing(primed: Primed) -> None:
    """A refused batch sent with an Idempotency-Key leaves cart and log as they were, as without one."""
    response = send(primed.device, {"ops": [add_item("NO-SUCH-SKU")]}, idempotency_key="bad-batch-1")
    assert_problem(response, 422, "unknown_sku")
    primed.assert_unchanged()


@pytest.mark.parametrize("key", [pytest.param("", id="empty"), pytest.param("k" * 5000, id="too-long")])
def test_invalid_idempotency_key_is_refused(primed: Primed, key: str) -> None:
    """An empty or overlong Idempotency-Key gets a 4xx invalid_idempotency_key and changes nothing."""
    response = send(primed.device, {"ops": [add_item(CUP)]}, headers={"Idempotency-Key": key})
    assert_problem(response, ANY_4XX, "invalid_idempotency_key")
    primed.assert_unchanged()


def test_body_over_limit_is_refused(primed: Primed, server: ServerProcess) -> None:
    """A complete body over the default 256 KiB gets 413 payload_too_large and changes nothing."""
    body = json.dumps({"ops": [add_item(CUP)], "pad": "x" * (DEFAULT_MAX_BODY + 1024)}).encode()
    response = post_raw(server, primed.device, content_length=len(body), parts=[body])
    assert response.status == 413, response
    assert response.headers["content-type"].startswith("application/problem+json"), response
    assert response.json()["code"] == "payload_too_large", response
    primed.assert_unchanged()


def test_oversize_session_request_is_refused(server: ServerProcess) -> None:
    """The body limit holds on every route: a 300 KiB POST /v1/sessions gets 413 payload_too_large."""
    body = {"channel": "web", "device": "x", "customer_token": "t" * (DEFAULT_MAX_BODY + 1024)}
    head = [
        "POST /v1/sessions HTTP/1.1",
        f"Host: {HOST}:{server.port}",
        "Content-Type: application/json",
    ]
    content = json.dumps(body).encode()
    response = send_partial_request(HOST, server.port, [*head, f"Content-Length: {len(content)}"], [content], 15)
    assert response.status == 413, response
    assert response.json()["code"] == "payload_too_large", response


def test_announced_oversize_body_is_refused_before_reading_it(primed: Primed, server: ServerProcess) -> None:
    """A Content-Length over the limit gets 413 at once, while most of the body was never sent."""
    response = post_raw(server, primed.device, content_length=10 * 1024 * 1024, parts=[b'{"ops": ['])
    assert response.status == 413, response
    assert response.json()["code"] == "payload_too_large", response
    primed.assert_unchanged()


def test_chunked_oversize_body_is_refused_before_its_end(primed: Primed, server: ServerProcess) -> None:
    """A chunked body that grows past the limit gets 413 without the server waiting for its last chunk."""
    chunk = b"x" * 16384
    parts = [b'{"ops": [], "pad": "'] + [chunk] * (DEFAULT_MAX_BODY // len(chunk) + 4)
    response = post_raw(server, primed.device, content_length=None, parts=parts)
    assert response.status == 413, response
    assert response.json()["code"] == "payload_too_large", response
    primed.assert_unchanged()


def post_raw(server: ServerProcess, device: Device, content_length: int | None, parts: list[bytes]) -> RawResponse:
    """POST /v1/cart/ops over a bare socket, with the body never completed (no last chunk when chunked)."""
    head = [
        "POST /v1/cart/ops HTTP/1.1",
        f"Host: {HOST}:{server.port}",
        f"Authorization: Bearer {device.session_token}",
        "Content-Type: application/json",
    ]
    if content_length is None:
        head.append("Transfer-Encoding: chunked")
        parts = [b"%x\r\n%s\r\n" % (len(part), part) for part in parts]
    else:
        head.append(f"Content-Length: {content_length}")
    return send_partial_request(HOST, server.port, head, parts, timeout=15)


def test_unknown_route_is_a_problem(device: Device) -> None:
    """An unknown path gets 404 not_found as problem+json."""
    assert_problem(device.client.get("/v1/no-such-route"), 404, "not_found")


def test_wrong_method_is_a_problem(device: Device) -> None:
    """A known path with a wrong method gets 405 method_not_allowed as problem+json."""
    assert_problem(device.client.put("/v1/cart", json={}), 405, "method_not_allowed")


LIMITS = {
    "OMNICART_MAX_LINES_PER_CART": "3",
    "OMNICART_MAX_QTY_PER_LINE": "5",
    "OMNICART_MAX_OPS_PER_BATCH": "4",
    "OMNICART_MAX_BODY_BYTES": "4096",
}


@pytest.fixture(scope="module")
def limited_server(
    databases: Databases, catalog_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server with small limits set through OMNICART_* variables."""
    server = ServerProcess(
        databases.new(), tmp_path_factory.mktemp("logs") / "limited.log", env=LIMITS, catalog=catalog_file
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def limited(limited_server: ServerProcess, open_device: OpenDevice) -> Primed:
    return prime(open_device(limited_server))


def test_line_over_the_cart_limit_is_refused(limited: Primed) -> None:
    """Adding a SKU to a cart already at max lines gets 422 too_many_lines and changes nothing."""
    cart = limited.device.apply(add_item(SKUS[0]), add_item(SKUS[1]))
    assert len(cart["lines"]) == 3
    before = Primed(limited.device, cart, limited.device.head())
    response = send(limited.device, {"ops": [add_item(SKUS[3])]})
    assert_problem(response, 422, "too_many_lines")
    before.assert_unchanged()


def test_existing_sku_may_grow_at_the_line_limit(limited: Primed) -> None:
    """At the line limit, adding more of a SKU already in the cart is still accepted."""
    limited.device.apply(add_item(SKUS[0]), add_item(SKUS[1]))
    assert line_for(limited.device.add(SKUS[0], 1), SKUS[0])["qty"] == 2


def test_configured_quantity_limit_applies(limited: Primed) -> None:
    """OMNICART_MAX_QTY_PER_LINE bounds a line: one above gets 422 invalid_quantity."""
    response = send(limited.device, {"ops": [add_item(CUP, 6)]})
    assert_problem(response, 422, "invalid_quantity")
    limited.assert_unchanged()


def test_configured_ops_limit_applies(limited: Primed) -> None:
    """OMNICART_MAX_OPS_PER_BATCH bounds a batch: one more op gets 422 too_many_ops."""
    response = send(limited.device, {"ops": [add_item(CUP)] * 5})
    assert_problem(response, 422, "too_many_ops")
    limited.assert_unchanged()


def test_configured_body_limit_applies(limited: Primed) -> None:
    """OMNICART_MAX_BODY_BYTES bounds a body: a larger one gets 413 payload_too_large."""
    response = send(limited.device, {"ops": [add_item(CUP)], "pad": "x" * 5000})
    assert_problem(response, 413, "payload_too_large")
    limited.assert_unchanged()
