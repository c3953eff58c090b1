"""The Omnicart wire protocol: every request, response, event and error, shared by server and SDK."""

from omnicart.protocol.assist import AgentPickup, AgentSession, AssistOffer
from omnicart.protocol.cart import (
    AddItem,
    Cart,
    CartLine,
    CartOp,
    CartOpsRequest,
    Clear,
    RemoveItem,
    SetPrice,
    SetQuantity,
)
from omnicart.protocol.catalog import CatalogItem, CatalogPage
from omnicart.protocol.events import Event, EventKind, EventPage
from omnicart.protocol.handoff import HANDOFF_ALPHABET, ClaimHandoff, HandoffOffer
from omnicart.protocol.identity import (
    CartChange,
    CustomerMerged,
    CustomerProfile,
    HistorySummary,
    Identity,
    LinkIdentity,
    LinkReport,
    MergeStrategy,
    OpenByIdentity,
)
from omnicart.protocol.problems import CloseCode, ErrorCode, Problem
from omnicart.protocol.sessions import KNOWN_CHANNELS, CreateSession, DeviceSession, SessionCreated
from omnicart.protocol.stream import (
    ClientFrame,
    Hello,
    Presence,
    PresenceSession,
    Refresh,
    Refreshed,
    ServerFrame,
    Snapshot,
    Welcome,
)

__all__ = [
    "HANDOFF_ALPHABET",
    "KNOWN_CHANNELS",
    "AddItem",
    "AgentPickup",
    "AgentSession",
    "AssistOffer",
    "Cart",
    "CartChange",
    "CartLine",
    "CartOp",
    "CartOpsRequest",
    "CatalogItem",
    "CatalogPage",
    "ClaimHandoff",
    "Clear",
    "ClientFrame",
    "CloseCode",
    "CreateSession",
    "CustomerMerged",
    "CustomerProfile",
    "DeviceSession",
    "ErrorCode",
    "Event",
    "EventKind",
    "EventPage",
    "HandoffOffer",
    "Hello",
    "HistorySummary",
    "Identity",
    "LinkIdentity",
    "LinkReport",
    "MergeStrategy",
    "OpenByIdentity",
    "Presence",
    "PresenceSession",
    "Problem",
    "Refresh",
    "Refreshed",
    "RemoveItem",
    "ServerFrame",
    "SessionCreated",
    "SetPrice",
    "SetQuantity",
    "Snapshot",
    "Welcome",
]
