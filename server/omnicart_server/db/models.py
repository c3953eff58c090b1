"""Every table, on one metadata that Alembic migrates; rows are read and written with SQLAlchemy Core."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would otherwise hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and dialect.name == "sqlite":
            return value.astimezone(UTC).replace(tzinfo=None)
        return value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, the text that `process_bind_param` and SQLite's DATETIME make together, in one step.

        Their format (`YYYY-MM-DD HH:MM:SS.ffffff`, UTC) is what `isoformat` writes with microseconds: ~0.5 us per
        bind where the two processors took ~3 us, and a write binds its time three or four times.
        """
        if dialect.name == "sqlite":
            return _sqlite_text
        return super().bind_processor(dialect)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if not isinstance(value, datetime):
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@functools.lru_cache(maxsize=16)
def _sqlite_text(value: datetime | None) -> str | None:
    """Cached: a group commit's writes share one `now`, bound several times each (equal instants, equal text)."""
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Customer(Base):
    """A person across channels; `head_seq` is the last seq of their event log, bumped under the row lock."""

    __tablename__ = "customers"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    head_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    epoch: Mapped[str] = mapped_column(String(16))
    """Names this log; it changes when the log is replaced (merge), so a client never replays the wrong log."""
    pruned_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    """Events up to this seq were dropped by retention; a client behind it starts from a snapshot."""
    merged_into: Mapped[str | None] = mapped_column(String(40), nullable=True)
    """Set when this customer was folded into another: its tokens lead there."""


class DeviceSessionRow(Base):
    """One device of a customer; revocation is checked against this row on every request."""

    __tablename__ = "sessions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    device: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    role: Mapped[str] = mapped_column(String(16), default="shopper", server_default="shopper")
    """`shopper`, or `agent` for a call-center agent working on the customer's behalf."""
    agent_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    consent_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    """The shopper's consent an agent session stands on; revoking it ends the session."""


class CartRow(Base):
    """A cart; lines are one JSON document so a batch is a single row update."""

    __tablename__ = "carts"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    lines: Mapped[str] = mapped_column(Text, default="[]")
    next_line_no: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    abandoned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    """Set when cart.abandoned was emitted for the current contents; the next change clears it."""

    __table_args__ = (
        # One active cart per customer, whatever the application does.
        Index(
            "uq_carts_one_active_per_customer",
            "customer_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )


class EventRow(Base):
    """The append-only log; (customer_id, seq) is the key, so a gap or a duplicate cannot be written."""

    __tablename__ = "events"
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    session_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    channel: Mapped[str | None] = mapped_column(String(32), nullable=True)
    data: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_events_at", "at"),)


class IdempotencyRecord(Base):
    """The stored answer to a write, committed with the write itself (DESIGN.md §1)."""

    __tablename__ = "idempotency_keys"
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    body_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class HandoffCode(Base):
    """A code that lets another device join this customer; only its hash is stored, and it is used once."""

    __tablename__ = "handoff_codes"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    offered_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(40), nullable=True)


class IdentityRow(Base):
    """An identity (email, phone, handle ...) belongs to exactly one customer: the primary key says so."""

    __tablename__ = "identities"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(254), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AssistConsent(Base):
    """A shopper's consent to be helped: a short PIN read out to an agent, stored as a keyed hash."""

    __tablename__ = "assist_consents"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    granted_by: Mapped[str] = mapped_column(String(40))
    pin_hash: Mapped[str] = mapped_column(String(64), unique=True)
    pin_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TransactionRow(Base):
    """A checkout, booking, return or support case in progress; one device drives it at a time (the lease)."""

    __tablename__ = "transactions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[str] = mapped_column(Text)
    driver_session_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    frozen_cart: Mapped[str | None] = mapped_column(Text, nullable=True)
    locks_cart: Mapped[bool] = mapped_column(Boolean)
    """Mirrors the machine's `locks_cart` for the current state, so the cart's write path asks one indexed row."""
    final: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OrderRow(Base):
    """What a completed checkout bought; the unique transaction id makes double completion impossible."""

    __tablename__ = "orders"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    transaction_id: Mapped[str] = mapped_column(String(40), unique=True)
    cart: Mapped[str] = mapped_column(Text)
    total: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    payment_reference: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


AUTO_ID = BigInteger().with_variant(Integer(), "sqlite")
"""A 64-bit autoincrement key (SQLite autoincrements only INTEGER PRIMARY KEY)."""


class JobLease(Base):
    """Who runs a background job now: one process at a time across the deployment."""

    __tablename__ = "job_leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[str] = mapped_column(Text)
    """Space-separated event kinds, or '*'."""
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WebhookOutbox(Base):
    """An event some endpoint wants, written in the same transaction as the event itself."""

    __tablename__ = "webhook_outbox"
    id: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(64))
    fanned_out: Mapped[bool] = mapped_column(Boolean, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One event to one endpoint: pending, delivered, or parked after the last retry."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"))
    outbox_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint("endpoint_id", "outbox_id", name="uq_webhook_deliveries_endpoint_outbox"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )


class WebhookAttempt(Base):
    """One try to deliver: the delivery log."""

    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(BigInteger, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer)


class ApiKey(Base):
    """A trusted backend's key; only its SHA-256 is stored, so a database leak does not leak keys."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


customers = cast("Table", Customer.__table__)
sessions = cast("Table", DeviceSessionRow.__table__)
carts = cast("Table", CartRow.__table__)
events = cast("Table", EventRow.__table__)
idempotency_keys = cast("Table", IdempotencyRecord.__table__)
api_keys = cast("Table", ApiKey.__table__)
handoff_codes = cast("Table", HandoffCode.__table__)
identities = cast("Table", IdentityRow.__table__)
assist_consents = cast("Table", AssistConsent.__table__)
transactions = cast("Table", TransactionRow.__table__)
orders = cast("Table", OrderRow.__table__)
job_leases = cast("Table", JobLease.__table__)
webhook_endpoints = cast("Table", WebhookEndpoint.__table__)
webhook_outbox = cast("Table", WebhookOutbox.__table__)
webhook_deliveries = cast("Table", WebhookDelivery.__table__)
webhook_attempts = cast("Table", WebhookAttempt.__table__)

CART_IS_ACTIVE = carts.c.status == literal_column("'active'")
"""Written as a literal, not a bound value: only then may SQLite (and PostgreSQL's generic plans) use the partial
index uq_carts_one_active_per_customer; with `status = ?` every cart lookup scanned the whole table."""
