"""Handoff: one device offers a short single-use code (and its QR), another claims it and becomes the same customer.

Codes are 8 symbols of a 31-symbol alphabet (8.5e11 codes), stored as SHA-256 only, valid for minutes, used once.
Claims are counted per client address and per customer, so guessing a live code is bounded: with the defaults an
address gets 10 guesses a minute against at most 10 live codes per customer.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

import segno
from sqlalchemy import insert, select, update

from omnicart.protocol.events import EventKind
from omnicart.protocol.handoff import HANDOFF_ALPHABET, ClaimHandoff, HandoffOffer
from omnicart_server.db.models import handoff_codes
from omnicart_server.errors import Forbidden, HandoffCodeExpired, HandoffCodeUnknown, HandoffCodeUsed, InvalidBody
from omnicart_server.sessions.service import Pick

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from omnicart.protocol.sessions import SessionCreated
    from omnicart_server.config import Settings
    from omnicart_server.db.writer import Writer, WriteTxn
    from omnicart_server.ratelimit import RateLimiter
    from omnicart_server.sessions.service import Device, SessionService

CODE_LENGTH = 8
CLAIM_PATH = "/demo/claim"


def new_code() -> str:
    return "".join(secrets.choice(HANDOFF_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(typed: str) -> str:
    """What a person typed, as stored: case, spaces and dashes ignored."""
    return "".join(typed.split()).replace("-", "").upper()


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def display_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def qr_svg(url: str) -> str:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=4, border=2, xmldecl=False)
    return buffer.getvalue().decode()


class HandoffService:
    """Offers and claims handoff codes."""

    def __init__(
        self,
        writer: Writer,
        read_engine: AsyncEngine,
        sessions: SessionService,
        limiter: RateLimiter,
        settings: Settings,
    ) -> None:
        self._writer = writer
        self._read_engine = read_engine
        self._sessions = sessions
        self._limiter = limiter
        self._settings = settings

    async def offer(self, device: Device) -> HandoffOffer:
        """A new code for this device's customer, announced in the customer's log."""
        if device.is_agent:
            raise Forbidden("An agent cannot hand the customer off: a handoff gives a full shopper session.")
        await self._limiter.hit(
            f"handoff-offer:{device.customer_id}",
            self._settings.handoff_offers_per_customer_per_minute,
            60,
            "handoff codes requested",
        )
        code = new_code()
        ttl = timedelta(seconds=self._settings.handoff_ttl_seconds)

        async def work(txn: WriteTxn) -> HandoffOffer:
            me = await device.hold(txn)
            handoff_id = "hof_" + secrets.token_hex(8)
            expires_at = txn.now + ttl
            await txn.conn.execute(
                insert(handoff_codes).values(
                    id=handoff_id,
                    code_hash=code_hash(code),
                    customer_id=me.customer_id,
                    offered_by=me.session_id,
                    created_at=txn.now,
                    expires_at=expires_at,
                )
            )
            await txn.append_event(
                me.customer_id,
                EventKind.HANDOFF_OFFERED,
                {"handoff_id": handoff_id, "expires_at": expires_at.isoformat()},
                session_id=me.session_id,
                channel=me.channel,
            )
            url = f"{self._settings.base_url}{CLAIM_PATH}#code={code}"
            return HandoffOffer(code=display_code(code), url=url, qr_svg=qr_svg(url), expires_at=expires_at)

        return await self._writer.run(work)

    async def claim(self, request: ClaimHandoff, client_address: str) -> SessionCreated:
        """A session on the code's customer for the claiming device; the code is spent in the same transaction."""
        await self._limiter.hit(
            f"handoff-claim-addr:{client_address}",
            self._settings.handoff_claims_per_address_per_minute,
            60,
            "handoff claim attempts from this address",
        )
        code = normalize_code(request.code)
        if len(code) != CODE_LENGTH or any(symbol not in HANDOFF_ALPHABET for symbol in code):
            raise InvalidBody(f"A handoff code is {CODE_LENGTH} letters and digits, like K7QM-4XTR.")
        customer_id = await self._customer_of(code)
        if customer_id is None:
            raise HandoffCodeUnknown("No handoff code matches; check the code shown on the other device.")
        await self._limiter.hit(
            f"handoff-claim-customer:{customer_id}",
            self._settings.handoff_claims_per_customer_per_minute,
            60,
            "handoff claim attempts for this customer",
        )

        async def spend_code(txn: WriteTxn, session_id: str) -> Pick:
            await txn.lock_customer(customer_id)
            row = (
                await txn.conn.execute(select(handoff_codes).where(handoff_codes.c.code_hash == code_hash(code)))
            ).one()
            if row.claimed_at is not None:
                raise HandoffCodeUsed("This handoff code was already used; ask the other device for a new one.")
            if row.expires_at <= txn.now:
                raise HandoffCodeExpired("This handoff code has expired; ask the other device for a new one.")
            await txn.conn.execute(
                update(handoff_codes)
                .where(handoff_codes.c.id == row.id)
                .values(claimed_at=txn.now, claimed_by=session_id)
            )
            await txn.append_event(
                customer_id,
                EventKind.HANDOFF_CLAIMED,
                {
                    "handoff_id": row.id,
                    "offered_by": row.offered_by,
                    "session_id": session_id,
                    "channel": request.channel,
                },
                session_id=session_id,
                channel=request.channel,
            )
            return Pick(customer_id)

        return await self._sessions.open_for(request.channel, request.device, spend_code)

    async def _customer_of(self, code: str) -> str | None:
        query = select(handoff_codes.c.customer_id).where(handoff_codes.c.code_hash == code_hash(code))
        async with self._read_engine.connect() as conn:
            customer_id: str | None = (await conn.execute(query)).scalar_one_or_none()
        return customer_id
