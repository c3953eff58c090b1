"""Retry delays: full-jitter exponential backoff (AWS Architecture Blog, "Exponential Backoff And Jitter")."""

from __future__ import annotations

import random
from collections.abc import Iterator


def backoff(first: float = 0.5, cap: float = 20.0) -> Iterator[float]:
    """Endless delays: random between 0 and min(cap, first x 2^n), so reconnecting clients never move in step."""
    attempt = 0
    while True:
        yield random.uniform(0, min(cap, first * 2**attempt))
        attempt += 1
