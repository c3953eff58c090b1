"""Liveness and readiness: what a load balancer asks of a process."""

from __future__ import annotations

import logging

import msgspec
from litestar import get
from sqlalchemy import text

from omnicart_server.context import ServerContext
from omnicart_server.db.migrate import current_revision, head_revision
from omnicart_server.errors import NotReady
from omnicart_server.problems import problem_responses
from omnicart_server.stream.redis_bus import RedisFanOut

logger = logging.getLogger(__name__)


class Health(msgspec.Struct, frozen=True):
    status: str


class Readiness(msgspec.Struct, frozen=True):
    """Each dependency's state: ok, or what is wrong with it."""

    ready: bool
    database: str
    migrations: str
    redis: str
    fanout: str


@get("/health", tags=["operations"], summary="The process is up")
async def health() -> Health:
    return Health(status="ok")


@get(
    "/ready",
    tags=["operations"],
    summary="The process can serve: database, migrations, Redis",
    responses=problem_responses(503),
)
async def ready(ctx: ServerContext) -> Readiness:
    database, migrations = "ok", "ok"
    try:
        async with ctx.read_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            revision = await conn.run_sync(current_revision)
        if revision != head_revision():
            migrations = f"at {revision}, newest is {head_revision()}: run omnicart migrate"
    except Exception as exc:
        logger.warning("readiness: database unreachable: %s", exc)
        database = migrations = "unreachable"
    redis = "not configured"
    if isinstance(ctx.fanout, RedisFanOut):
        redis = "ok" if await ctx.fanout.ping() else "unreachable: writes are durable, fan-out is degraded"
    fanout = ctx.fanout.state
    ok = database == migrations == "ok" and redis in ("ok", "not configured")
    readiness = Readiness(ready=ok, database=database, migrations=migrations, redis=redis, fanout=fanout)
    if not ok:
        raise NotReady("Not ready to serve: " + _what_is_wrong(readiness), **msgspec.structs.asdict(readiness))
    return readiness


def _what_is_wrong(readiness: Readiness) -> str:
    parts = {"database": readiness.database, "migrations": readiness.migrations, "redis": readiness.redis}
    return "; ".join(f"{name} {state}" for name, state in parts.items() if state not in ("ok", "not configured")) + "."
