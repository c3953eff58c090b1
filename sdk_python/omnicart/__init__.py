"""Omnicart Python SDK: one customer, one cart, one journey across POS, kiosk and call-center apps.

client = Client.start("http://127.0.0.1:8000", channel="kiosk", device="kiosk-7", store=FileTokenStore("till.json"))
client.cart.add("JACKET-RAIN", 2)
"""

from omnicart import protocol
from omnicart.client import AsyncClient, Client
from omnicart.errors import (
    AuthError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    OmnicartError,
    ProblemError,
    RateLimitedError,
    ServerError,
    StreamError,
    TransportError,
)
from omnicart.live import Change, ConnectionState, LiveConnection, LiveState, LiveThread
from omnicart.offline import LocalCart, OfflineCart, OfflineQueue, PendingWrite, Rejection
from omnicart.tokens import Credentials, FileTokenStore, MemoryTokenStore, TokenStore

__all__ = [
    "AsyncClient",
    "AuthError",
    "Change",
    "Client",
    "ConflictError",
    "ConnectionState",
    "Credentials",
    "FileTokenStore",
    "ForbiddenError",
    "InvalidRequestError",
    "LiveConnection",
    "LiveState",
    "LiveThread",
    "LocalCart",
    "MemoryTokenStore",
    "NotFoundError",
    "OfflineCart",
    "OfflineQueue",
    "OmnicartError",
    "PendingWrite",
    "ProblemError",
    "RateLimitedError",
    "Rejection",
    "ServerError",
    "StreamError",
    "TokenStore",
    "TransportError",
    "protocol",
]
