"""Client credentials kept in a FileTokenStore across restarts, and retries that never apply a write twice."""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from omnicart import Client, FileTokenStore, InvalidRequestError
from omnicart.protocol.events import EventKind
from tests.support.server import ServerProcess

CART_OPS = ("POST", "/v1/cart/ops")


class RecordingTransport(httpx.HTTPTransport):
    """Forwards every request to the server and records it.

    With `lose_first_write`, the first cart write reaches the server but its response is lost (a ReadError),
    as when a connection drops after the commit.
    """

    def __init__(self, *, lose_first_write: bool = False) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []
        self._lose = lose_first_write

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = super().handle_request(request)
        if self._lose and (request.method, request.url.path) == CART_OPS:
            self._lose = False
            response.read()
            response.close()
            raise httpx.ReadError("connection dropped before the response was read", request=request)
        return response

    def cart_writes(self) -> list[httpx.Request]:
        return [request for request in self.requests if (request.method, request.url.path) == CART_OPS]


StartClient = Callable[..., Client]
"""start(**options): Client.start on the shared server as till-1 on the pos channel."""


@pytest.fixture
def start(server: ServerProcess) -> Iterator[StartClient]:
    """Start clients on the shared server; every client started is closed afterwards."""
    started: list[Client] = []

    def start_(**options: Any) -> Client:
        started.append(Client.start(server.url, channel="pos", device="till-1", **options))
        return started[-1]

    yield start_
    for client in started:
        client.close()


def test_start_twice_resumes_the_stored_session(start: StartClient, tmp_path: Path) -> None:
    """A second start with the same FileTokenStore resumes the same customer, session and cart."""
    path = tmp_path / "till.json"
    first = start(store=FileTokenStore(path))
    first.cart.add("ESP-CUP")
    second = start(store=FileTokenStore(path))
    assert (second.customer_id, second.session_id) == (first.customer_id, first.session_id)
    assert [line.sku for line in second.cart.get().lines] == ["ESP-CUP"]


def test_token_file_is_readable_only_by_its_owner(start: StartClient, tmp_path: Path) -> None:
    """The FileTokenStore file is written with mode 0600."""
    path = tmp_path / "till.json"
    start(store=FileTokenStore(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_revoked_stored_session_opens_a_new_session_for_the_same_customer(start: StartClient, tmp_path: Path) -> None:
    """When the stored session was revoked, start opens a new session for the stored customer, who keeps the cart."""
    path = tmp_path / "till.json"
    first = start(store=FileTokenStore(path))
    first.cart.add("TEA-POT")
    first.sessions.revoke(first.session_id)
    second = start(store=FileTokenStore(path))
    assert second.customer_id == first.customer_id
    assert second.session_id != first.session_id
    assert [line.sku for line in second.cart.get().lines] == ["TEA-POT"]
    assert FileTokenStore(path).load().session_id == second.session_id


def test_lost_write_response_is_retried_with_the_same_key_and_applied_once(start: StartClient) -> None:
    """A cart write whose response was lost is sent again with the same Idempotency-Key and applied once."""
    transport = RecordingTransport(lose_first_write=True)
    client = start(transport=transport)
    cart = client.cart.add("MUG-BLK", 2)
    writes = transport.cart_writes()
    assert len(writes) == 2
    assert writes[0].headers["idempotency-key"] == writes[1].headers["idempotency-key"]
    assert [(line.sku, line.qty) for line in cart.lines] == [("MUG-BLK", 2)]
    assert [(line.sku, line.qty) for line in client.cart.get().lines] == [("MUG-BLK", 2)]
    updates = [event for event in client.events().events if event.kind == EventKind.CART_UPDATED]
    assert len(updates) == 1


def test_client_errors_are_not_retried(start: StartClient) -> None:
    """A 4xx answer is raised at once: the request is sent exactly once."""
    transport = RecordingTransport()
    client = start(transport=transport)
    with pytest.raises(InvalidRequestError):
        client.cart.add("NO-SUCH-SKU")
    assert len(transport.cart_writes()) == 1
