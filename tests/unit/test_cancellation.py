"""cancel_and_wait: background tasks end even when one swallows its cancellation, or the caller is cancelled."""

from __future__ import annotations

import asyncio

import pytest

from omnicart.cancellation import cancel_and_wait

DEADLINE = 10.0
"""Far above the re-cancel interval: a task left running fails the test instead of hanging it."""


async def _swallows_one_cancellation(resumed: asyncio.Event) -> None:
    """What a task does after Python 3.11's `asyncio.wait_for` ate its cancellation: it goes on waiting for work."""
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        resumed.set()
    await asyncio.Event().wait()


async def _fails_when_cancelled() -> None:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        raise RuntimeError("cleanup failed") from None


async def test_a_task_that_swallows_its_cancellation_is_cancelled_again_until_it_ends() -> None:
    resumed = asyncio.Event()
    stubborn = asyncio.create_task(_swallows_one_cancellation(resumed))
    plain = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)

    async with asyncio.timeout(DEADLINE):
        errors = await cancel_and_wait([stubborn, plain])

    assert resumed.is_set()
    assert stubborn.cancelled()
    assert plain.cancelled()
    assert errors == []


async def test_what_a_task_fails_with_is_returned_and_an_ended_task_is_left_as_it_ended() -> None:
    failing = asyncio.create_task(_fails_when_cancelled())
    finished = asyncio.create_task(asyncio.sleep(0, result="done"))
    await finished

    errors = await cancel_and_wait([failing, finished])

    assert [str(error) for error in errors] == ["cleanup failed"]
    assert finished.result() == "done"


async def test_a_cancelled_caller_still_sees_its_tasks_end_before_it_is_cancelled() -> None:
    resumed = asyncio.Event()
    stubborn = asyncio.create_task(_swallows_one_cancellation(resumed))
    await asyncio.sleep(0)
    stopping = asyncio.create_task(cancel_and_wait([stubborn]))
    await asyncio.sleep(0)

    stopping.cancel()
    async with asyncio.timeout(DEADLINE):
        with pytest.raises(asyncio.CancelledError):
            await stopping

    assert stubborn.cancelled()
