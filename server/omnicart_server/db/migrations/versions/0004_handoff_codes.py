"""Handoff codes: single-use, expiring, stored only as a hash.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 10:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import omnicart_server.db.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoff_codes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("offered_by", sa.String(length=40), nullable=False),
        sa.Column("created_at", omnicart_server.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", omnicart_server.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", omnicart_server.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_handoff_codes_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_handoff_codes_code_hash")),
    )


def downgrade() -> None:
    op.drop_table("handoff_codes")
