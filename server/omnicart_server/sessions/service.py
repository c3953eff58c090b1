"""Device sessions: open one (new or resumed customer), authenticate it on every request, list and revoke."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import bindparam, insert, select, update

from omnicart.protocol.events import EventKind
from omnicart.protocol.sessions import CreateSession, DeviceSession, SessionCreated
from omnicart_server.auth.tokens import TokenKind, TokenSigner
from omnicart_server.carts.service import create_active_cart
from omnicart_server.db.driver import prepared
from omnicart_server.db.models import assist_consents, customers, sessions
from omnicart_server.errors import NotFound, SessionRevoked, TokenExpired, TokenInvalid

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncEngine

    from omnicart.protocol.stream import PresenceSession
    from omnicart_server.db.reader import PointReader
    from omnicart_server.db.writer import CommittedEvent, Writer, WriteTxn

    PresenceSource = Callable[[str], Awaitable[list[PresenceSession]]]
    """The customer's sessions connected right now (the live stream's presence)."""
    CustomerPicker = Callable[[WriteTxn, str], Awaitable["Pick"]]
    """Chooses (and locks) the customer a new session belongs to, given the new session's id."""


async def create_customer(txn: WriteTxn, currency: str) -> str:
    """A new anonymous customer with an empty cart and a fresh log."""
    customer_id = "cus_" + secrets.token_urlsafe(15)
    await txn.conn.execute(
        insert(customers).values(id=customer_id, created_at=txn.now, head_seq=0, epoch=secrets.token_hex(8))
    )
    await create_active_cart(txn, customer_id, currency)
    return customer_id


AGENT_ROLE = "agent"
logger = logging.getLogger(__name__)
_SESSION_BY_ID = prepared(select(sessions).where(sessions.c.id == bindparam("session_id")))
LAST_SEEN_RESOLUTION = timedelta(seconds=15)
"""`last_seen` is written at most this often per session, so reads do not turn into writes."""


@dataclass(frozen=True)
class Device:
    """The authenticated caller of a request: one session of one customer."""

    session_id: str
    customer_id: str
    channel: str
    device: str
    role: str = "shopper"
    agent_id: str | None = None

    @property
    def is_agent(self) -> bool:
        return self.role == AGENT_ROLE

    @property
    def may_set_prices(self) -> bool:
        """Shoppers never set prices; an agent may override one, with a reason that goes into the log."""
        return self.is_agent

    async def hold(self, txn: WriteTxn) -> Device:
        """Lock this device's customer in `txn`: the device as it writes, moved to the customer it was merged into."""
        return self.moved_to(await txn.hold_customer(self.customer_id))

    def moved_to(self, customer_id: str) -> Device:
        """This device as it writes once its customer was found merged into `customer_id` (itself if not)."""
        return self if customer_id == self.customer_id else replace(self, customer_id=customer_id)


@dataclass(frozen=True)
class AgentGrant:
    """What makes a new session an agent's: who the agent is, and the shopper's consent it stands on."""

    agent_id: str
    consent_id: str


class Pick(NamedTuple):
    """The customer a new session joins, and the grant when the session is an agent's."""

    customer_id: str
    agent: AgentGrant | None = None


@dataclass
class _Known:
    """A session row found valid moments ago: who it is, until when, and when it was last seen."""

    device: Device
    expires_at: datetime
    last_seen: datetime
    checked_at: float


class RecentSessions:
    """Sessions found valid in the last `ttl` seconds, so a busy device does not cost a read on every request.

    Only a valid verdict is kept; anything else goes back to the database. A revocation or merge committed by this
    process forgets every entry at once; another process may accept a revoked token for at most `ttl` seconds
    (OMNICART_SESSION_CACHE_SECONDS; 0 reads the row on every request).
    """

    FORGETTING_KINDS = frozenset({EventKind.SESSION_REVOKED, EventKind.CUSTOMER_MERGED})
    MAX_ENTRIES = 100_000

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._known: dict[str, _Known] = {}
        self.generation = 0
        """Rises with every forgetting: a row read before it may be stale, and is not kept."""

    def get(self, session_id: str, now: datetime) -> _Known | None:
        known = self._known.get(session_id)
        if known is None or time.monotonic() - known.checked_at > self._ttl or known.expires_at <= now:
            return None
        return known

    def keep(
        self, session_id: str, device: Device, expires_at: datetime, last_seen: datetime, *, read_in: int
    ) -> _Known:
        """Remember a row read during generation `read_in` (unless a revocation or merge committed since)."""
        known = _Known(device, expires_at, last_seen, time.monotonic())
        if self._ttl > 0 and read_in == self.generation:
            if len(self._known) >= self.MAX_ENTRIES:
                self._known.clear()
            self._known[session_id] = known
        return known

    def on_commit(self, committed: list[CommittedEvent]) -> None:
        if any(item.event.kind in self.FORGETTING_KINDS for item in committed):
            self.generation += 1
            self._known.clear()


class SessionService:
    """Opens, authenticates, lists and revokes device sessions."""

    def __init__(
        self,
        writer: Writer,
        read_engine: AsyncEngine,
        signer: TokenSigner,
        currency: str,
        presence: PresenceSource,
        agent_ttl: timedelta,
        cache_seconds: float,
        point_reader: PointReader,
    ) -> None:
        self._point_reader = point_reader
        self._agent_ttl = agent_ttl
        self._recent = RecentSessions(cache_seconds)
        self._looking_up: dict[str, asyncio.Future[_Known]] = {}
        writer.on_commit(self._recent.on_commit)
        self._writer = writer
        self._read_engine = read_engine
        self._signer = signer
        self._currency = currency
        self._presence = presence

    async def open(self, request: CreateSession) -> SessionCreated:
        """A session for the customer of `customer_token`, or for a new anonymous customer without one."""
        known_customer = (
            self._signer.verify(TokenKind.CUSTOMER, request.customer_token) if request.customer_token else None
        )

        async def pick_customer(txn: WriteTxn, _session_id: str) -> Pick:
            if known_customer is None:
                return Pick(await create_customer(txn, self._currency))
            if await txn.lock_customer(known_customer) is None:
                raise TokenInvalid("The customer of this customer token no longer exists; start a new session.")
            return Pick(await txn.hold_customer(known_customer))

        return await self.open_for(request.channel, request.device, pick_customer)

    async def open_for(self, channel: str, device: str, pick_customer: CustomerPicker) -> SessionCreated:
        """Open a session on the customer that `pick_customer` chooses and locks, in the same transaction."""
        session_id = "ses_" + secrets.token_urlsafe(15)
        session_token, token_expires_at = self._signer.issue(TokenKind.SESSION, session_id)

        async def work(txn: WriteTxn) -> tuple[str, datetime, AgentGrant | None]:
            customer_id, agent = await pick_customer(txn, session_id)
            expires_at = token_expires_at if agent is None else min(token_expires_at, txn.now + self._agent_ttl)
            role = AGENT_ROLE if agent else "shopper"
            opened = {"channel": channel, "device": device, "role": role}
            if agent is not None:
                opened["agent_id"] = agent.agent_id
            await txn.conn.execute(
                insert(sessions).values(
                    id=session_id,
                    customer_id=customer_id,
                    channel=channel,
                    device=device,
                    created_at=txn.now,
                    last_seen=txn.now,
                    expires_at=expires_at,
                    role=role,
                    agent_id=agent.agent_id if agent else None,
                    consent_id=agent.consent_id if agent else None,
                )
            )
            await txn.append_event(
                customer_id,
                EventKind.SESSION_OPENED,
                {"session_id": session_id, **opened},
                session_id=session_id,
                channel=channel,
            )
            return customer_id, expires_at, agent

        customer_id, expires_at, _ = await self._writer.run(work)
        customer_token, _ = self._signer.issue(TokenKind.CUSTOMER, customer_id)
        return SessionCreated(
            customer_id=customer_id,
            customer_token=customer_token,
            session_id=session_id,
            session_token=session_token,
            expires_at=expires_at,
        )

    async def authenticate(self, session_token: str) -> Device:
        """The device behind a session token, checked against its row so revocation takes effect at once."""
        session_id = self._signer.verify(TokenKind.SESSION, session_token)
        now = datetime.now(UTC)
        known = self._recent.get(session_id, now) or await self._look_up_once(session_id, now)
        if now - known.last_seen > LAST_SEEN_RESOLUTION:
            await self._touch(session_id)
            known.last_seen = now
        return known.device

    async def _look_up_once(self, session_id: str, now: datetime) -> _Known:
        """Requests of one device that miss the cache together share one read (a till sends them in bursts)."""
        pending = self._looking_up.get(session_id)
        if pending is None:
            pending = asyncio.ensure_future(self._look_up(session_id, now))
            self._looking_up[session_id] = pending
            pending.add_done_callback(lambda done: self._forget_look_up(session_id, done))
        return await asyncio.shield(pending)

    def _forget_look_up(self, session_id: str, done: asyncio.Future[_Known]) -> None:
        self._looking_up.pop(session_id, None)
        if not done.cancelled():
            done.exception()  # its waiters have it; this keeps asyncio from reporting it as never retrieved

    async def _look_up(self, session_id: str, now: datetime) -> _Known:
        generation = self._recent.generation
        row = await self._point_reader.one_or_none(_SESSION_BY_ID, {"session_id": session_id})
        if row is None:
            # The token is ours and unexpired, so its row was there once: purged with its customer, or lost. The
            # session id is no secret (events carry it) and tells an operator which.
            logger.info("session %s of a valid token has no row", session_id)
            raise TokenInvalid("This session does not exist; open a new session.")
        if row.revoked_at is not None:
            raise SessionRevoked("This session was revoked; open a new session to continue.")
        if row.expires_at <= now:
            raise TokenExpired(
                "This session has expired; refresh it on the live stream before it ends, or start again."
            )
        device = Device(
            session_id=row.id,
            customer_id=row.customer_id,
            channel=row.channel,
            device=row.device,
            role=row.role,
            agent_id=row.agent_id,
        )
        return self._recent.keep(session_id, device, row.expires_at, row.last_seen, read_in=generation)

    async def _touch(self, session_id: str) -> None:
        async def work(txn: WriteTxn) -> None:
            await txn.conn.execute(update(sessions).where(sessions.c.id == session_id).values(last_seen=txn.now))

        await self._writer.run(work)

    async def list(self, customer_id: str) -> list[DeviceSession]:
        """The customer's sessions, newest first; revoked ones stay listed, marked as such."""
        async with self._read_engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(sessions).where(sessions.c.customer_id == customer_id).order_by(sessions.c.created_at.desc())
                )
            ).all()
        online = {session.session_id for session in await self._presence(customer_id)}
        return [
            DeviceSession(
                session_id=row.id,
                channel=row.channel,
                device=row.device,
                created_at=row.created_at,
                last_seen=row.last_seen,
                online=row.revoked_at is None and row.id in online,
                revoked=row.revoked_at is not None,
                role=row.role,
                agent_id=row.agent_id,
            )
            for row in rows
        ]

    async def refresh(self, session_id: str) -> tuple[str, datetime]:
        """A new token for a live session, so a device connected for days never falls into a 401 loop.

        An agent's session is extended only while the shopper's consent stands, and only by the agent TTL.
        """
        token, expires_at = self._signer.issue(TokenKind.SESSION, session_id)

        async def work(txn: WriteTxn) -> datetime:
            query = select(sessions.c.role, sessions.c.consent_id).where(
                sessions.c.id == session_id, sessions.c.revoked_at.is_(None)
            )
            row = (await txn.conn.execute(query)).one_or_none()
            if row is None:
                raise SessionRevoked("This session was revoked; open a new session to continue.")
            until = expires_at
            if row.role == AGENT_ROLE:
                consent = select(assist_consents.c.revoked_at).where(assist_consents.c.id == row.consent_id)
                if (await txn.conn.execute(consent)).scalar_one_or_none() is not None:
                    raise SessionRevoked("The shopper withdrew consent; this agent session has ended.")
                until = min(expires_at, txn.now + self._agent_ttl)
            await txn.conn.execute(
                update(sessions).where(sessions.c.id == session_id).values(expires_at=until, last_seen=txn.now)
            )
            return until

        return token, await self._writer.run(work)

    async def revoke(self, by: Device, session_id: str) -> None:
        """Revoke one of the caller's customer's sessions; revoking twice is not an error."""

        async def work(txn: WriteTxn) -> None:
            held = await by.hold(txn)
            await self.revoke_in(txn, held, session_id)

        await self._writer.run(work)

    async def revoke_in(self, txn: WriteTxn, by: Device, session_id: str) -> None:
        """Revoke a session of `by`'s customer inside the caller's transaction (the customer already locked)."""
        query = select(sessions.c.revoked_at).where(
            sessions.c.id == session_id, sessions.c.customer_id == by.customer_id
        )
        row = (await txn.conn.execute(query)).one_or_none()
        if row is None:
            raise NotFound("This customer has no session with that id.")
        if row.revoked_at is not None:
            return
        await txn.conn.execute(update(sessions).where(sessions.c.id == session_id).values(revoked_at=txn.now))
        await txn.append_event(
            by.customer_id,
            EventKind.SESSION_REVOKED,
            {"session_id": session_id, **({"by_agent": by.agent_id} if by.agent_id else {})},
            session_id=by.session_id,
            channel=by.channel,
        )
