"""client.live(): a local copy that converges across devices and survives a server restart; LiveState alone."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from omnicart import AsyncClient, Change, Client, ConnectionState, LiveConnection, LiveState
from omnicart.live import GapDetected
from omnicart.protocol.cart import Cart, CartLine
from omnicart.protocol.events import Event, EventKind
from omnicart.protocol.stream import Snapshot
from tests.support.server import ServerProcess, StartServer

CONVERGE_TIMEOUT = 10.0
"""Seconds a live copy gets to show a change committed on the server."""
RECONNECT_TIMEOUT = 30.0
"""Seconds a live connection gets to notice a dead server, or to come back once it is up (backoff included)."""

TOKEN_TTL = 2
"""Seconds a session token lives on the server of the refresh test: a kiosk outlives several."""

OpenClient = Callable[..., Awaitable[AsyncClient]]


class Watcher:
    """Reads a live connection's changes with deadlines, keeping every change it read in `seen`."""

    def __init__(self, live: LiveConnection) -> None:
        self.live = live
        self.seen: list[Change] = []

    async def until(self, predicate: Callable[[], Any], timeout: float = CONVERGE_TIMEOUT, what: str = "") -> None:
        """Read changes until `predicate()` holds (checked before the first and after every change)."""
        try:
            async with asyncio.timeout(timeout):
                if predicate():
                    return
                async with contextlib.aclosing(self.live.changes()) as changes:
                    async for change in changes:
                        self.seen.append(change)
                        if predicate():
                            return
        except TimeoutError:
            raise AssertionError(f"not {what or 'reached'} within {timeout}s; state {self.live.connection}") from None
        raise AssertionError(f"the live stream stopped before {what or 'the condition held'}")

    async def until_state(self, state: ConnectionState, timeout: float = RECONNECT_TIMEOUT) -> None:
        """Read changes until the connection has moved to `state` (at or after the changes already read)."""
        start = len(self.seen)
        await self.until(
            lambda: any(change.state is state for change in self.seen[start:]), timeout, f"{state.value} again"
        )

    def event_seqs(self) -> list[int]:
        return [change.event.seq for change in self.seen if change.event is not None]


def line_quantities(cart: Cart | None) -> list[tuple[str, int]]:
    return [] if cart is None else sorted((line.sku, line.qty) for line in cart.lines)


@pytest.fixture
async def open_client() -> AsyncIterator[Callable[..., Awaitable[AsyncClient]]]:
    """Start AsyncClients (open_client(server, channel=..., customer_token=...)); all are closed afterwards."""
    started: list[AsyncClient] = []
    devices = itertools.count(1)

    async def open_(server: ServerProcess, *, channel: str = "web", customer_token: str | None = None) -> AsyncClient:
        client = await AsyncClient.start(
            server.url, channel=channel, device=f"live-{next(devices)}", customer_token=customer_token
        )
        started.append(client)
        return client

    yield open_
    for client in started:
        await client.aclose()


async def test_write_by_another_device_shows_in_the_live_cart(server: ServerProcess, open_client: OpenClient) -> None:
    """A cart write by a device on another channel reaches the live copy of the first device."""
    web = await open_client(server)
    kiosk = await open_client(server, channel="kiosk", customer_token=web.credentials.customer_token)
    async with web.live() as live:
        await live.wait_live()
        written = await kiosk.cart.add("ESP-CUP", 2)
        await Watcher(live).until(lambda: live.cart is not None and live.cart.version == written.version, what="cart")
        assert line_quantities(live.cart) == [("ESP-CUP", 2)]


async def test_two_live_devices_converge_on_the_same_cart(server: ServerProcess, open_client: OpenClient) -> None:
    """Two live devices that both write end with the same cart, equal to the server's."""
    web = await open_client(server)
    kiosk = await open_client(server, channel="kiosk", customer_token=web.credentials.customer_token)
    async with web.live() as web_live, kiosk.live() as kiosk_live:
        await web_live.wait_live()
        await kiosk_live.wait_live()
        await web.cart.add("MUG-BLK")
        final = await kiosk.cart.add("TEA-POT", 3)
        for live in (web_live, kiosk_live):
            await Watcher(live).until(lambda live=live: live.cart and live.cart.version == final.version, what="cart")
        assert line_quantities(web_live.cart) == line_quantities(kiosk_live.cart) == line_quantities(final)
        assert web_live.local.last_seq == kiosk_live.local.last_seq


async def test_presence_lists_both_live_devices(server: ServerProcess, open_client: OpenClient) -> None:
    """Once both devices are live, each one's presence lists both sessions with their channels."""
    web = await open_client(server)
    kiosk = await open_client(server, channel="kiosk", customer_token=web.credentials.customer_token)
    expected = {(web.session_id, "web"), (kiosk.session_id, "kiosk")}
    async with web.live() as web_live, kiosk.live() as kiosk_live:
        for live in (web_live, kiosk_live):
            await live.wait_live()
            await Watcher(live).until(
                lambda live=live: {(row.session_id, row.channel) for row in live.presence} == expected, what="presence"
            )


@pytest.mark.slow
async def test_live_connection_resumes_after_a_server_crash(start_server: StartServer, open_client: OpenClient) -> None:
    """After kill -9 and a restart the connection goes offline, comes back live and resumes without duplicates."""
    server = start_server()
    web = await open_client(server)
    kiosk = await open_client(server, channel="kiosk", customer_token=web.credentials.customer_token)
    async with web.live() as live:
        await live.wait_live()
        watcher = Watcher(live)
        before = await kiosk.cart.add("ESP-CUP")
        await watcher.until(lambda: live.cart and live.cart.version == before.version, what="first write")

        server.kill9()
        await watcher.until_state(ConnectionState.OFFLINE)
        await asyncio.to_thread(server.start)
        during = await kiosk.cart.add("BEANS-1KG", 2)  # likely committed before the stream is back: replayed
        await watcher.until_state(ConnectionState.LIVE)
        after = await kiosk.cart.add("FILTERS-100")
        await watcher.until(lambda: live.cart and live.cart.version == after.version, what="write after restart")

        assert during.version < after.version
        assert line_quantities(live.cart) == [("BEANS-1KG", 2), ("ESP-CUP", 1), ("FILTERS-100", 1)]
        assert live.local.last_seq == (await web.events()).head
        assert "snapshot" not in [change.kind for change in watcher.seen], "resumed from a snapshot, not the seq"
        seqs = watcher.event_seqs()
        assert seqs == sorted(set(seqs)), f"change events not strictly increasing: {seqs}"


async def test_long_lived_stream_refreshes_its_token_in_band(
    start_server: StartServer, open_client: OpenClient
) -> None:
    """Past the first token's expiry a live kiosk still writes over HTTP: the stream handed it fresh tokens."""
    server = start_server(env={"OMNICART_SESSION_TTL_SECONDS": str(TOKEN_TTL)})
    kiosk = await open_client(server, channel="kiosk")
    first_token = kiosk.credentials.session_token
    async with kiosk.live(refresh_every=TOKEN_TTL / 4) as live:
        await live.wait_live()
        watcher = Watcher(live)
        await asyncio.sleep(TOKEN_TTL * 2)
        cart = await kiosk.cart.add("TEA-POT")
        await watcher.until(lambda: live.cart and live.cart.version == cart.version, what="the write, live")
    assert kiosk.credentials.session_token != first_token
    assert kiosk.store.load().session_token == kiosk.credentials.session_token
    states = {change.state for change in watcher.seen if change.kind == "state"}
    assert states <= {ConnectionState.LIVE}, f"the stream dropped: {states}"


def cart_at(version: int, *skus: str) -> Cart:
    lines = [
        CartLine(line_id=f"l{n}", sku=sku, title=sku, qty=1, unit_price=100, line_total=100)
        for n, sku in enumerate(skus, 1)
    ]
    return Cart(
        cart_id="c1",
        version=version,
        currency="EUR",
        lines=lines,
        subtotal=100 * len(lines),
        item_count=len(lines),
        updated_at=datetime(2030, 1, 1, tzinfo=UTC),
    )


def cart_event(seq: int, cart: Cart) -> Event:
    return Event(
        seq=seq,
        kind=EventKind.CART_UPDATED,
        at=datetime(2030, 1, 1, tzinfo=UTC),
        session_id="s1",
        channel="web",
        data={"cart": msgspec.to_builtins(cart)},
    )


def test_live_state_applies_the_next_event() -> None:
    """The next seq is applied: last_seq moves on and the cart is the event's."""
    state = LiveState()
    changes = state.apply(cart_event(1, cart_at(1, "ESP-CUP")))
    assert [change.kind for change in changes] == [EventKind.CART_UPDATED]
    assert state.last_seq == 1 and state.cart == cart_at(1, "ESP-CUP")


def test_live_state_ignores_duplicates() -> None:
    """An event at or below the last seq held changes nothing and reports no change."""
    state = LiveState()
    state.apply(cart_event(1, cart_at(1, "ESP-CUP")))
    state.apply(cart_event(2, cart_at(2, "ESP-CUP", "MUG-BLK")))
    assert state.apply(cart_event(1, cart_at(1, "TEA-POT"))) == []
    assert state.apply(cart_event(2, cart_at(2, "TEA-POT"))) == []
    assert state.last_seq == 2 and state.cart == cart_at(2, "ESP-CUP", "MUG-BLK")


def test_live_state_raises_gap_detected_on_a_skipped_seq() -> None:
    """An event beyond the next seq raises GapDetected and leaves the state as it was."""
    state = LiveState()
    state.apply(cart_event(1, cart_at(1, "ESP-CUP")))
    with pytest.raises(GapDetected):
        state.apply(cart_event(3, cart_at(3, "TEA-POT")))
    assert state.last_seq == 1 and state.cart == cart_at(1, "ESP-CUP")


def test_live_state_snapshot_resets_to_its_head() -> None:
    """A snapshot replaces the cart, seq and epoch; events up to its head are then duplicates."""
    state = LiveState()
    state.apply(cart_event(1, cart_at(1, "ESP-CUP")))
    changes = state.apply(Snapshot(head=7, epoch="e2", cart=cart_at(5, "TEA-POT")))
    assert [change.kind for change in changes] == ["snapshot"]
    assert (state.last_seq, state.epoch, state.cart) == (7, "e2", cart_at(5, "TEA-POT"))
    assert state.apply(cart_event(7, cart_at(9, "MUG-BLK"))) == []
    state.apply(cart_event(8, cart_at(6, "TEA-POT", "MUG-BLK")))
    assert state.last_seq == 8 and state.cart == cart_at(6, "TEA-POT", "MUG-BLK")


class Recorder:
    """An on_change callback for the sync client: records each change and the thread it ran on."""

    def __init__(self, *, fail_first: bool = False) -> None:
        self.changes: list[Change] = []
        self.threads: set[str] = set()
        self._fail_first = fail_first
        self._arrived = threading.Condition()

    def __call__(self, change: Change) -> None:
        with self._arrived:
            self.changes.append(change)
            self.threads.add(threading.current_thread().name)
            self._arrived.notify_all()
        if self._fail_first and len(self.changes) == 1:
            raise RuntimeError("a callback bug the stream must survive")

    def wait_for(self, predicate: Callable[[list[Change]], bool], what: str) -> None:
        with self._arrived:
            if not self._arrived.wait_for(lambda: predicate(self.changes), CONVERGE_TIMEOUT):
                raise AssertionError(f"no {what} within {CONVERGE_TIMEOUT}s; got {[c.kind for c in self.changes]}")


def cart_version_seen(version: int) -> Callable[[list[Change]], bool]:
    def seen(changes: list[Change]) -> bool:
        return any(c.event is not None and c.event.data.get("cart", {}).get("version") == version for c in changes)

    return seen


def test_sync_client_callback_sees_another_devices_write(server: ServerProcess) -> None:
    """The sync client's on_change runs on the live thread for a write made elsewhere; live.cart follows it."""
    recorder = Recorder()
    with Client.start(server.url, channel="pos", device="till-1") as till:
        with (
            Client.start(
                server.url, channel="web", device="laptop", customer_token=till.credentials.customer_token
            ) as laptop,
            till.live(on_change=recorder) as live,
        ):
            live.wait_live()
            assert live.connection is ConnectionState.LIVE
            written = laptop.cart.add("ESP-CUP", 2)
            recorder.wait_for(cart_version_seen(written.version), "cart.updated of the laptop's write")
            assert line_quantities(live.cart) == [("ESP-CUP", 2)]
            assert recorder.threads == {"omnicart-live"}
        assert recorder.changes[-1].state is ConnectionState.CLOSED


def test_sync_client_stream_survives_a_failing_callback(server: ServerProcess) -> None:
    """A callback that raises is logged; the changes after it still arrive."""
    recorder = Recorder(fail_first=True)
    with Client.start(server.url, channel="kiosk", device="kiosk-2") as kiosk, kiosk.live(on_change=recorder) as live:
        live.wait_live()
        written = kiosk.cart.add("MUG-BLK")
        recorder.wait_for(cart_version_seen(written.version), "cart.updated after the failing callback")
