"""Fan-out across processes and machines through Redis; the log stays the truth, Redis is only the doorbell.

- After commit, each event is published on the customer's channel `oc:{<customer_id>}` with SPUBLISH: the hash tag
  puts a customer on one Redis Cluster slot, so sharded pub/sub spreads customers over the cluster's shards.
- A process subscribes (SSUBSCRIBE) only to customers it has sockets for, and delivers what it hears to them; the
  sockets drop duplicates and repair gaps from the log, because pub/sub may lose or reorder (DESIGN.md §2).
- A poller reads the heads of the local customers from the database: every second while Redis is unreachable (so
  devices keep up, later, and nothing is lost), every few seconds otherwise, as a net under at-most-once delivery.
- Presence lives in a Redis hash per customer, each device with an expiry that its process keeps renewing. The
  poller re-reads the local customers' hashes too, and re-announces one whose devices changed without a ring heard
  here: a lost nudge, or the entries of a process that died lapsing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, TypeVar

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import select

from omnicart.protocol.events import Event
from omnicart.protocol.stream import PresenceSession
from omnicart_server.db.models import customers
from omnicart_server.stream.fanout import FanOut

if TYPE_CHECKING:
    from collections.abc import Coroutine, Iterator, Mapping

    from sqlalchemy.ext.asyncio import AsyncEngine

    from omnicart_server.db.writer import CommittedEvent
    from omnicart_server.stream.hub import Hub, Subscriber

logger = logging.getLogger(__name__)
T = TypeVar("T")

POLL_DEGRADED_SECONDS = 1.0
POLL_HEALTHY_SECONDS = 5.0
PRESENCE_TTL_SECONDS = 30.0
PRESENCE_RENEW_SECONDS = 10.0
RECONNECT_MAX_SECONDS = 5.0
POLL_CHUNK = 100
"""Customers (or devices) per round trip of a poll or a presence renewal. The loop handles a round trip's answers
without a pause, so this bounds how long it keeps the live stream waiting: with 500, renewing 10,000 devices held
writes' fan-out up to ~250 ms (p99, BENCHMARKS.md)."""
OUTBOX_LIMIT = 100_000
"""Doorbells waiting for Redis; past it they are dropped and the poller delivers instead."""


class PresenceNudge(msgspec.Struct, tag_field="type", tag="presence_changed", frozen=True):
    """Tells other processes to re-read a customer's presence."""


_Message = Event | PresenceNudge
_decoder = msgspec.json.Decoder(_Message)
_encoder = msgspec.json.Encoder()
_presence_decoder = msgspec.json.Decoder(tuple[PresenceSession, float])


def channel_of(customer_id: str) -> str:
    return f"oc:{{{customer_id}}}"


def presence_key(customer_id: str) -> str:
    return f"oc:presence:{{{customer_id}}}"


def _in_chunks(items: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(items), POLL_CHUNK):
        yield items[start : start + POLL_CHUNK]


class RedisFanOut(FanOut):
    """FanOut whose events and presence also reach the sockets of other processes."""

    def __init__(
        self, hub: Hub, presence_grace_seconds: float, redis: aioredis.Redis, read_engine: AsyncEngine
    ) -> None:
        super().__init__(hub, presence_grace_seconds)
        self._redis = redis
        self._read_engine = read_engine
        self._outbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize=OUTBOX_LIMIT)
        self._wanted: set[str] = set()
        self._changed: set[str] = set()
        """Customers wanted or let go since the subscription last followed them (diffing all of `_wanted` for
        every message took a fifth of the process at 10,000 devices)."""
        self._presence_polled: dict[str, list[PresenceSession]] = {}
        self._healthy = False
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        hub.on_first.append(self._want)
        hub.on_last.append(self._let_go)

    def _want(self, customer_id: str) -> None:
        self._wanted.add(customer_id)
        self._changed.add(customer_id)

    def _let_go(self, customer_id: str) -> None:
        self._wanted.discard(customer_id)
        self._changed.add(customer_id)

    @property
    def state(self) -> str:
        return "ok" if self._healthy else "degraded: Redis unreachable, delivering from the database log"

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="omnicart-redis-listen"),
            asyncio.create_task(self._publish_outbox(), name="omnicart-redis-publish"),
            asyncio.create_task(self._poll_heads(), name="omnicart-log-poll"),
            asyncio.create_task(self._renew_presence(), name="omnicart-presence-renew"),
        ]

    async def stop(self) -> None:
        await super().stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, RedisError, OSError, RuntimeError):
                await task
        await self._redis.aclose()

    def _spawn(self, work: Coroutine[None, None, None]) -> None:
        """Run `work` in the background, holding a reference so the task is not collected mid-flight."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    # Events

    def publish(self, committed: list[CommittedEvent]) -> None:
        super().publish(committed)
        for item in committed:
            self._enqueue(item.customer_id, _encoder.encode(item.event))

    def _enqueue(self, customer_id: str, payload: bytes) -> None:
        try:
            self._outbox.put_nowait((channel_of(customer_id), payload))
        except asyncio.QueueFull:
            self._healthy = False  # the poller now runs fast and delivers what these doorbells would have

    async def _publish_outbox(self) -> None:
        while True:
            batch = [await self._outbox.get()]
            while not self._outbox.empty() and len(batch) < 500:
                batch.append(self._outbox.get_nowait())
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for channel, payload in batch:
                        pipe.spublish(channel, payload)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                self._mark_unhealthy(exc)  # lost doorbells: the poller and gap repair deliver from the log

    async def _listen(self) -> None:
        """Own the subscription connection: follow the wanted customers, deliver what arrives, reconnect on failure."""
        delay = 0.1
        while True:
            pubsub = self._redis.pubsub()
            subscribed: set[str] = set()
            try:
                while True:
                    await self._follow(pubsub, subscribed)
                    if not self._healthy:
                        await self._redis.ping()
                        self._healthy = True
                        logger.info("Redis fan-out is back")
                        self._nudge_all_soon()
                    delay = 0.1
                    if not subscribed:  # redis-py has no pubsub connection to read before the first subscribe
                        await asyncio.sleep(0.05)
                        continue
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
                    if message is not None:
                        self._on_message(message["channel"], message["data"])
            except (RedisError, OSError, RuntimeError) as exc:  # RuntimeError: redis-py's "pubsub connection not set"
                self._mark_unhealthy(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis-py 8

    async def _follow(self, pubsub: aioredis.client.PubSub, subscribed: set[str]) -> None:
        if subscribed:
            changed, self._changed = self._changed, set()
            added, gone = (changed & self._wanted) - subscribed, (changed - self._wanted) & subscribed
        else:  # a new subscription connection (or none followed yet): everyone wanted
            self._changed = set()
            added, gone = set(self._wanted), set()
        if added:
            await pubsub.ssubscribe(*(channel_of(customer_id) for customer_id in added))
            subscribed |= added
            # Bells rung elsewhere before SSUBSCRIBE took effect were not heard here: look at the log and presence once.
            self._spawn(self._nudge(list(added)))
            for customer_id in added:
                self.hub.presence_changed(customer_id)
        if gone:
            await pubsub.sunsubscribe(*(channel_of(customer_id) for customer_id in gone))
            subscribed -= gone

    def _on_message(self, channel: bytes, data: bytes) -> None:
        customer_id = channel.decode()[4:-1]
        try:
            message = _decoder.decode(data)
        except msgspec.DecodeError:
            logger.warning("ignored a malformed fan-out message on %s", channel)
            return
        if isinstance(message, Event):
            self.hub.deliver(customer_id, [message])
        else:
            self.hub.presence_changed(customer_id)

    def _mark_unhealthy(self, exc: BaseException) -> None:
        if self._healthy:
            logger.warning("Redis fan-out degraded (%s); devices are served from the database log", exc)
        self._healthy = False

    # The net under the doorbell

    async def _poll_heads(self) -> None:
        while True:
            await asyncio.sleep(POLL_HEALTHY_SECONDS if self._healthy else POLL_DEGRADED_SECONDS)
            local = self.hub.customers()
            try:
                await self._nudge(local)
                if self._healthy:
                    await self._recheck_presence(local)
            except Exception:
                logger.exception("log poll failed; will try again")

    def _nudge_all_soon(self) -> None:
        self._spawn(self._nudge(self.hub.customers()))

    async def _nudge(self, customer_ids: list[str]) -> None:
        """Tell each local socket of these customers the log's head; each fetches what it lacks."""
        for chunk in _in_chunks(customer_ids):
            async with self._read_engine.connect() as conn:
                rows = (
                    await conn.execute(select(customers.c.id, customers.c.head_seq).where(customers.c.id.in_(chunk)))
                ).all()
            for row in rows:
                self.hub.nudge(row.id, row.head_seq)

    # Presence

    def joined(self, subscriber: Subscriber) -> None:
        super().joined(subscriber)
        self._spawn(self._publish_presence(subscriber.customer_id, subscriber.session_id, present=True))

    def _expire(self, key: tuple[str, str]) -> None:
        super()._expire(key)
        self._spawn(self._publish_presence(*key, present=False))

    async def _publish_presence(self, customer_id: str, session_id: str, *, present: bool) -> None:
        """Write the change to the shared hash first, then ring: other processes re-read it on the nudge."""
        if present:
            await self._write_presence([(customer_id, session_id)])
        else:
            await self._drop_presence(customer_id, session_id)
        self._enqueue(customer_id, _encoder.encode(PresenceNudge()))

    async def online(self, customer_id: str) -> list[PresenceSession]:
        """Present devices across all processes, or this process's view while Redis is unreachable."""
        try:
            stored = await self._redis.hgetall(presence_key(customer_id))
        except (RedisError, OSError):
            return await super().online(customer_id)
        return self._online_with(customer_id, stored)

    def _online_with(self, customer_id: str, stored: Mapping[bytes | str, bytes | str]) -> list[PresenceSession]:
        """This process's sessions of the customer, and the unexpired ones of its presence hash."""
        present = dict(self._present.get(customer_id, {}))
        now = time.time()
        for raw_id, value in stored.items():
            session, until = _presence_decoder.decode(value)
            if until > now:
                present.setdefault(raw_id.decode() if isinstance(raw_id, bytes) else raw_id, session)
        return sorted(present.values(), key=lambda session: session.session_id)

    async def _recheck_presence(self, customer_ids: list[str]) -> None:
        """Announce the customers whose devices differ from the last poll's reading (one round trip per POLL_CHUNK).

        A change heard through its ring is announced twice, and the sockets send nothing the second time: each
        compares with what it last sent.
        """
        polled: dict[str, list[PresenceSession]] = {}
        for chunk in _in_chunks(customer_ids):
            async with self._redis.pipeline(transaction=False) as pipe:
                for customer_id in chunk:
                    pipe.hgetall(presence_key(customer_id))
                hashes = await pipe.execute()
            for customer_id, stored in zip(chunk, hashes, strict=True):
                polled[customer_id] = online = self._online_with(customer_id, stored)
                before = self._presence_polled.get(customer_id)
                if before is not None and before != online:
                    self.hub.presence_changed(customer_id)
        self._presence_polled = polled

    async def _write_presence(self, keys: list[tuple[str, str]]) -> None:
        """Store these local devices' presence with a fresh expiry, in one round trip."""
        until = time.time() + PRESENCE_TTL_SECONDS
        renewed: set[str] = set()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for customer_id, session_id in keys:
                    session = self._present.get(customer_id, {}).get(session_id)
                    if session is not None:
                        pipe.hset(presence_key(customer_id), session_id, _encoder.encode((session, until)))
                        renewed.add(customer_id)
                for customer_id in renewed:  # once per hash, however many of its devices are here
                    pipe.expire(presence_key(customer_id), int(PRESENCE_TTL_SECONDS * 2))
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._mark_unhealthy(exc)

    async def _drop_presence(self, customer_id: str, session_id: str) -> None:
        try:
            await self._redis.hdel(presence_key(customer_id), session_id)
        except (RedisError, OSError) as exc:
            self._mark_unhealthy(exc)

    async def _renew_presence(self) -> None:
        """Keep the local devices' entries from lapsing: one round trip per POLL_CHUNK devices, not one each."""
        while True:
            await asyncio.sleep(PRESENCE_RENEW_SECONDS)
            staying = [
                (customer_id, session_id)
                for customer_id, present in self._present.items()
                for session_id in present
                if (customer_id, session_id) not in self._leaving
            ]
            for chunk in _in_chunks(staying):
                await self._write_presence(chunk)
