"""A session still trusted from the session cache after its anonymous customer was purged gets 401, never a 500.

The server keeps a valid session's verdict for OMNICART_SESSION_CACHE_SECONDS; here that is ten minutes, so the
device below is still trusted when the purge job (every 0.3 s, after 1 s without activity) deletes its customer.
The log and the writes must then say that this session's token no longer leads anywhere, with the token_invalid
a cache miss would give; the cart read answers 404, no active cart, as the test below waits for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from omnicart.protocol.problems import CloseCode
from tests.support.catalog import SKUS
from tests.support.devices import Device, add_item, new_device
from tests.support.live import FRAME_TIMEOUT
from tests.support.problems import assert_problem
from tests.support.server import StartServer
from tests.support.wait import wait_for

PURGE_WITH_LONG_CACHE = {
    "OMNICART_JOBS_INTERVAL_SECONDS": "0.3",
    "OMNICART_ANONYMOUS_PURGE_AFTER_SECONDS": "1",
    "OMNICART_SESSION_CACHE_SECONDS": "600",
}
PURGE_TIMEOUT = 20.0


@pytest.fixture
def purged(start_server: StartServer) -> Iterator[Device]:
    """A device whose session is in the cache and whose customer has just been purged."""
    device = new_device(start_server(env=PURGE_WITH_LONG_CACHE))
    try:
        assert device.client.get("/v1/events").status_code == 200  # the session is now in the cache
        # With the customer's rows gone, its active cart is gone too: the first sign the purge ran.
        wait_for(
            lambda: device.client.get("/v1/cart").status_code == 404,
            PURGE_TIMEOUT,
            interval=0.1,
            message="the customer purged",
        )
        yield device
    finally:
        device.client.close()


def test_reading_events_answers_token_invalid(purged: Device) -> None:
    """GET /v1/events: 401 token_invalid, telling the device to open a new session."""
    problem = assert_problem(purged.client.get("/v1/events"), 401, "token_invalid")
    assert "no longer exists" in problem["detail"]  # not the answer of a session read again: this one was cached


def test_a_cart_write_answers_token_invalid(purged: Device) -> None:
    """POST /v1/cart/ops: 401 token_invalid, and nothing is written."""
    response = purged.client.post("/v1/cart/ops", json={"ops": [add_item(SKUS[0])]})
    assert_problem(response, 401, "token_invalid")


def test_the_stream_closes_with_token_rejected(purged: Device) -> None:
    """A hello on /v1/stream is closed with 4401 and the reason token_invalid, after no frame."""
    with connect(purged.base_url.replace("http", "ws", 1) + "/v1/stream", open_timeout=FRAME_TIMEOUT) as socket:
        socket.send(json.dumps({"type": "hello", "token": purged.session_token, "since": 0}))
        with pytest.raises(ConnectionClosed):
            frame = socket.recv(timeout=FRAME_TIMEOUT)
            pytest.fail(f"expected the stream to close, got {frame}")
        assert socket.close_code == CloseCode.TOKEN_REJECTED
        assert socket.close_reason == "token_invalid"
