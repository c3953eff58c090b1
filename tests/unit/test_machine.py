"""The pure transaction machines: loading and checking a machines file, and every rule of a move."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from omnicart_server.errors import InvalidTransition, MissingFields, TransactionFinished, UnknownTransactionKind
from omnicart_server.transactions.machine import MachineError, load_machines, machine_for

SHIPPED = load_machines(None)
CHECKOUT = SHIPPED["checkout"]
DETAILS = {"contact": "ana@example.com", "fulfilment": "pickup"}


def write(tmp_path: Path, machines: Any) -> str:
    path = tmp_path / "machines.json"
    path.write_text(machines if isinstance(machines, str) else json.dumps(machines))
    return str(path)


def test_shipped_kinds_load() -> None:
    """Without a file, the shipped checkout, booking, return and support_case load with their initial states."""
    assert {kind: machine.initial for kind, machine in SHIPPED.items()} == {
        "checkout": "open",
        "booking": "requested",
        "return": "requested",
        "support_case": "open",
    }


def test_only_checkout_freezes_and_locks_the_cart() -> None:
    """Checkout freezes the cart and locks it in payment_pending; no other shipped kind touches the cart."""
    assert [kind for kind, machine in SHIPPED.items() if machine.freezes_cart] == ["checkout"]
    locking = [(kind, name) for kind, m in SHIPPED.items() for name, state in m.states.items() if state.locks_cart]
    assert locking == [("checkout", "payment_pending")]


def test_a_valid_file_loads(tmp_path: Path) -> None:
    """A file's kinds replace the shipped ones, with defaults for what a state leaves out."""
    machines = load_machines(
        write(tmp_path, {"repair": {"initial": "in", "states": {"in": {"next": ["out"]}, "out": {"final": True}}}})
    )
    assert list(machines) == ["repair"]
    state = machines["repair"].state("in")
    assert (state.requires, state.final, state.locks_cart, state.entered_by) == ([], False, False, "device")


def test_missing_file_is_a_machine_error(tmp_path: Path) -> None:
    """A path that does not exist raises MachineError naming the file."""
    with pytest.raises(MachineError, match=r"nowhere\.json"):
        load_machines(str(tmp_path / "nowhere.json"))


@pytest.mark.parametrize(
    ("content", "match"),
    [
        pytest.param("{oops", "Cannot use transactions file", id="not-json"),
        pytest.param([1, 2], "Cannot use transactions file", id="not-an-object"),
        pytest.param({"k": {"states": {}}}, "Cannot use transactions file", id="no-initial"),
        pytest.param({"k": {"initial": "a", "states": {"a": {"nxt": []}}}}, "Cannot use", id="unknown-field"),
        pytest.param({"k": {"initial": "a", "states": {"a": {"final": "yes"}}}}, "Cannot use", id="wrong-type"),
        pytest.param(
            {"k": {"initial": "a", "states": {"a": {"entered_by": "robot"}}}}, "Cannot use", id="unknown-actor"
        ),
        pytest.param({"k": {"initial": "z", "states": {"a": {}}}}, "k: initial state 'z'", id="initial-unknown"),
        pytest.param(
            {"k": {"initial": "a", "states": {"a": {"next": ["b", "c"]}, "b": {}}}},
            r"k\.a: next names unknown state\(s\) c\.",
            id="dangling-next",
        ),
    ],
)
def test_unusable_file_is_a_machine_error(tmp_path: Path, content: Any, match: str) -> None:
    """Malformed JSON, unknown fields, wrong types and dangling state names raise MachineError saying what."""
    with pytest.raises(MachineError, match=match):
        load_machines(write(tmp_path, content))


def test_allowed_move_passes() -> None:
    """A move listed in `next`, with the target's required fields present, raises nothing."""
    CHECKOUT.check_move("open", "details", DETAILS)
    CHECKOUT.check_move("details", "payment_pending", {})


def test_move_not_in_next_lists_allowed_next() -> None:
    """A move the state does not list raises InvalidTransition with allowed_next."""
    with pytest.raises(InvalidTransition) as caught:
        CHECKOUT.check_move("open", "payment_pending", DETAILS)
    assert caught.value.extra["allowed_next"] == ["details", "cancelled"]


def test_move_to_an_unknown_state_is_invalid() -> None:
    """A target that is no state of the machine raises InvalidTransition."""
    with pytest.raises(InvalidTransition):
        CHECKOUT.check_move("open", "teleported", {})


def test_device_cannot_enter_a_payment_state() -> None:
    """A device moving to a state entered by the payment backend is refused; allowed_next lists device moves only."""
    with pytest.raises(InvalidTransition) as caught:
        CHECKOUT.check_move("payment_pending", "completed", DETAILS)
    assert caught.value.extra["allowed_next"] == ["details", "cancelled"]


def test_payment_backend_enters_a_payment_state() -> None:
    """The same move by the payment backend passes."""
    CHECKOUT.check_move("payment_pending", "completed", DETAILS, by="payment")


def test_payment_backend_cannot_enter_a_device_state() -> None:
    """The payment backend moving to a state entered by devices is refused."""
    with pytest.raises(InvalidTransition):
        CHECKOUT.check_move("payment_pending", "cancelled", DETAILS, by="payment")


def test_missing_required_fields_are_listed() -> None:
    """A target whose required fields are absent raises MissingFields listing them in order."""
    with pytest.raises(MissingFields) as caught:
        CHECKOUT.check_move("open", "details", {})
    assert caught.value.extra["missing"] == ["contact", "fulfilment"]


@pytest.mark.parametrize("empty", [None, ""])
def test_empty_field_counts_as_missing(empty: str | None) -> None:
    """A required field that is null or an empty string is missing."""
    with pytest.raises(MissingFields) as caught:
        CHECKOUT.check_move("open", "details", {"contact": empty, "fulfilment": "delivery"})
    assert caught.value.extra["missing"] == ["contact"]


@pytest.mark.parametrize("present", [0, False, [], {}])
def test_falsy_but_present_field_counts_as_given(present: object) -> None:
    """A required field holding 0, false or an empty collection is given: only null and "" are missing."""
    CHECKOUT.check_move("open", "details", {"contact": present, "fulfilment": "delivery"})


def test_final_state_refuses_every_move() -> None:
    """From a final state every move raises TransactionFinished, even one back to a listed state."""
    for target in ("open", "details", "cancelled"):
        with pytest.raises(TransactionFinished):
            CHECKOUT.check_move("cancelled", target, DETAILS)


def test_machine_for_known_kind() -> None:
    """machine_for returns the machine of a configured kind."""
    assert machine_for(SHIPPED, "booking") is SHIPPED["booking"]


def test_machine_for_unknown_kind_names_the_known_ones() -> None:
    """An unknown kind raises UnknownTransactionKind listing the configured kinds."""
    with pytest.raises(UnknownTransactionKind, match="booking, checkout, return, support_case"):
        machine_for(SHIPPED, "mortgage")
