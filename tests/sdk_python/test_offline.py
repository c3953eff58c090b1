"""OfflineCart: a till keeps selling while the server is down, and its queue drains exactly once when it is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from omnicart import AuthError, Client, FileTokenStore, OfflineCart, OfflineQueue
from tests.support.catalog import SKUS
from tests.support.server import ServerProcess, StartServer


@pytest.fixture
def till_files(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "till.json", tmp_path / "queue.db"


@pytest.fixture
def crashable(start_server: StartServer) -> Iterator[ServerProcess]:
    server = start_server()
    yield server
    server.stop()


def quantities(lines: list[object]) -> dict[str, int]:
    return {line.sku: line.qty for line in lines}  # type: ignore[attr-defined]


def test_writes_made_offline_survive_a_restart_and_drain_once(
    crashable: ServerProcess, till_files: tuple[Path, Path]
) -> None:
    """Writes queued while the server is down survive an app restart, then apply once each when it is back."""
    store, queue_file = till_files
    till = Client.start(crashable.url, channel="pos", device="till-1", store=FileTokenStore(store), max_retries=0)
    queue, reopened = OfflineQueue(queue_file), OfflineQueue(queue_file)
    with till, closing(queue), closing(reopened):
        _offline_then_back(crashable, till, OfflineCart(till, queue), OfflineCart(till, reopened))


def _offline_then_back(crashable: ServerProcess, till: Client, cart: OfflineCart, restarted_app: OfflineCart) -> None:
    cart.refresh()
    assert cart.add(SKUS[0], 1).pending == []

    crashable.kill9()
    cart.add(SKUS[1], 2)
    offline = cart.add(SKUS[0], 1)
    assert len(offline.pending) == 2
    assert quantities(offline.cart.lines) == {SKUS[0]: 2, SKUS[1]: 2}

    # The till process restarts: a new queue object on the same file still holds both writes.
    assert len(restarted_app.view().pending) == 2
    crashable.start()
    assert restarted_app.sync() == 2
    assert restarted_app.sync() == 0
    server_cart = till.cart.get()
    assert quantities(server_cart.lines) == {SKUS[0]: 2, SKUS[1]: 2}
    assert quantities(restarted_app.view().cart.lines) == quantities(server_cart.lines)
    assert restarted_app.view().pending == []


def test_a_refused_write_is_reported_and_does_not_block_the_queue(
    crashable: ServerProcess, till_files: tuple[Path, Path]
) -> None:
    """A queued write the server refuses is dropped and reported; the writes after it still apply."""
    store, queue_file = till_files
    till = Client.start(crashable.url, channel="pos", device="till-2", store=FileTokenStore(store), max_retries=0)
    queue = OfflineQueue(queue_file)
    with till, closing(queue):
        cart = OfflineCart(till, queue)
        cart.refresh()
        crashable.kill9()
        cart.add("NOT-IN-THE-CATALOG", 1)
        cart.add(SKUS[2], 3)
        crashable.start()
        assert cart.sync() == 2
        assert [rejection.code for rejection in cart.rejected] == ["unknown_sku"]
        assert quantities(till.cart.get().lines) == {SKUS[2]: 3}


def test_a_till_whose_token_expired_offline_still_delivers_its_sales(
    start_server: StartServer, till_files: tuple[Path, Path]
) -> None:
    """Back online after its session token expired, the till renews it through the customer token; nothing is lost."""
    server = start_server(env={"OMNICART_SESSION_TTL_SECONDS": "1"})
    store, queue_file = till_files
    till = Client.start(server.url, channel="pos", device="till-1", store=FileTokenStore(store), max_retries=0)
    with till, closing(OfflineQueue(queue_file)) as queue:
        cart = OfflineCart(till, queue)
        cart.refresh()
        first_session = till.session_id
        server.stop()
        cart.add(SKUS[2], 3)
        time.sleep(1.5)  # the session token expires while the till is offline
        server.start()
        assert cart.sync() == 1
        assert cart.rejected == []
        assert quantities(till.cart.get().lines) == {SKUS[2]: 3}
        assert till.session_id != first_session
        assert FileTokenStore(store).load().session_id == till.session_id, "the renewed session is kept"


def test_a_revoked_till_keeps_its_pending_sales(server: ServerProcess, till_files: tuple[Path, Path]) -> None:
    """A session revoked from another device makes sync raise AuthError; the sale stays pending, not refused."""
    store, queue_file = till_files
    till = Client.start(server.url, channel="pos", device="till-1", store=FileTokenStore(store), max_retries=0)
    manager = Client.start(server.url, channel="web", device="manager", customer_token=till.credentials.customer_token)
    with till, manager, closing(OfflineQueue(queue_file)) as queue:
        cart = OfflineCart(till, queue)
        cart.refresh()
        assert till.session_id is not None
        manager.sessions.revoke(till.session_id)
        with pytest.raises(AuthError):
            cart.add(SKUS[0], 1)
        assert len(cart.view().pending) == 1 and cart.rejected == []


def test_rebase_on_a_newer_cart_shows_pending_writes_on_top_of_other_devices(
    crashable: ServerProcess, till_files: tuple[Path, Path]
) -> None:
    """A till given the live stream's newer cart shows its offline sale next to what the phone added."""
    store, queue_file = till_files
    till = Client.start(crashable.url, channel="pos", device="till-1", store=FileTokenStore(store), max_retries=0)
    phone = Client.start(
        crashable.url, channel="mobile", device="phone", customer_token=till.credentials.customer_token
    )
    with till, phone, closing(OfflineQueue(queue_file)) as queue:
        cart = OfflineCart(till, queue)
        cart.refresh()
        older = till.cart.get()
        newer = phone.cart.add(SKUS[1], 1)  # what the till's live stream would bring
        cart.rebase(newer)
        cart.rebase(older)  # never back to an older cart
        crashable.kill9()
        offline = cart.add(SKUS[3], 2)
        assert quantities(offline.cart.lines) == {SKUS[1]: 1, SKUS[3]: 2}
        assert offline.cart.version == newer.version and len(offline.pending) == 1
