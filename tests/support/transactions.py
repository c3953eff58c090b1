"""Resumable transactions as tests use them: start, step, take over, and the payment backend's confirmation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from tests.support.devices import REQUEST_TIMEOUT, Device, bearer, describe

JSON = dict[str, Any]
CHECKOUT_DETAILS: JSON = {"contact": "ana@example.com", "fulfilment": "pickup"}
"""The fields the default checkout requires before `details`."""
BOOKING_DETAILS: JSON = {"service": "espresso-masterclass", "slot": "2030-05-04T10:00:00Z"}
"""The fields the default booking requires before `details`."""


def post_start(device: Device, kind: str, data: JSON | None = None) -> httpx.Response:
    """POST /v1/transactions and return the raw response."""
    return device.client.post("/v1/transactions", json={"kind": kind, "data": data or {}})


def start(device: Device, kind: str, data: JSON | None = None) -> JSON:
    """Start a transaction, which must answer 201; return it."""
    return _expect(post_start(device, kind, data), 201)


def post_step(
    device: Device,
    transaction_id: str,
    *,
    to: str | None = None,
    data: JSON | None = None,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
) -> httpx.Response:
    """POST /v1/transactions/{id}/step with what is given; return the raw response."""
    body: JSON = {}
    if to is not None:
        body["to"] = to
    if data is not None:
        body["data"] = data
    if expected_version is not None:
        body["expected_version"] = expected_version
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else {}
    return device.client.post(f"/v1/transactions/{transaction_id}/step", json=body, headers=headers)


def step(device: Device, transaction_id: str, *, to: str | None = None, data: JSON | None = None) -> JSON:
    """Step the transaction, which must answer 200; return it."""
    return _expect(post_step(device, transaction_id, to=to, data=data), 200)


def take_over(device: Device, transaction_id: str) -> JSON:
    """POST /v1/transactions/{id}/takeover, which must answer 200; return the transaction."""
    return _expect(device.client.post(f"/v1/transactions/{transaction_id}/takeover"), 200)


def get(device: Device, transaction_id: str) -> JSON:
    """GET /v1/transactions/{id}, which must answer 200."""
    return _expect(device.client.get(f"/v1/transactions/{transaction_id}"), 200)


def listed(device: Device) -> list[JSON]:
    """GET /v1/transactions, newest first."""
    items: list[JSON] = _expect(device.client.get("/v1/transactions"), 200)["transactions"]
    return items


def ready_to_pay(device: Device) -> JSON:
    """A checkout of the device's cart started, given its details and moved to payment_pending; return it."""
    checkout = start(device, "checkout")
    step(device, checkout["transaction_id"], to="details", data=CHECKOUT_DETAILS)
    return step(device, checkout["transaction_id"], to="payment_pending")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class PaymentBackend:
    """The payment provider's webhook handler, confirming checkouts with its API key (scope `payments`)."""

    def __init__(self, base_url: str, key: str) -> None:
        self.client = httpx.Client(base_url=base_url, headers=bearer(key), timeout=REQUEST_TIMEOUT)
        self.async_headers = bearer(key)
        """Headers for an httpx.AsyncClient of the caller's, to send confirmations concurrently."""

    def post_payment(self, transaction_id: str, status: str, reference: str) -> httpx.Response:
        """POST /v1/transactions/{id}/payment and return the raw response."""
        body = {"status": status, "reference": reference}
        return self.client.post(f"/v1/transactions/{transaction_id}/payment", json=body)

    def confirm(self, transaction_id: str, reference: str = "psp-ok-1") -> JSON:
        """Report a successful payment, which must answer 200; return the transaction."""
        return _expect(self.post_payment(transaction_id, "succeeded", reference), 200)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> PaymentBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _expect(response: httpx.Response, status: int) -> JSON:
    assert response.status_code == status, describe(response)
    body: JSON = response.json()
    return body
