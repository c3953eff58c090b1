"""Stopping background tasks for sure, shared by the server and the SDK."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

RECANCEL_SECONDS = 0.05
"""How long a cancelled task may run on before it is cancelled again."""


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel the tasks and return once every one has ended; what each ended with is left for its owner to read.

    One cancellation is not always enough: on Python 3.11, `asyncio.wait_for` swallows it when what it waits on
    finishes in the same turn of the loop, and redis-py sends every command through `wait_for`. A task that swallowed
    it runs on to its next wait, where it may wait forever (a socket's task did, holding the socket open): so it is
    cancelled again until it ends.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_SECONDS)
