"""Handoff as tests use it: offer a code from a device, claim it from a new device at its own client address."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.support.clients import http_client
from tests.support.devices import Device, describe
from tests.support.session_created import device_from

JSON = dict[str, Any]


def new_address() -> str:
    """A loopback address of its own (all of 127.0.0.0/8 reaches the server), so claims count as one new client."""
    return f"127.{secrets.randbelow(254) + 1}.{secrets.randbelow(254) + 1}.{secrets.randbelow(254) + 1}"


def code_in_url(url: str) -> str:
    """The code a scanning phone reads from an offer's URL fragment (`#code=…`)."""
    (code,) = parse_qs(urlsplit(url).fragment)["code"]
    return code


def offer(device: Device) -> JSON:
    """POST /v1/handoff from the device, which must answer 201; return the HandoffOffer."""
    response = device.client.post("/v1/handoff")
    assert response.status_code == 201, describe(response)
    offered: JSON = response.json()
    return offered


class Claimer:
    """A new device (a phone, a kiosk) claiming codes from one client address of its own."""

    def __init__(self, base_url: str, address: str | None = None) -> None:
        self.address = address or new_address()
        self._client = http_client(base_url, local_address=self.address)
        self._devices: list[Device] = []

    def post_claim(self, code: str, channel: str = "mobile", device: str = "phone") -> httpx.Response:
        """POST /v1/handoff/claim and return the raw response."""
        return self.post_body({"code": code, "channel": channel, "device": device})

    def post_body(self, body: object) -> httpx.Response:
        """POST /v1/handoff/claim with any JSON body and return the raw response."""
        return self._client.post("/v1/handoff/claim", json=body)

    def claim(self, code: str, channel: str = "mobile", device: str = "phone") -> Device:
        """Claim the code, which must answer 201; the new device is closed with the claimer."""
        claimed = device_from(self.post_claim(code, channel, device), channel, device)
        self._devices.append(claimed)
        return claimed

    def close(self) -> None:
        for device in self._devices:
            device.close()
        self._client.close()

    def __enter__(self) -> Claimer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
