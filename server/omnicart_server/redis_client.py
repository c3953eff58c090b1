"""The process's Redis clients, on a bounded pool that queues work beyond it instead of failing."""

from __future__ import annotations

import redis.asyncio as aioredis

POOL_WAIT_SECONDS = 5.0
"""How long work waits for a free pooled connection before it fails as Redis being unreachable would."""


def redis_client(url: str, pool_size: int, *, socket_timeout: float) -> aioredis.Redis:
    """A client whose commands share at most `pool_size` connections.

    redis-py's default pool raises "Too many connections" past 100 in use: a burst of devices connecting at once
    (each writes its presence) took it there, and the fan-out went degraded. Its blocking pool waits instead.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        timeout=POOL_WAIT_SECONDS,
        socket_timeout=socket_timeout,
        socket_connect_timeout=2,
    )
    return aioredis.Redis.from_pool(pool)  # which closes the pool with the client
