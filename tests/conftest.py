"""Fixtures: real `omnicart serve` processes on SQLite and PostgreSQL, devices, a known catalog.

Backends are parametrized by fixture name, as in Litestar's channel tests: a test that takes `server`,
`db_url` or `start_server` runs once per backend ("sqlite", "postgres"). Select one with `--db sqlite`.
PostgreSQL (OMNICART_TEST_PG_URL, default postgresql://postgres@127.0.0.1:5432/test) and Redis
(OMNICART_TEST_REDIS_URL, default redis://127.0.0.1:6379/0) are skipped with the reason when absent,
and fail the run under CI=true.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import pytest

from tests.support.catalog import write_catalog
from tests.support.databases import (
    Databases,
    PostgresDatabases,
    SqliteDatabases,
    pg_admin_url,
    postgres_unavailable_reason,
)
from tests.support.devices import Device, OpenDevice, new_device
from tests.support.server import SERVERS_USED, ServerProcess, StartServer, track_server

BACKENDS = ("sqlite", "postgres")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=(*BACKENDS, "all"),
        default="all",
        help="database backend(s) the server tests run on (default: all)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = config.getoption("--db")
    if selected == "all":
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        name = callspec.params.get("databases") if callspec else None
        other_backend = name is not None and name != f"{selected}_databases"
        postgres_only = name is None and selected != "postgres" and item.get_closest_marker("postgres") is not None
        (drop if other_backend or postgres_only else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for server in item.stash.get(SERVERS_USED, []):
            report.sections.append((f"omnicart server log {server.url}", server.log_tail(80)))
    return report


def unavailable(reason: str) -> NoReturn:
    """Skip with the reason, but fail under CI=true: CI must never silently skip a backend."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: required)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def catalog_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The known 5-item EUR catalog of tests.support.catalog, as a file the servers load."""
    return write_catalog(tmp_path_factory.mktemp("catalog") / "catalog.json")


@pytest.fixture(scope="session")
def sqlite_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    databases = SqliteDatabases(tmp_path_factory.mktemp("sqlite"))
    yield databases
    databases.close()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    admin_url = pg_admin_url()
    reason = postgres_unavailable_reason(admin_url)
    if reason is not None:
        unavailable(reason)
    databases = PostgresDatabases(admin_url)
    yield databases
    databases.close()


@pytest.fixture(
    scope="session",
    params=[
        pytest.param("sqlite_databases", id="sqlite"),
        pytest.param("postgres_databases", id="postgres", marks=pytest.mark.postgres),
    ],
)
def databases(request: pytest.FixtureRequest) -> Databases:
    """The backend under test: hands out fresh databases (migrated on PostgreSQL)."""
    found: Databases = request.getfixturevalue(request.param)
    return found


@pytest.fixture
def db_url(databases: Databases) -> str:
    """A fresh database of the backend under test, for a test that runs its own server."""
    return databases.new()


@pytest.fixture(scope="session")
def shared_server(
    databases: Databases, catalog_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("logs") / f"shared-{databases.backend}.log"
    server = ServerProcess(databases.new(), log, catalog=catalog_file)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(shared_server: ServerProcess, request: pytest.FixtureRequest) -> ServerProcess:
    """The server process shared by every test of one backend (each test makes its own customers)."""
    if not shared_server.alive():
        # An earlier test crashed it (and failed with its log); start it again rather than fail everything after.
        shared_server.start()
    track_server(request, shared_server)
    return shared_server


@pytest.fixture
def start_server(
    request: pytest.FixtureRequest, databases: Databases, catalog_file: Path, tmp_path: Path
) -> Iterator[StartServer]:
    """Start a server of the test's own; all are stopped afterwards.

    It gets a fresh database unless `db_url` is given, and the test catalog unless `catalog=False` (demo catalog).
    """
    started: list[ServerProcess] = []

    def start(
        *,
        db_url: str | None = None,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        dev: bool = True,
        wait: bool = True,
        catalog: bool = True,
        preexec: Callable[[], None] | None = None,
    ) -> ServerProcess:
        server = ServerProcess(
            db_url or databases.new(),
            tmp_path / f"server-{len(started) + 1}.log",
            env=env,
            args=args,
            dev=dev,
            catalog=catalog_file if catalog else None,
            preexec=preexec,
        )
        started.append(server)
        track_server(request, server)
        return server.start(wait=wait)

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def open_device(request: pytest.FixtureRequest, databases: Databases) -> Iterator[OpenDevice]:
    """Open a device session (on the shared `server` unless one is given); clients are closed afterwards."""
    opened: list[Device] = []

    def open_(
        server: ServerProcess | None = None,
        *,
        channel: str = "web",
        device: str = "test-device",
        customer_token: str | None = None,
    ) -> Device:
        target: ServerProcess = server if server is not None else request.getfixturevalue("server")
        opened.append(new_device(target, channel, device, customer_token))
        return opened[-1]

    yield open_
    for device in opened:
        device.close()


@pytest.fixture
def device(open_device: OpenDevice) -> Device:
    """A web device of a brand-new anonymous customer on the shared server."""
    return open_device()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A reachable Redis for servers started with --redis."""
    url = os.environ.get("OMNICART_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            answer = sock.recv(64)
    except OSError as exc:
        unavailable(f"Redis not reachable at {url}: {exc!r}")
    if not answer.startswith(b"+PONG"):
        unavailable(f"Redis at {url} answered {answer!r} to PING")
    return url
