"""Devices of a customer as tests use them: an httpx client carrying one session's bearer token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import httpx

if TYPE_CHECKING:
    from tests.support.server import ServerProcess

JSON = dict[str, Any]
REQUEST_TIMEOUT = 30.0


def describe(response: httpx.Response) -> str:
    """`METHOD host:port/path -> status body` for failure messages: which of a test's servers answered, too."""
    url = response.request.url
    return f"{response.request.method} {url.host}:{url.port}{url.path} -> {response.status_code} {response.text[:2000]}"


def open_session(
    base_url: str, channel: str = "web", device: str = "test-device", customer_token: str | None = None
) -> httpx.Response:
    """POST /v1/sessions and return the raw response."""
    body: JSON = {"channel": channel, "device": device}
    if customer_token is not None:
        body["customer_token"] = customer_token
    return httpx.post(f"{base_url}/v1/sessions", json=body, timeout=REQUEST_TIMEOUT)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Device:
    """One device session of a customer, with a client that sends its session token."""

    base_url: str
    channel: str
    device: str
    customer_id: str
    customer_token: str
    session_id: str
    session_token: str
    expires_at: str
    client: httpx.Client = field(repr=False)

    def cart(self) -> JSON:
        """GET /v1/cart, which must answer 200."""
        return _ok(self.client.get("/v1/cart"))

    def post_ops(
        self,
        body: Any = None,
        *,
        content: bytes | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST /v1/cart/ops with a JSON `body` (or raw `content`) and return the raw response."""
        sent = dict(headers or {})
        if idempotency_key is not None:
            sent["Idempotency-Key"] = idempotency_key
        if content is not None:
            sent.setdefault("Content-Type", "application/json")
            return self.client.post("/v1/cart/ops", content=content, headers=sent)
        return self.client.post("/v1/cart/ops", json=body, headers=sent)

    def apply(self, *ops: JSON, expected_version: int | None = None, idempotency_key: str | None = None) -> JSON:
        """Apply a batch of ops, which must succeed, and return the new cart."""
        body: JSON = {"ops": list(ops)}
        if expected_version is not None:
            body["expected_version"] = expected_version
        return _ok(self.post_ops(body, idempotency_key=idempotency_key))

    def add(self, sku: str, qty: int = 1) -> JSON:
        return self.apply(add_item(sku, qty))

    def events_page(self, since: int = 0, limit: int | None = None) -> JSON:
        params: dict[str, int] = {"since": since}
        if limit is not None:
            params["limit"] = limit
        return _ok(self.client.get("/v1/events", params=params))

    def all_events(self, page_size: int = 100) -> list[JSON]:
        """Every event of the customer, following `has_more`."""
        events: list[JSON] = []
        since = 0
        while True:
            page = self.events_page(since, page_size)
            events += page["events"]
            if not page["has_more"]:
                return events
            assert page["events"], f"has_more without events: {page}"
            since = page["events"][-1]["seq"]

    def head(self) -> int:
        """The customer's latest event seq."""
        head: int = self.events_page(0, 1)["head"]
        return head

    def sessions(self) -> list[JSON]:
        response = self.client.get("/v1/sessions")
        data = _ok_any(response)
        # The list may come bare or wrapped in an object; both carry the same DeviceSession items.
        if isinstance(data, dict):
            items = data.get("sessions", data.get("items"))
            assert isinstance(items, list), describe(response)
            return items
        assert isinstance(data, list), describe(response)
        return data

    def async_client(self) -> httpx.AsyncClient:
        """A new async client with this device's token (the caller closes it)."""
        return httpx.AsyncClient(base_url=self.base_url, headers=bearer(self.session_token), timeout=REQUEST_TIMEOUT)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def new_device(
    server: ServerProcess | str,
    channel: str = "web",
    device: str = "test-device",
    customer_token: str | None = None,
) -> Device:
    """Open a device session (a new anonymous customer unless `customer_token` is given) and wrap it."""
    base_url = server if isinstance(server, str) else server.url
    response = open_session(base_url, channel, device, customer_token)
    assert response.status_code == 201, describe(response)
    created = response.json()
    return Device(
        base_url=base_url,
        channel=channel,
        device=device,
        **session_fields(created),
        client=httpx.Client(base_url=base_url, headers=bearer(created["session_token"]), timeout=REQUEST_TIMEOUT),
    )


def session_fields(created: JSON) -> dict[str, str]:
    """The fields of a device that come from a POST /v1/sessions answer (sync and async devices alike)."""
    names = ("customer_id", "customer_token", "session_id", "session_token", "expires_at")
    return {name: created[name] for name in names}


class OpenDevice(Protocol):
    """The `open_device` fixture: a device on the shared server unless `server` is given, closed after the test."""

    def __call__(
        self,
        server: ServerProcess | None = None,
        *,
        channel: str = "web",
        device: str = "test-device",
        customer_token: str | None = None,
    ) -> Device: ...


def add_item(sku: str, qty: int = 1) -> JSON:
    return {"op": "add_item", "sku": sku, "qty": qty}


def set_quantity(line_id: str, qty: int) -> JSON:
    return {"op": "set_quantity", "line_id": line_id, "qty": qty}


def remove_item(line_id: str) -> JSON:
    return {"op": "remove_item", "line_id": line_id}


def clear() -> JSON:
    return {"op": "clear"}


def line_for(cart: JSON, sku: str) -> JSON:
    """The cart's line for `sku`; fails when there is none or more than one."""
    lines = [line for line in cart["lines"] if line["sku"] == sku]
    assert len(lines) == 1, f"expected one line for {sku}, got {lines}"
    line: JSON = lines[0]
    return line


def _ok_any(response: httpx.Response) -> Any:
    assert 200 <= response.status_code < 300, describe(response)
    return response.json()


def _ok(response: httpx.Response) -> JSON:
    data = _ok_any(response)
    assert isinstance(data, dict), describe(response)
    return data
