"""Devices for async tests: `tests.support.devices.Device` over httpx.AsyncClient.

HTTP calls then never block the event loop that reads the test's stream connections.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from tests.support.devices import JSON, REQUEST_TIMEOUT, add_item, bearer, describe, session_fields


@dataclass
class AsyncDevice:
    """One device session of a customer, over an httpx.AsyncClient that sends its session token."""

    base_url: str
    channel: str
    device: str
    customer_id: str
    customer_token: str
    session_id: str
    session_token: str
    expires_at: str
    client: httpx.AsyncClient = field(repr=False)

    async def apply(self, *ops: JSON) -> JSON:
        """Apply a batch of ops, which must succeed, and return the new cart."""
        return _ok(await self.client.post("/v1/cart/ops", json={"ops": list(ops)}))

    async def add(self, sku: str, qty: int = 1) -> JSON:
        return await self.apply(add_item(sku, qty))

    async def cart(self) -> JSON:
        return _ok(await self.client.get("/v1/cart"))

    async def events(self) -> list[JSON]:
        """The customer's whole log over HTTP, following `has_more`."""
        found: list[JSON] = []
        since = 0
        while True:
            page = _ok(await self.client.get("/v1/events", params={"since": since, "limit": 500}))
            found += page["events"]
            if not page["has_more"]:
                return found
            since = page["events"][-1]["seq"]

    async def head(self) -> int:
        head: int = _ok(await self.client.get("/v1/events", params={"since": 0, "limit": 1}))["head"]
        return head

    async def sessions(self) -> dict[str, JSON]:
        """The customer's sessions by id (GET /v1/sessions)."""
        response = await self.client.get("/v1/sessions")
        assert response.status_code == 200, describe(response)
        return {session["session_id"]: session for session in response.json()}

    async def revoke(self, session_id: str) -> None:
        response = await self.client.delete(f"/v1/sessions/{session_id}")
        assert response.status_code == 204, describe(response)


async def open_async_device(
    base_url: str, channel: str = "web", device: str = "test-device", customer_token: str | None = None
) -> AsyncDevice:
    """Open a device session (a new anonymous customer unless `customer_token` is given)."""
    body: JSON = {"channel": channel, "device": device}
    if customer_token is not None:
        body["customer_token"] = customer_token
    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT) as anonymous:
        response = await anonymous.post("/v1/sessions", json=body)
    assert response.status_code == 201, describe(response)
    created = response.json()
    return AsyncDevice(
        base_url=base_url,
        channel=channel,
        device=device,
        **session_fields(created),
        client=httpx.AsyncClient(base_url=base_url, headers=bearer(created["session_token"]), timeout=REQUEST_TIMEOUT),
    )


def _ok(response: httpx.Response) -> JSON:
    assert 200 <= response.status_code < 300, describe(response)
    body = response.json()
    assert isinstance(body, dict), describe(response)
    return body
