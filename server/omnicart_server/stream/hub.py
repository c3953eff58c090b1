"""In-process fan-out: which of this process's sockets belong to which customer, and handing them committed events.

The hub never blocks a writer: `offer` only puts into each socket's bounded queue. A socket whose queue is full is
cut (close 4008) and resumes from its last seq, so one slow device costs nothing to the others (DESIGN.md §3).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from omnicart.protocol.events import Event

logger = logging.getLogger(__name__)


class Subscriber(Protocol):
    """One live socket, as the hub sees it."""

    customer_id: str
    session_id: str
    channel: str
    device: str
    role: str
    agent_id: str | None

    def offer_event(self, event: Event) -> None:
        """Queue a committed event (or cut the socket when its queue is full)."""

    def offer_head(self, head: int) -> None:
        """The log has reached `head`; fetch what is missing from the log."""

    def presence_changed(self) -> None:
        """The customer's set of connected devices changed."""


CustomerListener = Callable[[str], None]


class Hub:
    """Local sockets by customer; tells the fan-out when a customer gains its first or loses its last socket."""

    def __init__(self, max_sockets_per_customer: int) -> None:
        self._by_customer: dict[str, set[Subscriber]] = {}
        self._max = max_sockets_per_customer
        self.on_first: list[CustomerListener] = []
        self.on_last: list[CustomerListener] = []

    def add(self, subscriber: Subscriber) -> bool:
        """Register a socket; False when its customer already has the maximum."""
        subscribers = self._by_customer.setdefault(subscriber.customer_id, set())
        if len(subscribers) >= self._max:
            return False
        subscribers.add(subscriber)
        if len(subscribers) == 1:
            for listener in self.on_first:
                listener(subscriber.customer_id)
        return True

    def remove(self, subscriber: Subscriber) -> None:
        subscribers = self._by_customer.get(subscriber.customer_id)
        if subscribers is None or subscriber not in subscribers:
            return
        subscribers.discard(subscriber)
        if not subscribers:
            del self._by_customer[subscriber.customer_id]
            for listener in self.on_last:
                listener(subscriber.customer_id)

    def deliver(self, customer_id: str, events: Iterable[Event]) -> None:
        for subscriber in tuple(self._by_customer.get(customer_id, ())):
            for event in events:
                subscriber.offer_event(event)

    def nudge(self, customer_id: str, head: int) -> None:
        for subscriber in tuple(self._by_customer.get(customer_id, ())):
            subscriber.offer_head(head)

    def presence_changed(self, customer_id: str) -> None:
        for subscriber in tuple(self._by_customer.get(customer_id, ())):
            subscriber.presence_changed()

    def subscribers(self, customer_id: str) -> tuple[Subscriber, ...]:
        return tuple(self._by_customer.get(customer_id, ()))

    def customers(self) -> list[str]:
        return list(self._by_customer)

    def connection_count(self) -> int:
        return sum(len(subscribers) for subscribers in self._by_customer.values())
