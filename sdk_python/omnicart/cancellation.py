"""Stopping background tasks for sure, shared by the server and the SDK."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

RECANCEL_SECONDS = 1.0
"""How long a cancelled task may run on before it is cancelled again: long enough for ordinary cleanup (a closing
handshake, a rollback) to finish, which a second cancellation would cut short."""


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> list[BaseException]:
    """Cancel the tasks, return once every one has ended, with the errors they ended with other than cancellation.

    One cancellation is not always enough: on Python 3.11, `asyncio.wait_for` swallows it when what it waits on
    finishes in the same turn of the loop, and redis-py 8 sends each command through `wait_for` when the client has
    a socket timeout (the server's has). A task that swallowed it runs on to its next wait, where it may wait forever
    (a socket's task did, holding the socket open): so it is cancelled again until it ends. If the caller is itself
    cancelled meanwhile, it still waits for them, then raises.
    """
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    interrupted = False
    while pending:
        for task in pending:
            task.cancel()
        try:
            _, pending = await asyncio.wait(pending, timeout=RECANCEL_SECONDS)
        except asyncio.CancelledError:
            interrupted = True
    errors = [error for task in tasks if not task.cancelled() and (error := task.exception()) is not None]
    if interrupted:
        raise asyncio.CancelledError
    return errors
