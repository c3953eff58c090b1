"""Fan-out across processes and machines through Redis; the log stays the truth, Redis is only the doorbell.

- After commit, each event is published on the customer's channel `oc:{<customer_id>}` with SPUBLISH: the hash tag
  puts a customer on one Redis Cluster slot, so sharded pub/sub spreads customers over the cluster's shards.
- A process subscribes (SSUBSCRIBE) only to customers it has sockets for, and delivers what it hears to them; the
  sockets drop duplicates and repair gaps from the log, because pub/sub may lose or reorder (DESIGN.md §2).
- A message is the sending process's id, a space, then the JSON of the event (or of a presence nudge). A process
  skips its own messages unread: it handed those events to its sockets at commit.
- A poller reads the heads of the local customers from the database: every second while Redis is unreachable (so
  devices keep up, later, and nothing is lost), every few seconds otherwise, as a net under at-most-once delivery.
- Presence lives in a Redis hash per customer: each device's entry names the process that holds its socket, and a
  device counts only while that process's heartbeat in `oc:processes` is fresh. So keeping 10,000 devices present
  costs one command per process every few seconds, not a write per device; when a process dies (its heartbeat
  lapses), the others re-announce their customers, and each socket re-reads who is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from sqlalchemy import select

from omnicart.cancellation import cancel_and_wait
from omnicart.protocol.events import Event
from omnicart.protocol.stream import PresenceSession
from omnicart_server.db.models import customers
from omnicart_server.stream.fanout import FanOut

if TYPE_CHECKING:
    from collections.abc import Coroutine, Iterator

    from sqlalchemy.ext.asyncio import AsyncEngine

    from omnicart_server.db.writer import CommittedEvent
    from omnicart_server.stream.hub import Hub, Subscriber

logger = logging.getLogger(__name__)
T = TypeVar("T")

POLL_DEGRADED_SECONDS = 1.0
POLL_HEALTHY_SECONDS = 5.0
HEARTBEAT_SECONDS = 5.0
PROCESS_TTL_SECONDS = 30.0
"""A process whose heartbeat is older than this is dead, and so are its devices' presence entries."""
PROCESSES_KEY = "oc:processes"
"""Sorted set: process id -> the time its heartbeat lapses."""
PROCESS_FORGET_SECONDS = 86_400.0
"""Dead processes are dropped from the set this long after they lapse."""
PRESENCE_REWRITE_SECONDS = 3_600.0
PRESENCE_HASH_TTL_SECONDS = 86_400
"""A presence hash expires unless rewritten (every PRESENCE_REWRITE_SECONDS while a device of it is connected),
so the entries of a process that died are not kept forever."""
RECONNECT_MAX_SECONDS = 5.0
POLL_CHUNK = 100
"""Customers (or devices) per round trip of a poll or a presence rewrite. The loop handles a round trip's answers
without a pause, so this bounds how long it keeps the live stream waiting: with 500, renewing 10,000 devices held
writes' fan-out up to ~250 ms (p99, BENCHMARKS.md)."""
RING_RETRY = Retry(NoBackoff(), 1, supported_errors=(RedisError, OSError))
"""A batch of doorbells that fails is sent once more on a fresh connection: the kept one may only have been closed
by a Redis restarted since the last batch. A doorbell rung twice is dropped as seen."""
OUTBOX_LIMIT = 100_000
"""Doorbells waiting for Redis; past it they are dropped and the poller delivers instead."""


class PresenceNudge(msgspec.Struct, tag_field="type", tag="presence_changed", frozen=True):
    """Tells other processes to re-read a customer's presence."""


_Message = Event | PresenceNudge
_decoder = msgspec.json.Decoder(_Message)
_encoder = msgspec.json.Encoder()
_PRESENCE_NUDGE = _encoder.encode(PresenceNudge())
ORIGIN_SEPARATOR = b" "
_presence_decoder = msgspec.json.Decoder(tuple[PresenceSession, str])
"""A presence entry: the device, and the id of the process holding its socket."""


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
        self._process_id = secrets.token_hex(8)
        self._origin = self._process_id.encode() + ORIGIN_SEPARATOR
        """Opens every message this process sends."""
        self._presence_nudge = self._origin + _PRESENCE_NUDGE
        self._processes: dict[str, float] = {}
        """Process id -> when its heartbeat lapses, as last read from PROCESSES_KEY."""
        self._processes_read_at = 0.0
        self._beat_at: float | None = None
        """When this process's heartbeat last reached Redis; None until it has, and after Redis failed."""
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
            asyncio.create_task(self._heartbeat(), name="omnicart-heartbeat"),
            asyncio.create_task(self._keep_presence(), name="omnicart-presence-rewrite"),
        ]
        await self._beat_or_mark_unhealthy()  # before any device joins: others must know this process to count them

    async def stop(self) -> None:
        await super().stop()
        for error in await cancel_and_wait([*self._tasks, *self._background]):
            if not isinstance(error, (RedisError, OSError, RuntimeError)):  # not Redis going away under it
                logger.error("fan-out task failed at shutdown", exc_info=error)
        with contextlib.suppress(RedisError, OSError):
            await self._redis.zrem(PROCESSES_KEY, self._process_id)  # others drop its devices at their next beat
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
            self._enqueue(item.customer_id, self._origin + _encoder.encode(item.event))

    def _enqueue(self, customer_id: str, payload: bytes) -> None:
        try:
            self._outbox.put_nowait((channel_of(customer_id), payload))
        except asyncio.QueueFull:
            self._healthy = False  # the poller now runs fast and delivers what these doorbells would have

    async def _publish_outbox(self) -> None:
        """Ring the waiting doorbells, all in one round trip, on a connection kept for this alone.

        Where writes come one at a time, each batch is one doorbell: a pipeline taken from the pool for it cost the
        loop about twice the Python time of these bare commands (BENCHMARKS.md, nineteenth session).
        """
        connection = self._redis.connection_pool.make_connection()  # type: ignore[no-untyped-call]
        try:
            while True:
                batch = [await self._outbox.get()]
                while not self._outbox.empty() and len(batch) < 500:
                    batch.append(self._outbox.get_nowait())
                commands = connection.pack_commands([("SPUBLISH", channel, payload) for channel, payload in batch])
                try:
                    await RING_RETRY.call_with_retry(
                        functools.partial(_ring, connection, commands, len(batch)),
                        lambda _error: connection.disconnect(),  # replies may still be on their way: start anew
                    )
                except (RedisError, OSError) as exc:
                    self._mark_unhealthy(exc)  # lost doorbells: the poller and gap repair deliver from the log
        finally:
            await connection.disconnect()

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
                        self._spawn(self._beat_or_mark_unhealthy())  # rewrites presence a restart may have lost
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
        if data.startswith(self._origin):
            return
        customer_id = channel.decode()[4:-1]
        try:
            message = _decoder.decode(data.partition(ORIGIN_SEPARATOR)[2])
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
        self._beat_at = None  # Redis may come back empty: the next beat rewrites this process's presence

    # The net under the doorbell

    async def _poll_heads(self) -> None:
        while True:
            await asyncio.sleep(POLL_HEALTHY_SECONDS if self._healthy else POLL_DEGRADED_SECONDS)
            local = self.hub.customers()
            try:
                await self._nudge(local)
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
        self._enqueue(customer_id, self._presence_nudge)

    async def online(self, customer_id: str) -> list[PresenceSession]:
        """Present devices across all processes, or this process's view while Redis is unreachable."""
        try:
            stored = await self._redis.hgetall(presence_key(customer_id))
            entries = [entry for value in stored.values() if (entry := _decode_entry(value)) is not None]
            unknown = {process_id for _, process_id in entries} - self._processes.keys()
            if unknown:
                await self._read_processes()  # a process that started since this one last looked
                for process_id in unknown - self._processes.keys():
                    self._processes[process_id] = 0.0  # gone from the set: long dead
        except (RedisError, OSError):
            return await super().online(customer_id)
        present = dict(self._present.get(customer_id, {}))
        now = time.time()
        for session, process_id in entries:
            if process_id != self._process_id and self._processes.get(process_id, 0.0) > now:
                present.setdefault(session.session_id, session)
        return sorted(present.values(), key=lambda session: session.session_id)

    async def _write_presence(self, keys: list[tuple[str, str]]) -> None:
        """Store these local devices' presence entries, in one round trip."""
        written: set[str] = set()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for customer_id, session_id in keys:
                    session = self._present.get(customer_id, {}).get(session_id)
                    if session is not None:
                        pipe.hset(presence_key(customer_id), session_id, _encoder.encode((session, self._process_id)))
                        written.add(customer_id)
                for customer_id in written:  # once per hash, however many of its devices are here
                    pipe.expire(presence_key(customer_id), PRESENCE_HASH_TTL_SECONDS)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._mark_unhealthy(exc)

    async def _write_all_presence(self) -> None:
        """Rewrite every local device's entry: one round trip per POLL_CHUNK devices."""
        staying = [
            (customer_id, session_id)
            for customer_id, present in self._present.items()
            for session_id in present
            if (customer_id, session_id) not in self._leaving
        ]
        for chunk in _in_chunks(staying):
            await self._write_presence(chunk)

    async def _drop_presence(self, customer_id: str, session_id: str) -> None:
        try:
            await self._redis.hdel(presence_key(customer_id), session_id)
        except (RedisError, OSError) as exc:
            self._mark_unhealthy(exc)

    async def _keep_presence(self) -> None:
        """Keep the hashes of long-connected devices from expiring."""
        while True:
            await asyncio.sleep(PRESENCE_REWRITE_SECONDS)
            await self._write_all_presence()

    # Heartbeats

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            await self._beat_or_mark_unhealthy()

    async def _beat_or_mark_unhealthy(self) -> None:
        try:
            await self._beat()
        except (RedisError, OSError) as exc:
            self._mark_unhealthy(exc)
        except Exception:
            logger.exception("heartbeat failed; will try again")

    async def _beat(self) -> None:
        """Renew this process's heartbeat and read everyone's; re-announce presence if others may have lost ours.

        Others dropped this process's devices if its heartbeat lapsed (a stall longer than PROCESS_TTL_SECONDS, or
        Redis unreachable or restarted empty): then every local entry is written again and every customer rung.
        """
        now = time.time()
        lapsed = self._beat_at is None or now - self._beat_at > PROCESS_TTL_SECONDS
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(PROCESSES_KEY, {self._process_id: now + PROCESS_TTL_SECONDS})
            pipe.zremrangebyscore(PROCESSES_KEY, "-inf", now - PROCESS_FORGET_SECONDS)
            pipe.zrange(PROCESSES_KEY, 0, -1, withscores=True)
            *_, members = await pipe.execute()
        self._beat_at = now
        self._take_processes(members, now)
        if lapsed and self._present:
            await self._write_all_presence()
            for customer_id in list(self._present):
                self._enqueue(customer_id, self._presence_nudge)

    async def _read_processes(self) -> None:
        self._take_processes(await self._redis.zrange(PROCESSES_KEY, 0, -1, withscores=True), time.time())

    def _take_processes(self, members: list[Any], now: float) -> None:
        """Adopt a reading of the heartbeats (ZRANGE WITHSCORES); re-announce if a process alive at the last lapsed."""
        read_at, self._processes_read_at = self._processes_read_at, now
        alive_before = {process_id for process_id, lapses in self._processes.items() if lapses > read_at}
        self._processes = {process_id.decode(): float(lapses) for process_id, lapses in members}
        if any(self._processes.get(process_id, 0.0) <= now for process_id in alive_before):
            for customer_id in self.hub.customers():
                self.hub.presence_changed(customer_id)


async def _ring(connection: aioredis.Connection, commands: list[bytes], replies: int) -> None:
    """Send the packed SPUBLISH commands, then read their replies (each the number of subscribers that heard it)."""
    await connection.send_packed_command(commands, check_health=False)
    for _ in range(replies):
        await connection.read_response()


def _decode_entry(value: bytes | str) -> tuple[PresenceSession, str] | None:
    """A presence entry, or None for one this version cannot read (written by an older one during an upgrade)."""
    try:
        return _presence_decoder.decode(value)
    except msgspec.DecodeError:
        return None
