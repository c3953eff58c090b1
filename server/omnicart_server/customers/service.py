"""One person across channels: link identities, merge an anonymous customer into the known one, open by identity."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import msgspec
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from omnicart.cart_ops import CartContents, CartLimits
from omnicart.protocol.events import EventKind
from omnicart.protocol.identity import (
    CustomerProfile,
    HistorySummary,
    Identity,
    LinkIdentity,
    LinkReport,
    MergeStrategy,
    OpenByIdentity,
)
from omnicart_server.carts.merge import merge_carts
from omnicart_server.carts.service import active_cart_row, lines_of, next_version
from omnicart_server.customers.identities import normalize_identity
from omnicart_server.db.models import (
    assist_consents,
    carts,
    customers,
    events,
    handoff_codes,
    idempotency_keys,
    identities,
    orders,
    sessions,
    transactions,
)
from omnicart_server.errors import NotFound
from omnicart_server.sessions.service import Pick, create_customer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from omnicart.protocol.sessions import SessionCreated
    from omnicart_server.db.writer import Writer, WriteTxn
    from omnicart_server.sessions.service import SessionService


T = TypeVar("T")


class CustomerService:
    """Identities and merges; only trusted backends call the writing side."""

    def __init__(
        self,
        writer: Writer,
        read_engine: AsyncEngine,
        sessions: SessionService,
        limits: CartLimits,
        currency: str,
        default_strategy: MergeStrategy,
    ) -> None:
        self._writer = writer
        self._read_engine = read_engine
        self._sessions = sessions
        self._limits = limits
        self._currency = currency
        self._default_strategy = default_strategy

    async def link(self, request: LinkIdentity) -> LinkReport:
        """Link the identity to the session's customer; if another customer has it, merge into that one."""
        identity = Identity(kind=request.kind, value=normalize_identity(request.kind, request.value))
        strategy = request.strategy or self._default_strategy

        async def work(txn: WriteTxn) -> LinkReport:
            mine = await _customer_of_session(txn, request.session_id)
            owner = await _owner_of(txn, identity)
            for customer_id in sorted({mine, owner or mine}):  # one lock order everywhere: no deadlock
                await txn.lock_customer(customer_id)
            mine = await _customer_of_session(txn, request.session_id)  # a merge may have moved it meanwhile
            if owner is None:
                await _attach(txn, identity, mine, session_id=request.session_id, channel=None)
                return LinkReport(customer_id=mine, identity=identity)
            if owner == mine:
                return LinkReport(customer_id=mine, identity=identity)
            return await self._merge(txn, anonymous=mine, known=owner, identity=identity, strategy=strategy)

        return await _once_identity_exists(lambda: self._writer.run(work))

    async def _merge(
        self, txn: WriteTxn, *, anonymous: str, known: str, identity: Identity, strategy: MergeStrategy
    ) -> LinkReport:
        """Fold `anonymous` into `known`: cart by strategy, sessions and identities moved, both logs told."""
        known_cart = await active_cart_row(txn.conn, known)
        anonymous_cart = await active_cart_row(txn.conn, anonymous)
        merged, changes = merge_carts(
            CartContents(lines_of(known_cart), known_cart.next_line_no),
            lines_of(anonymous_cart),
            strategy,
            self._limits,
        )
        cart, cart_write = next_version(known_cart, merged, txn.now)
        await txn.conn.execute(update(carts).where(carts.c.id == anonymous_cart.id).values(status="merged"))
        moved = list(
            (await txn.conn.execute(select(sessions.c.id).where(sessions.c.customer_id == anonymous))).scalars()
        )
        # Everything of the person moves to the known customer; the anonymous one keeps only its log.
        for table in (sessions, identities, transactions, orders, assist_consents, handoff_codes):
            await txn.conn.execute(update(table).where(table.c.customer_id == anonymous).values(customer_id=known))
        # Stored answers too, so a write retried after the login is still answered, not applied again.
        known_keys = select(idempotency_keys.c.key).where(idempotency_keys.c.customer_id == known)
        await txn.conn.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.customer_id == anonymous, idempotency_keys.c.key.not_in(known_keys))
            .values(customer_id=known)
        )
        await txn.conn.execute(update(customers).where(customers.c.id == anonymous).values(merged_into=known))
        report = LinkReport(
            customer_id=known,
            identity=identity,
            merged_from=anonymous,
            strategy=strategy,
            cart_changes=changes,
            moved_sessions=moved,
            cart=cart,
        )
        await txn.append_event(
            anonymous, EventKind.CUSTOMER_MERGED, {"into": known, "strategy": strategy}, session_id=None, channel=None
        )
        await txn.append_event(
            known,
            EventKind.CUSTOMER_MERGED,
            {"from": anonymous, **msgspec.to_builtins(report)},
            session_id=None,
            channel=None,
        )
        await txn.append_event(
            known,
            EventKind.CART_UPDATED,
            {"version": cart.version, "ops": [], "reason": "merge", "cart": msgspec.to_builtins(cart)},
            session_id=None,
            channel=None,
            along=[cart_write],
        )
        return report

    async def open_by_identity(self, request: OpenByIdentity) -> SessionCreated:
        """A session for whoever has this identity; a new customer holding it when nobody does yet."""
        identity = Identity(kind=request.kind, value=normalize_identity(request.kind, request.value))

        async def pick_customer(txn: WriteTxn, session_id: str) -> Pick:
            owner = await _owner_of(txn, identity)
            if owner is not None:
                return Pick(await txn.hold_customer(owner))
            customer_id = await create_customer(txn, self._currency)
            await _attach(txn, identity, customer_id, session_id=session_id, channel=request.channel)
            return Pick(customer_id)

        return await _once_identity_exists(
            lambda: self._sessions.open_for(request.channel, request.device, pick_customer)
        )

    async def profile(self, customer_id: str) -> CustomerProfile:
        """Identities, channels used and a summary of the customer's history."""
        async with self._read_engine.connect() as conn:
            linked = (
                await conn.execute(
                    select(identities.c.kind, identities.c.value)
                    .where(identities.c.customer_id == customer_id)
                    .order_by(identities.c.linked_at)
                )
            ).all()
            channels = (
                await conn.execute(select(sessions.c.channel).where(sessions.c.customer_id == customer_id).distinct())
            ).scalars()
            session_count = (
                await conn.execute(
                    select(func.count()).select_from(sessions).where(sessions.c.customer_id == customer_id)
                )
            ).scalar_one()
            by_kind = (
                await conn.execute(
                    select(events.c.kind, func.count(), func.min(events.c.at), func.max(events.c.at))
                    .where(events.c.customer_id == customer_id)
                    .group_by(events.c.kind)
                )
            ).all()
        return CustomerProfile(
            customer_id=customer_id,
            identities=[Identity(kind=row.kind, value=row.value) for row in linked],
            channels=sorted(channels),
            sessions=session_count,
            history=HistorySummary(
                events=sum(row[1] for row in by_kind),
                first_seen=min(row[2] for row in by_kind),
                last_seen=max(row[3] for row in by_kind),
                by_kind={row[0]: row[1] for row in by_kind},
            ),
        )


async def _once_identity_exists(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run a unit that may create an identity; if a concurrent unit created it first, run it again.

    A new identity has no row to lock yet, so two first links race to insert it; the loser's transaction rolls back
    whole (unique key), and its second run finds the identity and takes the existing-owner path.
    """
    try:
        return await attempt()
    except IntegrityError:
        return await attempt()


async def _customer_of_session(txn: WriteTxn, session_id: str) -> str:
    query = select(sessions.c.customer_id).where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
    customer_id = (await txn.conn.execute(query)).scalar_one_or_none()
    if customer_id is None:
        raise NotFound("No live session with that id.")
    return str(customer_id)


async def _attach(
    txn: WriteTxn, identity: Identity, customer_id: str, *, session_id: str | None, channel: str | None
) -> None:
    """Give the identity to the customer, and say so in its log."""
    await txn.conn.execute(
        insert(identities).values(kind=identity.kind, value=identity.value, customer_id=customer_id, linked_at=txn.now)
    )
    await txn.append_event(
        customer_id, EventKind.IDENTITY_LINKED, msgspec.to_builtins(identity), session_id=session_id, channel=channel
    )


async def _owner_of(txn: WriteTxn, identity: Identity) -> str | None:
    query = select(identities.c.customer_id).where(
        identities.c.kind == identity.kind, identities.c.value == identity.value
    )
    owner = (await txn.conn.execute(query)).scalar_one_or_none()
    return None if owner is None else str(owner)
