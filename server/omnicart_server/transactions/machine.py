"""Transaction kinds as small state machines read from configuration: which moves are allowed, and what they need.

The default checkout (machines.json):

    open ──► details ──► payment_pending ──► completed      (entered only by the payment backend)
     │  ◄──     │   ◄──         │
     └──────────┴───────────────┴──► cancelled

`requires` lists the fields a state needs before it is entered; `locks_cart` refuses cart edits while in it;
`freezes_cart` snapshots the cart's lines and prices when the transaction starts (and again when it locks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import msgspec

from omnicart_server.errors import InvalidTransition, MissingFields, TransactionFinished, UnknownTransactionKind

DEFAULT_MACHINES = Path(__file__).with_name("machines.json")


class StateSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    next: list[str] = []
    requires: list[str] = []
    final: bool = False
    locks_cart: bool = False
    entered_by: Literal["device", "payment"] = "device"
    """`payment`: only the payment backend's confirmation enters this state."""


class Machine(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    initial: str
    states: dict[str, StateSpec]
    freezes_cart: bool = False

    def state(self, name: str) -> StateSpec:
        return self.states[name]

    def check_start(self, fields: dict[str, Any]) -> None:
        """Refuse to start without the fields the initial state requires."""
        self._check_fields(self.initial, fields)

    def check_move(self, current: str, target: str, fields: dict[str, Any], *, by: str = "device") -> None:
        """Refuse a move the machine does not allow, by this actor, or without the target's required fields."""
        here = self.states[current]
        if here.final:
            raise TransactionFinished(f"The transaction is {current}, a final state: it cannot change any more.")
        if target not in here.next or target not in self.states:
            raise InvalidTransition(
                f"A transaction in {current!r} cannot move to {target!r}.", allowed_next=list(here.next)
            )
        if self.states[target].entered_by != by:
            raise InvalidTransition(
                f"{target!r} is entered by the {self.states[target].entered_by} backend, not by a device.",
                allowed_next=[name for name in here.next if self.states[name].entered_by == "device"],
            )
        self._check_fields(target, fields)

    def _check_fields(self, state: str, fields: dict[str, Any]) -> None:
        missing = [name for name in self.states[state].requires if fields.get(name) in (None, "")]
        if missing:
            raise MissingFields(f"{state!r} needs {', '.join(missing)} first.", missing=missing)


class MachineError(Exception):
    """The transactions file cannot be used; the message says what to fix."""


def load_machines(path: str | None) -> dict[str, Machine]:
    """Every kind in a machines file (the shipped defaults when None), checked for dangling states."""
    source = Path(path) if path else DEFAULT_MACHINES
    try:
        machines = msgspec.json.decode(source.read_bytes(), type=dict[str, Machine])
    except (OSError, msgspec.DecodeError) as exc:
        raise MachineError(f"Cannot use transactions file {source}: {exc}") from exc
    for kind, machine in machines.items():
        if machine.initial not in machine.states:
            raise MachineError(f"{kind}: initial state {machine.initial!r} is not among its states.")
        for name, state in machine.states.items():
            unknown = [target for target in state.next if target not in machine.states]
            if unknown:
                raise MachineError(f"{kind}.{name}: next names unknown state(s) {', '.join(unknown)}.")
    return machines


def machine_for(machines: dict[str, Machine], kind: str) -> Machine:
    machine = machines.get(kind)
    if machine is None:
        known = ", ".join(sorted(machines))
        raise UnknownTransactionKind(f"There is no transaction kind {kind!r}; this server has {known}.")
    return machine
