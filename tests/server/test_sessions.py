"""Device sessions: a new anonymous customer, resuming a customer elsewhere, listing and revoking devices."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from websockets.sync.client import connect

from tests.support.catalog import SKUS
from tests.support.devices import Device, OpenDevice, describe, line_for, open_session
from tests.support.problems import assert_problem
from tests.support.server import ServerProcess
from tests.support.tokens import tamper


def test_create_session_returns_customer_and_session_tokens(server: ServerProcess) -> None:
    """POST /v1/sessions answers 201 with both tokens, both ids and a future expiry."""
    response = open_session(server.url, "web", "laptop")
    assert response.status_code == 201, describe(response)
    body = response.json()
    for name in ("customer_id", "customer_token", "session_id", "session_token", "expires_at"):
        assert isinstance(body.get(name), str) and body[name], f"{name} missing: {body}"
    assert body["customer_token"] != body["session_token"]
    expires_at = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert expires_at.tzinfo is not None, body["expires_at"]
    assert expires_at > datetime.now(UTC)


def test_session_without_customer_token_makes_new_customer(open_device: OpenDevice) -> None:
    """Two sessions opened without a customer token belong to two different customers."""
    first, second = open_device(), open_device()
    assert first.customer_id != second.customer_id
    assert first.session_id != second.session_id


def test_customer_token_resumes_same_customer(device: Device, open_device: OpenDevice) -> None:
    """A session opened with the customer token is a new device of the same customer."""
    phone = open_device(channel="mobile", device="phone", customer_token=device.customer_token)
    assert phone.customer_id == device.customer_id
    assert phone.session_id != device.session_id
    assert phone.session_token != device.session_token


def test_resumed_device_sees_the_same_cart(device: Device, open_device: OpenDevice) -> None:
    """A cart filled on one channel is the cart of the customer's device on another channel."""
    device.add(SKUS[0], 2)
    kiosk = open_device(channel="kiosk", device="kiosk-7", customer_token=device.customer_token)
    cart = kiosk.cart()
    assert cart == device.cart()
    assert line_for(cart, SKUS[0])["qty"] == 2


def test_sessions_lists_every_device_of_the_customer(device: Device, open_device: OpenDevice) -> None:
    """GET /v1/sessions lists each of the customer's devices with channel, device label and times."""
    pos = open_device(channel="pos", device="till-3", customer_token=device.customer_token)
    sessions = {item["session_id"]: item for item in device.sessions()}
    assert set(sessions) == {device.session_id, pos.session_id}
    assert (sessions[pos.session_id]["channel"], sessions[pos.session_id]["device"]) == ("pos", "till-3")
    assert (sessions[device.session_id]["channel"], sessions[device.session_id]["device"]) == ("web", "test-device")
    for item in sessions.values():
        for name in ("created_at", "last_seen", "online"):
            assert name in item, item


def test_sessions_list_hides_other_customers(device: Device, open_device: OpenDevice) -> None:
    """A customer's session list never shows another customer's devices."""
    stranger = open_device()
    assert stranger.session_id not in {item["session_id"] for item in device.sessions()}


def test_online_means_connected_to_the_live_stream(device: Device) -> None:
    """A device is offline until its live stream connects, and online while it is connected."""

    def listed() -> dict[str, object]:
        (mine,) = [item for item in device.sessions() if item["session_id"] == device.session_id]
        return mine

    assert listed()["online"] is False
    with connect(device.base_url.replace("http", "ws", 1) + "/v1/stream") as stream:
        stream.send(json.dumps({"type": "hello", "token": device.session_token, "since": 0}))
        assert json.loads(stream.recv(timeout=10))["type"] == "welcome"
        assert listed()["online"] is True


@pytest.mark.parametrize("channel", ["call_center", "whatsapp", "smart_tv_2"])
def test_any_lowercase_channel_is_accepted(server: ServerProcess, channel: str) -> None:
    """Channels beyond the known ones are accepted when lowercase letters, digits and underscores."""
    response = open_session(server.url, channel, "some device")
    assert response.status_code == 201, describe(response)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"channel": "Web!", "device": "x"}, id="bad-channel"),
        pytest.param({"channel": "web", "device": ""}, id="empty-device"),
        pytest.param({"channel": "web", "device": "d" * 101}, id="device-too-long"),
        pytest.param({"channel": "w" * 33, "device": "x"}, id="channel-too-long"),
        pytest.param({"channel": "web", "device": "x", "customer_token": ["t"]}, id="token-not-a-string"),
        pytest.param({"channel": "web"}, id="missing-device"),
        pytest.param({"channel": "web", "device": "x", "admin": True}, id="unknown-field"),
        pytest.param({"channel": 7, "device": "x"}, id="wrong-type"),
    ],
)
def test_invalid_session_request_is_refused(server: ServerProcess, body: dict[str, object]) -> None:
    """A malformed session request gets 422 invalid_body."""
    response = httpx.post(f"{server.url}/v1/sessions", json=body)
    assert_problem(response, 422, "invalid_body")


def test_tampered_customer_token_is_refused(server: ServerProcess, device: Device) -> None:
    """Resuming with an altered customer token gets 401 token_invalid, not a new or foreign customer."""
    response = open_session(server.url, "web", "x", customer_token=tamper(device.customer_token))
    assert_problem(response, 401, "token_invalid")


def test_session_token_is_not_a_customer_token(server: ServerProcess, device: Device) -> None:
    """A session token handed on as a customer token is refused with 401 token_invalid."""
    response = open_session(server.url, "web", "x", customer_token=device.session_token)
    assert_problem(response, 401, "token_invalid")


def test_revoking_a_session_answers_204(device: Device, open_device: OpenDevice) -> None:
    """DELETE /v1/sessions/{id} of one of the customer's devices answers 204 with no body."""
    other = open_device(customer_token=device.customer_token)
    response = device.client.delete(f"/v1/sessions/{other.session_id}")
    assert response.status_code == 204, describe(response)
    assert response.content == b""


def test_revoking_another_customers_session_is_not_found(device: Device, open_device: OpenDevice) -> None:
    """DELETE of another customer's session answers 404 and leaves that session working."""
    stranger = open_device()
    response = device.client.delete(f"/v1/sessions/{stranger.session_id}")
    assert_problem(response, 404, "not_found")
    assert stranger.client.get("/v1/cart").status_code == 200


def test_revoking_an_unknown_session_is_not_found(device: Device) -> None:
    """DELETE of a well-formed session id that does not exist answers 404 not_found."""
    unknown = device.session_id[:-1] + ("0" if device.session_id[-1] != "0" else "1")
    assert_problem(device.client.delete(f"/v1/sessions/{unknown}"), 404, "not_found")


def test_sessions_need_a_bearer_token(server: ServerProcess) -> None:
    """GET /v1/sessions without a token answers 401 token_missing."""
    assert_problem(httpx.get(f"{server.url}/v1/sessions"), 401, "token_missing")
