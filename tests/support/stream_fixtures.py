"""What the live-stream fixtures (tests/stream/conftest.py) hand to tests: their call signatures and server settings.

Kept out of the conftest so test modules can import them: pytest imports a conftest under its own module name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.async_devices import AsyncDevice
    from tests.support.server import ServerProcess
    from tests.support.stream import Follower, StreamClient

TUNED_ENV = {
    "OMNICART_HELLO_TIMEOUT_SECONDS": "1",
    "OMNICART_PRESENCE_GRACE_SECONDS": "1",
    "OMNICART_MAX_FRAME_BYTES": "4096",
}
"""The `tuned_server`: short timeouts for the tests that wait them out, and a frame limit far above any hello."""
CAPPED_ENV = {"OMNICART_MAX_SOCKETS_PER_CUSTOMER": "2"}
"""The `capped_server`: two sockets per customer."""


class OpenStreamDevice(Protocol):
    """The `stream_device` fixture: an async device session, on the shared `server` unless one is given."""

    async def __call__(
        self,
        server: ServerProcess | None = None,
        *,
        channel: str = "web",
        device: str = "test-device",
        customer_token: str | None = None,
    ) -> AsyncDevice: ...


class ConnectStream(Protocol):
    """The `connect_stream` fixture: a StreamClient on `server`, sending hello when given a token."""

    async def __call__(
        self,
        server: ServerProcess,
        token: str | None = None,
        *,
        since: int = 0,
        epoch: str | None = None,
        name: str = "client",
        max_queue: int | None = 16,
        receive_buffer: int | None = None,
    ) -> StreamClient: ...


class Follow(Protocol):
    """The `follow` fixture: a Follower with the device's token."""

    def __call__(self, device: AsyncDevice, name: str | None = None) -> Follower: ...


class StartCatalogServer(Protocol):
    """The `start_catalog_server` fixture: a server of the test's own with this catalog file."""

    def __call__(self, catalog: Path, *, env: Mapping[str, str] | None = None) -> ServerProcess: ...


async def connected(connect_stream: ConnectStream, server: ServerProcess, device: AsyncDevice) -> StreamClient:
    """The device's stream, once the server welcomed it."""
    stream = await connect_stream(server, device.session_token, name=device.device)
    await stream.wait_for_welcome()
    return stream
