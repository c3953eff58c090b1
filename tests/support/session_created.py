"""Devices from SessionCreated answers (open, handoff claim, open by identity), over shared HTTP clients.

`tests.support.devices.new_device` builds two httpx clients per device, and each loads the CA bundle (~30 ms of
CPU); suites that open hundreds of devices use `DeviceOpener` instead, which behaves the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.support.clients import http_client
from tests.support.devices import Device, bearer, describe

if TYPE_CHECKING:
    import httpx

    from tests.support.server import ServerProcess


def device_from(response: httpx.Response, channel: str, device: str) -> Device:
    """The device of a 201 SessionCreated answer, with a client that sends its session token (the caller closes it)."""
    assert response.status_code == 201, describe(response)
    created: dict[str, Any] = response.json()
    base_url = str(response.request.url.copy_with(path="/", query=None, fragment=None)).rstrip("/")
    return Device(
        base_url=base_url,
        channel=channel,
        device=device,
        customer_id=created["customer_id"],
        customer_token=created["customer_token"],
        session_id=created["session_id"],
        session_token=created["session_token"],
        expires_at=created["expires_at"],
        client=http_client(base_url, bearer(created["session_token"])),
    )


class DeviceOpener:
    """What the `open_device` fixture does (an `OpenDevice`), with one shared client per server."""

    def __init__(self, default_server: Callable[[], ServerProcess]) -> None:
        self._default_server = default_server
        self._clients: dict[str, httpx.Client] = {}
        self._opened: list[Device] = []

    def __call__(
        self,
        server: ServerProcess | None = None,
        *,
        channel: str = "web",
        device: str = "test-device",
        customer_token: str | None = None,
    ) -> Device:
        """Open a device session (a new anonymous customer unless `customer_token` is given); closed with the opener."""
        base_url = (server or self._default_server()).url
        if base_url not in self._clients:
            self._clients[base_url] = http_client(base_url)
        body: dict[str, Any] = {"channel": channel, "device": device}
        if customer_token is not None:
            body["customer_token"] = customer_token
        opened = device_from(self._clients[base_url].post("/v1/sessions", json=body), channel, device)
        self._opened.append(opened)
        return opened

    def close(self) -> None:
        for device in self._opened:
            device.close()
        for client in self._clients.values():
            client.close()

    def __enter__(self) -> DeviceOpener:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
