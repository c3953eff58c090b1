"""Agent assist: a shopper consents with a PIN, an agent redeems it for a short session; the shopper can end it.

Every agent session stands on a consent. Revoking the consent (or the agent's session) ends it at once, on HTTP
and on the stream; its refresh fails once consent is gone. Agent writes carry the agent id in the log.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import insert, literal, select, update

from omnicart.protocol.assist import AgentPickup, AgentSession, AssistOffer
from omnicart.protocol.events import EventKind
from omnicart.protocol.identity import Identity
from omnicart_server.auth.api_keys import AGENT, IDENTITY_WRITE, TrustedBackend
from omnicart_server.customers.identities import normalize_identity
from omnicart_server.db.models import assist_consents, identities, sessions
from omnicart_server.errors import Forbidden, InvalidBody, NotFound
from omnicart_server.sessions.service import AgentGrant, Pick

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement

    from omnicart_server.auth.tokens import TokenSigner
    from omnicart_server.config import Settings
    from omnicart_server.db.writer import Writer, WriteTxn
    from omnicart_server.ratelimit import RateLimiter
    from omnicart_server.sessions.service import Device, SessionService

AGENT_CHANNEL = "call_center"
_SPENT_PIN = literal("spent:").concat(assist_consents.c.id)
"""What a consent's PIN hash becomes once the PIN is spent or expired: unique, and matches no PIN."""


async def _release_pins(txn: WriteTxn, hashes: list[str], *, expired_only: bool) -> None:
    """Free these PIN hashes by renaming them on their consents, which stay (they may back live agent sessions)."""
    holders: ColumnElement[bool] = assist_consents.c.pin_hash.in_(hashes)
    if expired_only:
        holders = holders & (assist_consents.c.pin_expires_at <= txn.now)
    await txn.conn.execute(update(assist_consents).where(holders).values(pin_hash=_SPENT_PIN))


class AssistService:
    """Consents, agent pickups and their revocation."""

    def __init__(
        self, writer: Writer, sessions: SessionService, signer: TokenSigner, limiter: RateLimiter, settings: Settings
    ) -> None:
        self._writer = writer
        self._sessions = sessions
        self._signer = signer
        self._limiter = limiter
        self._settings = settings

    async def offer(self, shopper: Device) -> AssistOffer:
        """A fresh PIN for the shopper to read out: their consent to be helped."""
        if shopper.is_agent:
            raise Forbidden("Only the shopper can consent to being helped.")
        ttl = timedelta(seconds=self._settings.assist_pin_ttl_seconds)

        async def work(txn: WriteTxn) -> AssistOffer:
            me = await shopper.hold(txn)
            pin, pin_hash = await self._unused_pin(txn)
            consent_id = "cns_" + secrets.token_hex(8)
            await txn.conn.execute(
                insert(assist_consents).values(
                    id=consent_id,
                    customer_id=me.customer_id,
                    granted_by=me.session_id,
                    pin_hash=pin_hash,
                    pin_expires_at=txn.now + ttl,
                    created_at=txn.now,
                )
            )
            await txn.append_event(
                me.customer_id,
                EventKind.ASSIST_OFFERED,
                {"consent_id": consent_id, "expires_at": (txn.now + ttl).isoformat()},
                session_id=me.session_id,
                channel=me.channel,
            )
            return AssistOffer(consent_id=consent_id, pin=pin, expires_at=txn.now + ttl)

        return await self._writer.run(work)

    async def _unused_pin(self, txn: WriteTxn) -> tuple[str, str]:
        """A PIN no live consent holds; an expired holder of the same PIN lets go of it (its consent stays)."""
        for _ in range(20):
            pin = f"{secrets.randbelow(10**6):06d}"
            hashes = self._signer.keyed_hashes(pin)
            await _release_pins(txn, hashes, expired_only=True)
            taken = select(assist_consents.c.id).where(assist_consents.c.pin_hash.in_(hashes))
            if (await txn.conn.execute(taken)).first() is None:
                return pin, hashes[0]
        raise RuntimeError("no free assist PIN after 20 tries")

    async def pickup(self, backend: TrustedBackend, request: AgentPickup) -> AgentSession:
        """An agent session on the customer whose PIN (or, for trusted setups, identity) the agent has."""
        backend.require(AGENT)
        # Per agent, and per key: the agent id is the caller's word, the key is not.
        await self._limiter.hit(
            f"assist-pickup:{request.agent_id}",
            self._settings.assist_pin_attempts_per_agent_per_minute,
            60,
            "customer pickups by this agent",
        )
        await self._limiter.hit(
            f"assist-pickup-key:{backend.key_id}",
            self._settings.assist_pin_attempts_per_key_per_minute,
            60,
            "customer pickups with this API key",
        )
        if (request.pin is None) == (request.kind is None or request.value is None):
            raise InvalidBody("Send either `pin`, or `kind` and `value` of an identity.")
        if request.pin is None:
            backend.require(IDENTITY_WRITE)

        async def pick_customer(txn: WriteTxn, _session_id: str) -> Pick:
            if request.pin is not None:
                customer_id, consent_id = await self._spend_pin(txn, request.pin)
            else:
                customer_id, consent_id = await self._trusted_consent(txn, request)
            return Pick(customer_id, AgentGrant(request.agent_id, consent_id))

        created = await self._sessions.open_for(AGENT_CHANNEL, request.device, pick_customer)
        return AgentSession(
            customer_id=created.customer_id,
            session_id=created.session_id,
            session_token=created.session_token,
            expires_at=created.expires_at,
        )

    async def _spend_pin(self, txn: WriteTxn, pin: str) -> tuple[str, str]:
        query = select(assist_consents).where(
            assist_consents.c.pin_hash.in_(self._signer.keyed_hashes(pin)),
            assist_consents.c.revoked_at.is_(None),
            assist_consents.c.pin_expires_at > txn.now,
        )
        consent = (await txn.conn.execute(query.order_by(assist_consents.c.created_at.desc()))).first()
        if consent is None:
            raise NotFound("No live assist PIN like this; ask the shopper to read the PIN on their screen again.")
        customer_id = await txn.hold_customer(consent.customer_id)
        # Single use: the consent stands, the PIN is spent and free for another shopper.
        await txn.conn.execute(
            update(assist_consents)
            .where(assist_consents.c.id == consent.id)
            .values(pin_expires_at=txn.now, pin_hash=_SPENT_PIN)
        )
        return customer_id, consent.id

    async def _trusted_consent(self, txn: WriteTxn, request: AgentPickup) -> tuple[str, str]:
        assert request.kind is not None and request.value is not None
        identity = Identity(kind=request.kind, value=normalize_identity(request.kind, request.value))
        owner = (
            await txn.conn.execute(
                select(identities.c.customer_id).where(
                    identities.c.kind == identity.kind, identities.c.value == identity.value
                )
            )
        ).scalar_one_or_none()
        if owner is None:
            raise NotFound("No customer has this identity.")
        customer_id = await txn.hold_customer(owner)
        consent_id = "cns_" + secrets.token_hex(8)
        await txn.conn.execute(
            insert(assist_consents).values(
                id=consent_id,
                customer_id=customer_id,
                granted_by="trusted-backend",
                pin_hash="trusted:" + secrets.token_hex(24),
                pin_expires_at=txn.now,
                created_at=txn.now,
            )
        )
        return customer_id, consent_id

    async def revoke(self, shopper: Device, consent_id: str) -> None:
        """Withdraw consent: every agent session standing on it ends now, and the streams are told."""
        if shopper.is_agent:
            raise Forbidden("Only the shopper can withdraw consent.")

        async def work(txn: WriteTxn) -> None:
            me = await shopper.hold(txn)
            consent = select(assist_consents.c.revoked_at).where(
                assist_consents.c.id == consent_id, assist_consents.c.customer_id == me.customer_id
            )
            row = (await txn.conn.execute(consent)).one_or_none()
            if row is None:
                raise NotFound("This customer has no consent with that id.")
            if row.revoked_at is not None:
                return
            await txn.conn.execute(
                update(assist_consents).where(assist_consents.c.id == consent_id).values(revoked_at=txn.now)
            )
            await txn.append_event(
                me.customer_id,
                EventKind.ASSIST_REVOKED,
                {"consent_id": consent_id},
                session_id=me.session_id,
                channel=me.channel,
            )
            agents = select(sessions.c.id).where(sessions.c.consent_id == consent_id, sessions.c.revoked_at.is_(None))
            for session_id in list((await txn.conn.execute(agents)).scalars()):
                await self._sessions.revoke_in(txn, me, session_id)

        await self._writer.run(work)
