"""cancel_and_wait: background tasks end even when one swallows its cancellation."""

from __future__ import annotations

import asyncio

from omnicart.cancellation import cancel_and_wait


async def _swallows_one_cancellation(resumed: asyncio.Event) -> None:
    """What a task does after Python 3.11's `asyncio.wait_for` ate its cancellation: it goes on waiting for work."""
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        resumed.set()
    await asyncio.Event().wait()


async def test_a_task_that_swallows_its_cancellation_is_cancelled_again_until_it_ends() -> None:
    resumed = asyncio.Event()
    stubborn = asyncio.create_task(_swallows_one_cancellation(resumed))
    plain = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)

    await asyncio.wait_for(cancel_and_wait([stubborn, plain]), timeout=5)

    assert resumed.is_set()
    assert stubborn.cancelled()
    assert plain.cancelled()


async def test_tasks_already_ended_are_left_as_they_ended() -> None:
    finished = asyncio.create_task(asyncio.sleep(0, result="done"))
    await finished

    await cancel_and_wait([finished])

    assert finished.result() == "done"
