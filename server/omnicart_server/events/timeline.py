"""Turn event logs into a timeline a person can read: pure, one line per step, cart edits summarised."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import msgspec

from omnicart.protocol.events import Event, EventKind
from omnicart.protocol.timeline import TimelineEntry

CART_RUN = timedelta(minutes=10)
"""Cart changes by one device closer together than this read as one entry."""


def build_timeline(logs: Iterable[tuple[str, Event]]) -> list[TimelineEntry]:
    """Entries in time order from (customer id, event) pairs of one or more logs."""
    entries: list[TimelineEntry] = []
    last_change = None
    for customer_id, event in sorted(logs, key=lambda item: (item[1].at, item[1].seq)):
        entry = _entry(customer_id, event)
        previous = entries[-1] if entries else None
        if previous is not None and last_change is not None and _same_cart_run(previous, entry, last_change):
            entries[-1] = _joined(previous, entry)
        else:
            entries.append(entry)
        last_change = event.at
    return entries


def _same_cart_run(previous: TimelineEntry, entry: TimelineEntry, last_change: datetime) -> bool:
    """A cart change joins the run before it when the same device made it within CART_RUN of the last change."""
    return (
        previous.kind == entry.kind == EventKind.CART_UPDATED
        and previous.session_id == entry.session_id
        and previous.customer_id == entry.customer_id
        and entry.at - last_change <= CART_RUN
    )


def _joined(previous: TimelineEntry, entry: TimelineEntry) -> TimelineEntry:
    prefix, _, earlier = previous.summary.partition(": ")
    later = entry.summary.partition(": ")[2]
    return msgspec.structs.replace(
        entry, at=previous.at, summary=f"{prefix}: {earlier}; {later}", seqs=[*previous.seqs, *entry.seqs]
    )


def _entry(customer_id: str, event: Event) -> TimelineEntry:
    return TimelineEntry(
        at=event.at,
        kind=event.kind,
        summary=_summary(event),
        channel=event.channel,
        session_id=event.session_id,
        customer_id=customer_id,
        seqs=[event.seq],
        agent_id=event.data.get("agent_id"),
    )


def _summary(event: Event) -> str:
    data, where = event.data, f" on {event.channel}" if event.channel else ""
    match event.kind:
        case EventKind.SESSION_OPENED:
            who = f"agent {data['agent_id']}" if data.get("agent_id") else str(data.get("device", "a device"))
            return f"Opened{where} ({who})"
        case EventKind.SESSION_REVOKED:
            return f"Ended session {data.get('session_id')}{where}"
        case EventKind.CART_UPDATED:
            return f"Cart{where}: {_cart_changes(data)}"
        case EventKind.HANDOFF_OFFERED:
            return f"Offered to continue on another device{where}"
        case EventKind.HANDOFF_CLAIMED:
            return f"Continued on another device{where}"
        case EventKind.IDENTITY_LINKED:
            return f"Recognised by {data.get('kind')} {data.get('value')}"
        case EventKind.CUSTOMER_MERGED:
            other = data.get("into") or data.get("from")
            return f"Merged with customer {other}" + (f" ({data['strategy']})" if data.get("strategy") else "")
        case EventKind.ASSIST_OFFERED:
            return f"Asked for help: PIN shown{where}"
        case EventKind.ASSIST_REVOKED:
            return "Withdrew consent for agent help"
        case EventKind.TRANSACTION_STARTED:
            return f"Started {data.get('kind')}{where}"
        case EventKind.TRANSACTION_UPDATED:
            return _transaction_step(data, where)
        case EventKind.TRANSACTION_TAKEN_OVER:
            return f"{str(data.get('kind', 'transaction')).capitalize()} taken over{where}"
        case EventKind.ORDER_CREATED:
            return f"Order {data.get('order_id')} placed: {data.get('total')} {data.get('currency')}"
        case _:
            return event.kind


def _cart_changes(data: dict[str, Any]) -> str:
    if data.get("reason"):
        return f"{data['reason']}"
    said = []
    for op in data.get("ops", []):
        match op.get("op"):
            case "add_item":
                said.append(f"+{op.get('qty', 1)} {op.get('sku')}")
            case "set_quantity":
                said.append(f"{op.get('line_id')} x{op.get('qty')}")
            case "remove_item":
                said.append(f"-{op.get('line_id')}")
            case "clear":
                said.append("cleared")
            case "set_price":
                said.append(f"{op.get('line_id')} priced {op.get('unit_price')} ({op.get('reason')})")
    return ", ".join(said) or "changed"


def _transaction_step(data: dict[str, Any], where: str) -> str:
    kind = str(data.get("kind", "transaction")).capitalize()
    if data.get("state") and data.get("state") != data.get("previous"):
        by = " by the payment backend" if data.get("by") == "payment" else where
        return f"{kind}: {data.get('previous')} -> {data.get('state')}{by}"
    return f"{kind}: updated {', '.join(data.get('fields', [])) or 'fields'}{where}"
