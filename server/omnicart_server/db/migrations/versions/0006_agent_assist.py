"""Agent assist: the shopper's consent (a PIN), and agent sessions bound to it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 10:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import omnicart_server.db.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assist_consents",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("granted_by", sa.String(length=40), nullable=False),
        sa.Column("pin_hash", sa.String(length=64), nullable=False),
        sa.Column("pin_expires_at", omnicart_server.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", omnicart_server.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", omnicart_server.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_assist_consents_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assist_consents")),
        sa.UniqueConstraint("pin_hash", name=op.f("uq_assist_consents_pin_hash")),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=16), nullable=False, server_default="shopper"))
        batch_op.add_column(sa.Column("agent_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("consent_id", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("consent_id")
        batch_op.drop_column("agent_id")
        batch_op.drop_column("role")
    op.drop_table("assist_consents")
