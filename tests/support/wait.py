"""Wait on a condition with a deadline: tests never sleep and then assert."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The condition did not hold before the deadline; carries the last value seen."""

    def __init__(self, message: str, last: object) -> None:
        super().__init__(f"{message} (last value: {last!r})")
        self.last = last


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float,
    *,
    interval: float = 0.05,
    message: str = "condition not met",
) -> T:
    """Call `predicate` until it returns a truthy value, and return that value; fail after `timeout` seconds.

    Args:
        predicate: Polled until truthy; its exceptions propagate (the caller decides what is transient).
        timeout: Seconds before giving up.
        interval: Pause between polls.
        message: Says what was awaited, for the failure message.

    Raises:
        WaitTimeout: The deadline passed; the failure names `message` and the last value returned.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"{message} within {timeout:.1f}s", value)
        time.sleep(interval)
