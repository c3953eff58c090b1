"""Fan-out of committed events and presence to this process's sockets; the default needs nothing else to run.

Presence is ephemeral (never in the log): a device is present while one of its sockets is connected, and stays
present for a grace period after its last socket goes, so a quick reconnect does not flap.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import TYPE_CHECKING

from omnicart.protocol.stream import PresenceSession

if TYPE_CHECKING:
    from omnicart_server.db.writer import CommittedEvent
    from omnicart_server.stream.hub import Hub, Subscriber

logger = logging.getLogger(__name__)


class FanOut:
    """In-process broker: events committed here reach sockets here."""

    def __init__(self, hub: Hub, presence_grace_seconds: float) -> None:
        self.hub = hub
        self._grace = presence_grace_seconds
        self._present: dict[str, dict[str, PresenceSession]] = defaultdict(dict)
        self._leaving: dict[tuple[str, str], asyncio.TimerHandle] = {}

    @property
    def state(self) -> str:
        """`ok`, or what is degraded; shown by /ready and /metrics."""
        return "in-process"

    async def start(self) -> None:
        """Begin delivering."""

    async def stop(self) -> None:
        for timer in self._leaving.values():
            timer.cancel()
        self._leaving.clear()

    def publish(self, committed: list[CommittedEvent]) -> None:
        """Hand events to local sockets, grouped per customer in commit order (a writer's commit listener)."""
        by_customer: dict[str, list[CommittedEvent]] = defaultdict(list)
        for item in committed:
            by_customer[item.customer_id].append(item)
        for customer_id, items in by_customer.items():
            self.hub.deliver(customer_id, [item.event for item in items])

    def joined(self, subscriber: Subscriber) -> None:
        """A socket of this session connected: present now (a pending 'left' is called off)."""
        timer = self._leaving.pop((subscriber.customer_id, subscriber.session_id), None)
        if timer is not None:
            timer.cancel()
        present = self._present[subscriber.customer_id]
        if subscriber.session_id not in present:
            present[subscriber.session_id] = PresenceSession(
                session_id=subscriber.session_id,
                channel=subscriber.channel,
                device=subscriber.device,
                role=subscriber.role,
                agent_id=subscriber.agent_id,
            )
            self._announce(subscriber.customer_id)

    def left(self, subscriber: Subscriber) -> None:
        """A socket went: the session leaves after the grace period unless another of its sockets is connected."""
        if any(other.session_id == subscriber.session_id for other in self.hub.subscribers(subscriber.customer_id)):
            return
        key = (subscriber.customer_id, subscriber.session_id)
        if key in self._leaving:
            return
        self._leaving[key] = asyncio.get_running_loop().call_later(self._grace, self._expire, key)

    def _expire(self, key: tuple[str, str]) -> None:
        customer_id, session_id = key
        self._leaving.pop(key, None)
        present = self._present.get(customer_id)
        if present is not None and present.pop(session_id, None) is not None:
            if not present:
                del self._present[customer_id]
            self._announce(customer_id)

    def _announce(self, customer_id: str) -> None:
        self.hub.presence_changed(customer_id)

    async def online(self, customer_id: str) -> list[PresenceSession]:
        """The customer's sessions present right now."""
        return sorted(self._present.get(customer_id, {}).values(), key=lambda session: session.session_id)

    def forget_session(self, customer_id: str, session_id: str) -> None:
        """A revoked session is gone at once, with no grace period."""
        key = (customer_id, session_id)
        timer = self._leaving.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._expire(key)
