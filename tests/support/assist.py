"""Call-center assist as tests use it: the shopper's PIN, and an agent app picking customers up with its API key."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import httpx

from tests.support.devices import REQUEST_TIMEOUT, Device, bearer, describe

if TYPE_CHECKING:
    from tests.support.live import LiveStream

JSON = dict[str, Any]
AGENT_CHANNEL = "call_center"
"""The channel every agent session is opened on."""


def new_agent_id() -> str:
    """An agent id no other test uses, so per-agent rate limits never leak between tests."""
    return f"agent-{uuid.uuid4().hex[:10]}"


def offer_assist(shopper: Device) -> JSON:
    """POST /v1/assist from the shopper's device, which must answer 201; return the AssistOffer."""
    response = shopper.client.post("/v1/assist")
    assert response.status_code == 201, describe(response)
    offered: JSON = response.json()
    return offered


def set_price(line_id: str, unit_price: int, reason: str) -> JSON:
    return {"op": "set_price", "line_id": line_id, "unit_price": unit_price, "reason": reason}


def ask_refresh(stream: LiveStream) -> None:
    """Send a `refresh` frame on an open stream: the one frame a client sends after hello (LiveStream only reads)."""
    stream._socket.send(json.dumps({"type": "refresh"}))


class AgentApp:
    """The contact center's app: its API key, and the agent sessions it opened (closed with it)."""

    def __init__(self, base_url: str, key: str) -> None:
        self.base_url = base_url
        self.client = httpx.Client(base_url=base_url, headers=bearer(key), timeout=REQUEST_TIMEOUT)
        self._opened: list[Device] = []

    def post_pickup(
        self,
        agent_id: str,
        *,
        pin: str | None = None,
        kind: str | None = None,
        value: str | None = None,
        device: str = "console",
    ) -> httpx.Response:
        """POST /v1/agent/sessions with whichever of pin, kind and value are given; return the raw response."""
        body: JSON = {"agent_id": agent_id, "device": device}
        for name, given in (("pin", pin), ("kind", kind), ("value", value)):
            if given is not None:
                body[name] = given
        return self.client.post("/v1/agent/sessions", json=body)

    def pick_up(self, agent_id: str, pin: str, device: str = "console") -> Device:
        """Redeem the shopper's PIN, which must answer 201; the agent's session as a Device (no customer token)."""
        return self.device_of(self.post_pickup(agent_id, pin=pin, device=device), device)

    def device_of(self, response: httpx.Response, device: str = "console") -> Device:
        """The agent's Device from a 201 AgentSession answer; closed with the app."""
        assert response.status_code == 201, describe(response)
        created: JSON = response.json()
        agent = Device(
            base_url=self.base_url,
            channel=AGENT_CHANNEL,
            device=device,
            customer_id=created["customer_id"],
            customer_token="",  # an agent never gets one: it cannot resume the customer on its own
            session_id=created["session_id"],
            session_token=created["session_token"],
            expires_at=created["expires_at"],
            client=httpx.Client(
                base_url=self.base_url, headers=bearer(created["session_token"]), timeout=REQUEST_TIMEOUT
            ),
        )
        self._opened.append(agent)
        return agent

    def close(self) -> None:
        for agent in self._opened:
            agent.close()
        self.client.close()

    def __enter__(self) -> AgentApp:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
