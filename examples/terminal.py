"""What the three example apps share: a cart drawn as text, money in major units, and a command table.

Each app reads one command per line (from a person at the keyboard, or piped in by a script) and looks it up here,
so `help`, argument checks and error messages read the same in the kiosk, the till and the agent console.
"""

from __future__ import annotations

import inspect
import shlex
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from omnicart import OmnicartError, ProblemError
from omnicart.protocol.cart import Cart

Handler = Callable[..., object]
"""Takes the command's words as strings; may return an awaitable (the kiosk's handlers are async)."""


class UsageError(Exception):
    """The person typed a command wrongly: say how it is used, and carry on."""


def money(minor: int, currency: str) -> str:
    return f"{Decimal(minor) / 100:.2f} {currency}".strip()


def minor_units(typed: str) -> int:
    """'4.50' as 450: the agent types prices as they are spoken."""
    try:
        amount = Decimal(typed)
    except InvalidOperation:
        raise UsageError(f"{typed!r} is not an amount such as 4.50") from None
    if amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise UsageError(f"{typed!r} is not an amount such as 4.50")
    return int(amount * 100)


def count(typed: str) -> int:
    if not typed.isdigit():
        raise UsageError(f"{typed!r} is not a whole number")
    return int(typed)


def draw_cart(cart: Cart, *, pending_skus: frozenset[str] = frozenset()) -> str:
    """The cart as a small table; lines a till has not sent yet are marked `pending`."""
    if not cart.lines:
        return f"  (empty cart, version {cart.version})"
    rows = []
    for line in cart.lines:
        note = "  pending" if line.sku in pending_skus else ""
        if line.price_reason:
            note += f"  price set by agent: {line.price_reason}"
        rows.append(
            f"  {line.line_id:<4} {line.qty:>3} x {line.title:<28.28} {money(line.line_total, cart.currency):>12}{note}"
        )
    rows.append(f"  {'':<4} {cart.item_count:>3} items{'':<26}{money(cart.subtotal, cart.currency):>12}")
    return "\n".join(rows)


def describe(error: Exception) -> str:
    """One line for the person: the server's own sentence and code when it answered."""
    if isinstance(error, ProblemError):
        return f"{error.problem.detail} ({error.code})"
    return str(error)


@dataclass(frozen=True)
class Command:
    handler: Handler
    usage: str
    words: tuple[int, int | None]
    """How many words it takes: at least, at most (None: the rest of the line is one more word)."""


class Commands:
    """A table of commands by name; `parse` turns a typed line into the handler and its words."""

    def __init__(self) -> None:
        self._table: dict[str, Command] = {}

    def add(self, name: str, handler: Handler, usage: str, words: tuple[int, int | None] = (0, 0)) -> None:
        self._table[name] = Command(handler, usage, words)

    def help(self) -> str:
        return "\n".join(f"  {command.usage}" for command in self._table.values())

    def parse(self, line: str) -> tuple[Handler, list[str]] | None:
        """The handler and its words, or None for a blank line; UsageError for anything else."""
        try:
            typed = shlex.split(line)
        except ValueError:
            raise UsageError("unbalanced quotes") from None
        if not typed:
            return None
        name, *words = typed
        command = self._table.get(name.lower())
        if command is None:
            raise UsageError(f"no command {name!r}; type `help`")
        least, most = command.words
        if most is None and len(words) > max(least, 1):
            tail = max(least, 1) - 1  # the last word takes the rest of the line: a reason typed without quotes
            words = [*words[:tail], " ".join(words[tail:])]
        if len(words) < least or (most is not None and len(words) > most):
            raise UsageError(f"usage: {command.usage}")
        return command.handler, words

    def run(self, line: str) -> None:
        """Do what the line says; when it cannot be done, print why and carry on."""
        try:
            parsed = self.parse(line)
            if parsed is not None:
                parsed[0](*parsed[1])
        except (UsageError, OmnicartError) as error:
            print(f"! {describe(error)}")

    async def run_async(self, line: str) -> None:
        """`run` for apps whose handlers are coroutines."""
        try:
            parsed = self.parse(line)
            if parsed is not None:
                result = parsed[0](*parsed[1])
                if inspect.isawaitable(result):
                    await result
        except (UsageError, OmnicartError) as error:
            print(f"! {describe(error)}")


def typed_lines(prompt: str) -> Iterator[str]:
    """Lines from the keyboard (or a script piped in) until `quit` or the end of input."""
    while True:
        print(prompt, end="", flush=True)
        line = sys.stdin.readline()
        if not line or line.strip() in ("quit", "exit"):
            return
        yield line
