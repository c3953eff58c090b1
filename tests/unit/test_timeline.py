"""The pure timeline builder: order across logs, cart runs collapsed, one readable line per step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from omnicart.protocol.events import Event
from omnicart_server.events.timeline import CART_RUN, build_timeline

T0 = datetime(2030, 5, 4, 10, 0, tzinfo=UTC)
ANA, OLD = "cus_ana", "cus_old"
WEB, PHONE = "ses_web", "ses_phone"


def event(
    seq: int,
    kind: str,
    data: dict[str, Any] | None = None,
    *,
    at: timedelta = timedelta(0),
    session_id: str | None = WEB,
    channel: str | None = "web",
) -> Event:
    return Event(seq=seq, kind=kind, at=T0 + at, session_id=session_id, channel=channel, data=data or {})


def cart(seq: int, *ops: dict[str, Any], at: timedelta = timedelta(0), session_id: str = WEB, **more: Any) -> Event:
    channel = "mobile" if session_id == PHONE else "web"
    return event(seq, "cart.updated", {"ops": list(ops), **more}, at=at, session_id=session_id, channel=channel)


def add(sku: str, qty: int = 1) -> dict[str, Any]:
    return {"op": "add_item", "sku": sku, "qty": qty}


def summaries(logs: list[tuple[str, Event]]) -> list[str]:
    return [entry.summary for entry in build_timeline(logs)]


def test_empty_log_is_an_empty_timeline() -> None:
    """No events, no entries."""
    assert build_timeline([]) == []


def test_entry_copies_the_event() -> None:
    """An entry carries the event's time, kind, channel, session, seq and the customer whose log it is in."""
    (entry,) = build_timeline([(ANA, event(7, "session.opened", {"device": "laptop"}, at=timedelta(seconds=3)))])
    assert (entry.at, entry.kind, entry.channel, entry.session_id) == (
        T0 + timedelta(seconds=3),
        "session.opened",
        "web",
        WEB,
    )
    assert (entry.customer_id, entry.seqs, entry.agent_id) == (ANA, [7], None)
    assert entry.summary == "Opened on web (laptop)"


def test_entries_follow_time_not_input_order() -> None:
    """Events given out of order come out sorted by time."""
    logs = [
        (ANA, event(3, "transaction.started", {"kind": "booking"}, at=timedelta(minutes=2))),
        (ANA, event(1, "session.opened", {"device": "laptop"})),
    ]
    assert [entry.seqs for entry in build_timeline(logs)] == [[1], [3]]


def test_logs_of_several_customers_interleave_by_time() -> None:
    """Events of a merged-in log sit between the customer's own by time, each tagged with its log's customer."""
    logs = [
        (ANA, event(1, "session.opened", {"device": "kiosk"}, channel="kiosk")),
        (ANA, event(2, "customer.merged", {"from": OLD}, at=timedelta(minutes=30), session_id=None, channel=None)),
        (OLD, event(1, "session.opened", {"device": "laptop"}, at=timedelta(minutes=10))),
    ]
    assert [(entry.customer_id, entry.seqs) for entry in build_timeline(logs)] == [(ANA, [1]), (OLD, [1]), (ANA, [2])]


def test_same_time_orders_by_seq() -> None:
    """Events at the same instant keep their seq order."""
    logs = [(ANA, event(2, "assist.revoked")), (ANA, event(1, "assist.offered"))]
    assert [entry.seqs for entry in build_timeline(logs)] == [[1], [2]]


def test_cart_run_collapses_into_one_entry() -> None:
    """Cart changes by one device close together become one entry: first time, every seq, every change."""
    logs = [
        (ANA, cart(1, add("CUP"))),
        (ANA, cart(2, add("POT", 2), at=timedelta(minutes=4))),
        (ANA, cart(3, {"op": "remove_item", "line_id": "L1"}, at=timedelta(minutes=8))),
    ]
    (entry,) = build_timeline(logs)
    assert (entry.at, entry.seqs) == (T0, [1, 2, 3])
    assert entry.summary == "Cart on web: +1 CUP; +2 POT; -L1"


def test_cart_run_breaks_after_the_pause() -> None:
    """A cart change more than CART_RUN after the previous one starts a new entry."""
    logs = [(ANA, cart(1, add("CUP"))), (ANA, cart(2, add("POT"), at=CART_RUN + timedelta(seconds=1)))]
    assert [entry.seqs for entry in build_timeline(logs)] == [[1], [2]]


def test_cart_run_pause_counts_from_the_last_change() -> None:
    """A run keeps growing while each change follows the previous one within CART_RUN."""
    step = CART_RUN - timedelta(minutes=1)
    logs = [(ANA, cart(n, add("CUP"), at=step * (n - 1))) for n in range(1, 5)]
    assert [entry.seqs for entry in build_timeline(logs)] == [[1, 2, 3, 4]]


def test_another_device_breaks_a_cart_run() -> None:
    """Cart changes of two devices never collapse together."""
    logs = [(ANA, cart(1, add("CUP"))), (ANA, cart(2, add("POT"), session_id=PHONE)), (ANA, cart(3, add("MUG")))]
    assert summaries(logs) == ["Cart on web: +1 CUP", "Cart on mobile: +1 POT", "Cart on web: +1 MUG"]


def test_another_event_breaks_a_cart_run() -> None:
    """A non-cart event between two cart changes keeps them apart."""
    logs = [
        (ANA, cart(1, add("CUP"))),
        (ANA, event(2, "transaction.started", {"kind": "checkout"})),
        (ANA, cart(3, add("POT"))),
    ]
    assert [entry.kind for entry in build_timeline(logs)] == ["cart.updated", "transaction.started", "cart.updated"]


def test_cart_runs_of_two_logs_stay_apart() -> None:
    """The same session id in two customers' logs does not join their cart changes."""
    logs = [(ANA, cart(1, add("CUP"))), (OLD, cart(1, add("POT")))]
    assert [entry.customer_id for entry in build_timeline(logs)] == [ANA, OLD]


@pytest.mark.parametrize(
    ("op", "said"),
    [
        pytest.param(add("CUP", 3), "+3 CUP", id="add"),
        pytest.param({"op": "set_quantity", "line_id": "L2", "qty": 5}, "L2 x5", id="set_quantity"),
        pytest.param({"op": "remove_item", "line_id": "L2"}, "-L2", id="remove"),
        pytest.param({"op": "clear"}, "cleared", id="clear"),
        pytest.param(
            {"op": "set_price", "line_id": "L1", "unit_price": 300, "reason": "chipped"},
            "L1 priced 300 (chipped)",
            id="set_price",
        ),
    ],
)
def test_cart_ops_are_summarised(op: dict[str, Any], said: str) -> None:
    """Each cart op reads as a short phrase."""
    assert summaries([(ANA, cart(1, op))]) == [f"Cart on web: {said}"]


def test_cart_change_by_the_system_reads_its_reason() -> None:
    """A cart change without a device (a merge, an order) reads as its reason."""
    merged = event(1, "cart.updated", {"ops": [], "reason": "merge"}, session_id=None, channel=None)
    assert summaries([(ANA, merged)]) == ["Cart: merge"]


def test_agent_id_is_carried() -> None:
    """An event written by an agent gives its entry the agent id."""
    opened = event(1, "session.opened", {"agent_id": "agent-7", "device": "desk"}, channel="call_center")
    (entry,) = build_timeline([(ANA, opened)])
    assert (entry.agent_id, entry.summary) == ("agent-7", "Opened on call_center (agent agent-7)")


def test_collapsed_agent_run_keeps_the_agent_id() -> None:
    """A run of an agent's cart changes keeps the agent id."""
    logs = [(ANA, cart(n, add("CUP"), agent_id="agent-7", at=timedelta(seconds=n))) for n in (1, 2)]
    (entry,) = build_timeline(logs)
    assert (entry.agent_id, entry.seqs) == ("agent-7", [1, 2])


@pytest.mark.parametrize(
    ("kind", "data", "said"),
    [
        pytest.param("transaction.started", {"kind": "booking"}, "Started booking on web", id="started"),
        pytest.param(
            "transaction.updated",
            {"kind": "checkout", "previous": "open", "state": "details", "fields": ["contact"]},
            "Checkout: open -> details on web",
            id="moved",
        ),
        pytest.param(
            "transaction.updated",
            {"kind": "booking", "previous": "details", "state": "details", "fields": ["slot", "service"]},
            "Booking: updated slot, service on web",
            id="fields-only",
        ),
        pytest.param(
            "transaction.updated",
            {"kind": "checkout", "previous": "payment_pending", "state": "completed", "by": "payment"},
            "Checkout: payment_pending -> completed by the payment backend",
            id="by-payment",
        ),
        pytest.param("transaction.taken_over", {"kind": "checkout"}, "Checkout taken over on web", id="taken-over"),
        pytest.param(
            "order.created", {"order_id": "ord_1", "total": 900, "currency": "EUR"}, "Order ord_1 placed: 900 EUR"
        ),
        pytest.param("assist.offered", {}, "Asked for help: PIN shown on web", id="assist-offered"),
        pytest.param("assist.revoked", {}, "Withdrew consent for agent help", id="assist-revoked"),
        pytest.param("handoff.offered", {}, "Offered to continue on another device on web", id="handoff-offered"),
        pytest.param("handoff.claimed", {}, "Continued on another device on web", id="handoff-claimed"),
        pytest.param("session.revoked", {"session_id": "ses_x"}, "Ended session ses_x on web", id="revoked"),
        pytest.param(
            "identity.linked", {"kind": "email", "value": "a@b.c"}, "Recognised by email a@b.c", id="identity"
        ),
        pytest.param(
            "customer.merged",
            {"into": "cus_known", "strategy": "sum_quantities"},
            "Merged with customer cus_known (sum_quantities)",
            id="merged",
        ),
        pytest.param("something.new", {}, "something.new", id="unknown-kind"),
    ],
)
def test_each_kind_reads_as_one_line(kind: str, data: dict[str, Any], said: str) -> None:
    """Every event kind has its own one-line summary; an unknown kind reads as its name."""
    assert summaries([(ANA, event(1, kind, data))]) == [said]
