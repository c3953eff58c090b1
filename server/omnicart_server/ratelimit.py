"""Fixed-window attempt counters: in this process, or in Redis so the bound holds across processes."""

from __future__ import annotations

import logging
import math
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from omnicart_server.errors import RateLimited

logger = logging.getLogger(__name__)


class RateLimiter:
    """Counts attempts per key and window; refuses with 429 past the limit."""

    def __init__(self, redis: aioredis.Redis | None) -> None:
        self._redis = redis
        self._local: dict[str, tuple[int, int]] = {}

    async def hit(self, key: str, limit: int, window_seconds: int, what: str) -> None:
        """Count one attempt; raise RateLimited when this key is over `limit` in the current window."""
        window = int(time.time() // window_seconds)
        count = await self._count(f"oc:rl:{key}:{window}", window, window_seconds)
        if count > limit:
            retry_after = max(1, math.ceil((window + 1) * window_seconds - time.time()))
            raise RateLimited(f"Too many {what}; try again in {retry_after} s.", retry_after=retry_after)

    async def _count(self, name: str, window: int, window_seconds: int) -> int:
        if self._redis is not None:
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.incr(name)
                    pipe.expire(name, window_seconds * 2)
                    count, _ = await pipe.execute()
                return int(count)
            except (RedisError, OSError) as exc:
                logger.warning("rate limiter falls back to this process's counts: %s", exc)
        started, count = self._local.get(name, (window, 0))
        self._local[name] = (started, count + 1)
        if len(self._local) > 100_000:  # old windows are never asked again
            current = {key: value for key, value in self._local.items() if value[0] >= window - 1}
            self._local = current
        return count + 1

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
