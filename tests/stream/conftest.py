"""Fixtures of the live-stream tests: devices, stream connections and servers with stream settings of their own.

Devices and connections are always closed after the test. Servers come from tests/conftest.py (`server`,
`start_server`, parametrized over the backends) where they can; `tuned_server` and `capped_server` are shared per
backend like `server`, with TUNED_ENV and CAPPED_ENV (tests.support.stream_fixtures); `start_catalog_server` starts
one with a catalog file the test writes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import pytest

from tests.support.async_devices import AsyncDevice, open_async_device
from tests.support.databases import Databases
from tests.support.server import ServerProcess, track_server
from tests.support.stream import Follower, StreamClient
from tests.support.stream_fixtures import (
    CAPPED_ENV,
    TUNED_ENV,
    ConnectStream,
    Follow,
    OpenStreamDevice,
    StartCatalogServer,
)


def _session_server(
    databases: Databases, catalog_file: Path, tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str]
) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("logs") / f"{name}-{databases.backend}.log"
    server = ServerProcess(databases.new(), log, env=env, catalog=catalog_file)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _tuned_server(
    databases: Databases, catalog_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    yield from _session_server(databases, catalog_file, tmp_path_factory, "tuned", TUNED_ENV)


@pytest.fixture(scope="session")
def _capped_server(
    databases: Databases, catalog_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    yield from _session_server(databases, catalog_file, tmp_path_factory, "capped", CAPPED_ENV)


@pytest.fixture
def tuned_server(_tuned_server: ServerProcess, request: pytest.FixtureRequest) -> ServerProcess:
    """A server shared by the tests of one backend, with TUNED_ENV: hello timeout and presence grace of 1 s."""
    if not _tuned_server.alive():
        _tuned_server.start()
    return track_server(request, _tuned_server)


@pytest.fixture
def capped_server(_capped_server: ServerProcess, request: pytest.FixtureRequest) -> ServerProcess:
    """A server shared by the tests of one backend, allowing 2 sockets per customer (CAPPED_ENV)."""
    if not _capped_server.alive():
        _capped_server.start()
    return track_server(request, _capped_server)


class Tracked:
    """Stream connections, followers and devices a test opened, closed after it whatever happened."""

    def __init__(self) -> None:
        self.devices: list[AsyncDevice] = []
        self.streams: list[StreamClient] = []
        self.followers: list[Follower] = []

    async def close(self) -> None:
        for follower in self.followers:
            await follower.close()
        for stream in self.streams:
            if not stream.closed:
                await stream.close()
        for device in self.devices:
            await device.client.aclose()


@pytest.fixture
async def tracked() -> AsyncIterator[Tracked]:
    found = Tracked()
    yield found
    await found.close()


@pytest.fixture
def stream_device(request: pytest.FixtureRequest, tracked: Tracked) -> OpenStreamDevice:
    """Open an async device session (on the shared `server` unless one is given); closed after the test."""

    async def open_(
        server: ServerProcess | None = None,
        *,
        channel: str = "web",
        device: str = "test-device",
        customer_token: str | None = None,
    ) -> AsyncDevice:
        target: ServerProcess = server if server is not None else request.getfixturevalue("server")
        opened = await open_async_device(target.url, channel, device, customer_token)
        tracked.devices.append(opened)
        return opened

    return open_


@pytest.fixture
def connect_stream(tracked: Tracked) -> ConnectStream:
    """Connect to a server's /v1/stream (sending hello when given a token); closed after the test."""

    async def connect(
        server: ServerProcess,
        token: str | None = None,
        *,
        since: int = 0,
        epoch: str | None = None,
        name: str = "client",
        max_queue: int | None = 16,
        receive_buffer: int | None = None,
    ) -> StreamClient:
        client = await StreamClient.open(
            server.url,
            token,
            since=since,
            epoch=epoch,
            name=name,
            max_queue=max_queue,
            receive_buffer=receive_buffer,
        )
        tracked.streams.append(client)
        return client

    return connect


@pytest.fixture
def follow(tracked: Tracked) -> Follow:
    """A Follower (a device resuming from its last seq) with `device`'s token; its connections are closed after."""

    def make(device: AsyncDevice, name: str | None = None) -> Follower:
        follower = Follower(device.base_url, device.session_token, name or device.device)
        tracked.followers.append(follower)
        return follower

    return make


@pytest.fixture
def start_catalog_server(
    request: pytest.FixtureRequest, databases: Databases, tmp_path: Path
) -> Iterator[StartCatalogServer]:
    """Start a server of the test's own on a fresh database of the backend under test, with the given catalog."""
    started: list[ServerProcess] = []

    def start(catalog: Path, *, env: Mapping[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(
            databases.new(), tmp_path / f"catalog-server-{len(started) + 1}.log", env=env, catalog=catalog
        )
        started.append(server)
        return track_server(request, server).start()

    yield start
    for server in started:
        server.stop()
