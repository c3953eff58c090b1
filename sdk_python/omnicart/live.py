"""The live stream as local state: a copy of the cart, transactions and presence that follows the server.

    connecting ──welcome──► live ──drop──► offline ──backoff──► connecting
        ▲                    │ gap                                    │
        └──── resyncing ◄────┘ (reconnect from the last seq held) ◄───┘

LiveState applies frames without I/O (duplicates dropped, gaps detected); LiveConnection runs the websockets loop
around it: hello with the last seq, full-jitter backoff between attempts, in-band token refresh, snapshots.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import msgspec
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from omnicart._backoff import backoff
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
    from collections.abc import AsyncIterator

    from omnicart.client import AsyncClient

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


class LiveConnection:
    """Keeps `state` in step with the server for as long as the `async with` lasts."""

    def __init__(self, client: AsyncClient, *, refresh_every: float = 600.0, max_queue: int = 10_000) -> None:
        self._client = client
        self._refresh_every = refresh_every
        self.local = LiveState()
        self.connection = ConnectionState.CONNECTING
        self._changes: asyncio.Queue[Change] = asyncio.Queue(maxsize=max_queue)
        self._task: asyncio.Task[None] | None = None
        self._live = asyncio.Event()
        self._failure: BaseException | None = None
        self._went_live = False

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
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._set(ConnectionState.CLOSED)

    async def wait_live(self, timeout: float = 10.0) -> None:
        """Wait until the stream is connected and caught up (raises what stopped it for good)."""
        await asyncio.wait_for(self._live.wait(), timeout)
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
                refresher.cancel()

    def _on_frame(self, frame: ServerFrame) -> None:
        if isinstance(frame, Refreshed):
            self._client._adopt_token(frame.token)
            return
        for change in self.local.apply(frame):
            self._emit(change)
        if isinstance(frame, Presence) and not self._live.is_set():
            # The server sends presence right after the replay: from here on the copy is current.
            self._went_live = True
            self._live.set()
            self._set(ConnectionState.LIVE)

    async def _refresh_periodically(self, socket: Any) -> None:
        while True:
            await asyncio.sleep(self._refresh_every)
            await socket.send(_encoder.encode(Refresh()).decode())
