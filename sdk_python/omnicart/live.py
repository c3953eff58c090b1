"""The live stream as local state: a copy of the cart, transactions and presence that follows the server.

    connecting ──welcome──► live ──drop──► offline ──backoff──► connecting
        ▲                    │ gap                                    │
        └──── resyncing ◄────┘ (reconnect from the last seq held) ◄───┘

LiveState applies frames without I/O (duplicates dropped, gaps detected); LiveConnection runs the websockets loop
around it: hello with the last seq, full-jitter backoff between attempts, in-band token refresh, snapshots.
LiveThread gives the sync Client the same connection on a thread of its own, reporting changes to a callback.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from omnicart._backoff import backoff
from omnicart.cancellation import cancel_and_wait
from omnicart.errors import AuthError, StreamError
from omnicart.protocol.cart import Cart
from omnicart.protocol.events import Event, EventKind
from omnicart.protocol.problems import CloseCode
from omnicart.protocol.stream import (
    Hello,
    Presence,
    PresenceSession,
    Refresh,
    Refreshed,
    ServerFrame,
    Snapshot,
    Welcome,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from omnicart.client import Client
    from omnicart.tokens import Credentials

logger = logging.getLogger(__name__)

_frame_decoder = msgspec.json.Decoder(ServerFrame)
_encoder = msgspec.json.Encoder()


class ConnectionState(StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    OFFLINE = "offline"
    RESYNCING = "resyncing"
    CLOSED = "closed"


class Change(msgspec.Struct, frozen=True):
    """What changed locally: `kind` is the event kind, or 'snapshot', 'presence' or 'state'."""

    kind: str
    event: Event | None = None
    state: ConnectionState | None = None


class GapDetected(Exception):
    """An event arrived with a seq beyond the next one: reconnect from the last seq held."""


class LiveState:
    """The local copy and the last seq it reflects; applying a frame returns what changed."""

    last_seq: int
    epoch: str | None
    cart: Cart | None
    presence: list[PresenceSession]
    transactions: dict[str, dict[str, Any]]
    merged_into: str | None

    def __init__(self) -> None:
        self.start_over()

    def apply(self, frame: ServerFrame) -> list[Change]:
        match frame:
            case Welcome(epoch=epoch):
                self.epoch = epoch
                return []
            case Snapshot(head=head, epoch=epoch, cart=cart):
                self.last_seq, self.epoch, self.cart = head, epoch, cart
                return [Change(kind="snapshot")]
            case Presence(sessions=sessions):
                self.presence = sessions
                return [Change(kind="presence")]
            case Event():
                return self._apply_event(frame)
        return []

    def _apply_event(self, event: Event) -> list[Change]:
        if event.seq <= self.last_seq:
            return []  # already held: a duplicate after a reconnect
        if event.seq > self.last_seq + 1:
            raise GapDetected(f"got seq {event.seq} holding {self.last_seq}")
        self.last_seq = event.seq
        data = event.data
        if event.kind == EventKind.CART_UPDATED and "cart" in data:
            self.cart = msgspec.convert(data["cart"], Cart)
        elif event.kind.startswith("transaction.") and "transaction_id" in data:
            self.transactions.setdefault(data["transaction_id"], {}).update(data)
        elif event.kind == EventKind.CUSTOMER_MERGED and data.get("into"):
            self.merged_into = data["into"]
        return [Change(kind=event.kind, event=event)]

    def start_over(self) -> None:
        """Forget everything held: a new copy follows (also when the customer was merged into another log)."""
        self.last_seq = 0
        self.epoch = None
        self.cart = None
        self.presence = []
        self.transactions = {}
        self.merged_into = None


class StreamOwner(Protocol):
    """What the stream needs of a client: where to connect, its token, and how to reopen its session."""

    @property
    def base_url(self) -> str: ...

    @property
    def credentials(self) -> Credentials: ...

    def _adopt_token(self, token: str) -> None: ...

    async def resume(self) -> None: ...


class LiveConnection:
    """Keeps `state` in step with the server for as long as the `async with` lasts."""

    def __init__(self, client: StreamOwner, *, refresh_every: float = 600.0, max_queue: int = 10_000) -> None:
        self._client = client
        self._refresh_every = refresh_every
        self.local = LiveState()
        self.connection = ConnectionState.CONNECTING
        self._changes: asyncio.Queue[Change] = asyncio.Queue(maxsize=max_queue)
        self._task: asyncio.Task[None] | None = None
        self._live = asyncio.Event()
        self._failure: BaseException | None = None
        self._went_live = False
        self._rejected_before = False

    @property
    def cart(self) -> Cart | None:
        return self.local.cart

    @property
    def presence(self) -> list[PresenceSession]:
        return self.local.presence

    async def __aenter__(self) -> LiveConnection:
        self._task = asyncio.create_task(self._run(), name="omnicart-live")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        errors = await cancel_and_wait([self._task] if self._task is not None else [])
        self._set(ConnectionState.CLOSED)
        if errors:
            raise errors[0]

    async def wait_live(self, timeout: float = 10.0) -> None:
        """Wait until the stream is connected and caught up (raises what stopped it for good)."""
        async with asyncio.timeout(timeout):
            await self._live.wait()
        if self._failure is not None:
            raise self._failure

    async def changes(self) -> AsyncIterator[Change]:
        """Every local change, in order; ends when the stream stops for good."""
        while True:
            change = await self._changes.get()
            yield change
            if change.state is ConnectionState.CLOSED:
                return

    def _emit(self, change: Change) -> None:
        if self._changes.full():
            self._changes.get_nowait()  # a consumer that stopped reading loses the oldest, never the newest
        self._changes.put_nowait(change)

    def _set(self, state: ConnectionState) -> None:
        if state is not self.connection:
            self.connection = state
            self._emit(Change(kind="state", state=state))

    async def _run(self) -> None:
        delays = backoff(first=0.5, cap=20.0)
        while True:
            self._went_live = False
            try:
                await self._session()
            except GapDetected as gap:
                logger.info("stream gap (%s): resyncing from the last seq", gap)
                self._live.clear()
                self._set(ConnectionState.RESYNCING)
                await asyncio.sleep(next(delays))
                continue
            except StreamError as error:
                self._failure = error
                self._live.set()
                self._set(ConnectionState.CLOSED)
                return
            except ConnectionClosed as closed:
                if await self._after_close(closed):
                    delays = backoff(first=0.5, cap=20.0)
                    continue
            except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                logger.info("stream unreachable: %s", exc)
            if self._went_live:  # a connection that worked starts the backoff afresh
                delays = backoff(first=0.5, cap=20.0)
            self._live.clear()
            self._set(ConnectionState.OFFLINE)
            await asyncio.sleep(next(delays))
            self._set(ConnectionState.CONNECTING)

    async def _after_close(self, closed: ConnectionClosed) -> bool:
        """Decide on a close code: True to reconnect at once, False to back off; StreamError to stop."""
        code = closed.rcvd.code if closed.rcvd else None
        reason = closed.rcvd.reason if closed.rcvd else ""
        if code == CloseCode.CUSTOMER_MERGED:
            self.local.start_over()  # the session now belongs to another customer's log
            return True
        if code == CloseCode.TOKEN_REJECTED:
            if not self._went_live and self._rejected_before:
                raise StreamError(code, reason)  # a fresh session was refused too: reopening again would loop
            self._rejected_before = True
            try:
                await self._client.resume()  # an expired token: open the session again through the customer token
            except AuthError as exc:
                raise StreamError(code, reason) from exc
            return True
        if code == CloseCode.BAD_FRAME:
            raise StreamError(code, reason)
        return False

    async def _session(self) -> None:
        url = self._client.base_url.replace("http", "ws", 1) + "/v1/stream"
        async with connect(url, open_timeout=10, max_size=2**22, compression=None) as socket:
            token = self._client.credentials.session_token or ""
            hello = Hello(token=token, since=self.local.last_seq, epoch=self.local.epoch)
            await socket.send(_encoder.encode(hello).decode())
            refresher = asyncio.create_task(self._refresh_periodically(socket))
            try:
                async for raw in socket:
                    self._on_frame(_frame_decoder.decode(raw))
            finally:
                await cancel_and_wait([refresher])  # a refresh failing as the socket closes is that close

    def _on_frame(self, frame: ServerFrame) -> None:
        if isinstance(frame, Refreshed):
            self._client._adopt_token(frame.token)
            return
        for change in self.local.apply(frame):
            self._emit(change)
        if isinstance(frame, Presence) and not self._live.is_set():
            # The server sends presence right after the replay: from here on the copy is current.
            self._went_live = True
            self._rejected_before = False
            self._live.set()
            self._set(ConnectionState.LIVE)

    async def _refresh_periodically(self, socket: Any) -> None:
        while True:
            await asyncio.sleep(self._refresh_every)
            await socket.send(_encoder.encode(Refresh()).decode())


class _ThreadedOwner:
    """The sync Client seen from the stream's thread: its blocking resume runs off the event loop."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @property
    def base_url(self) -> str:
        return self._client.base_url

    @property
    def credentials(self) -> Credentials:
        return self._client.credentials

    def _adopt_token(self, token: str) -> None:
        self._client._adopt_token(token)

    async def resume(self) -> None:
        await asyncio.to_thread(self._client.resume)


class LiveThread:
    """`with client.live(on_change=...) as live:` the live copy for the sync Client, kept on a background thread.

    `on_change` runs on that thread, once per Change, in order; an exception it raises is logged and the stream
    goes on. `cart`, `presence` and `connection` may be read from any thread.
    """

    def __init__(self, client: Client, on_change: Callable[[Change], None] | None, *, refresh_every: float) -> None:
        self._owner = _ThreadedOwner(client)
        self._on_change = on_change
        self._refresh_every = refresh_every
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="omnicart-live", daemon=True)
        self._connection: LiveConnection | None = None
        self._delivery: asyncio.Task[None] | None = None

    @property
    def local(self) -> LiveState:
        return self._running.local

    @property
    def cart(self) -> Cart | None:
        return self._running.cart

    @property
    def presence(self) -> list[PresenceSession]:
        return self._running.presence

    @property
    def connection(self) -> ConnectionState:
        return self._running.connection

    @property
    def _running(self) -> LiveConnection:
        if self._connection is None:
            raise RuntimeError("use the live stream inside `with client.live() as live:`")
        return self._connection

    def __enter__(self) -> LiveThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result()
        return self

    def __exit__(self, *_exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def wait_live(self, timeout: float = 10.0) -> None:
        """Block until the stream is connected and caught up (raises what stopped it for good)."""
        asyncio.run_coroutine_threadsafe(self._running.wait_live(timeout), self._loop).result()

    async def _open(self) -> None:
        self._connection = await LiveConnection(self._owner, refresh_every=self._refresh_every).__aenter__()
        self._delivery = asyncio.create_task(self._deliver(self._connection))

    async def _close(self) -> None:
        await self._running.__aexit__()
        if self._delivery is not None:
            await self._delivery  # ends after the CLOSED change, so the callback sees it

    async def _deliver(self, connection: LiveConnection) -> None:
        async for change in connection.changes():
            if self._on_change is None:
                continue
            try:
                self._on_change(change)
            except Exception:
                logger.exception("the on_change callback failed on %s; the stream goes on", change.kind)
