"""A lease in the database, so that a background job runs in one process at a time across the deployment."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from omnicart_server.db.models import job_leases

if TYPE_CHECKING:
    from omnicart_server.db.writer import WriteTxn


async def take_lease(txn: WriteTxn, name: str, holder: str, ttl: timedelta) -> bool:
    """Hold the lease for `ttl` if it is free, expired or already ours; False when another process holds it."""
    taken = await txn.conn.execute(
        update(job_leases)
        .where(
            job_leases.c.name == name,
            or_(job_leases.c.holder == holder, job_leases.c.expires_at <= txn.now),
        )
        .values(holder=holder, expires_at=txn.now + ttl)
    )
    if taken.rowcount == 1:
        return True
    exists = (await txn.conn.execute(select(job_leases.c.name).where(job_leases.c.name == name))).first()
    if exists is not None:
        return False
    try:
        async with txn.conn.begin_nested():
            await txn.conn.execute(insert(job_leases).values(name=name, holder=holder, expires_at=txn.now + ttl))
    except IntegrityError:  # another process created it first: it holds the lease
        return False
    return True
