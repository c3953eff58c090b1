"""Session tokens: missing, tampered, expired and revoked tokens get 401; signing keys rotate."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.databases import Databases
from tests.support.devices import Device, OpenDevice, bearer, describe, open_session
from tests.support.problems import assert_problem
from tests.support.server import ServerProcess, StartServer
from tests.support.tokens import tamper
from tests.support.wait import wait_for

KEY_1 = "k1-test-signing-key-4d1f0c9a7b2e"
KEY_2 = "k2-test-signing-key-93c5e1a0f6d8"
SESSION_CACHE_SECONDS = 1.0
"""The server's default OMNICART_SESSION_CACHE_SECONDS: how long another process may still trust a session."""
REVOCATION_DEADLINE = 10.0
"""Seconds a revocation may take to reach every request (the server may cache session rows briefly)."""
SESSION_TTL_SECONDS = 2


def status_of(client: httpx.Client) -> int:
    return client.get("/v1/cart").status_code


def refused_soon(client: httpx.Client, timeout: float, awaited: str) -> httpx.Response:
    """The first 401 answer to GET /v1/cart, polled until `timeout`."""

    def refusal() -> httpx.Response | None:
        response = client.get("/v1/cart")
        return response if response.status_code == 401 else None

    return wait_for(refusal, timeout=timeout, message=awaited)


def test_missing_token_is_refused(server: ServerProcess) -> None:
    """A request without Authorization gets 401 token_missing."""
    assert_problem(httpx.get(f"{server.url}/v1/cart"), 401, "token_missing")


def test_tampered_token_is_refused(server: ServerProcess, device: Device) -> None:
    """A session token with one character changed gets 401 token_invalid."""
    response = httpx.get(f"{server.url}/v1/cart", headers=bearer(tamper(device.session_token)))
    assert_problem(response, 401, "token_invalid")


def test_truncated_token_is_refused(server: ServerProcess, device: Device) -> None:
    """A session token cut short gets 401 token_invalid."""
    response = httpx.get(f"{server.url}/v1/cart", headers=bearer(device.session_token[:-6]))
    assert_problem(response, 401, "token_invalid")


@pytest.mark.parametrize("token", ["not-a-token", "a.b.c", "ünïcödé"])
def test_garbage_token_is_refused(server: ServerProcess, token: str) -> None:
    """A bearer value that is no token at all gets 401 token_invalid."""
    response = httpx.get(f"{server.url}/v1/cart", headers={b"Authorization": f"Bearer {token}".encode()})
    assert_problem(response, 401, "token_invalid")


def test_customer_token_is_not_a_bearer_token(server: ServerProcess, device: Device) -> None:
    """The customer token resumes a customer but authorizes no request: 401 token_invalid."""
    response = httpx.get(f"{server.url}/v1/cart", headers=bearer(device.customer_token))
    assert_problem(response, 401, "token_invalid")


def test_tampered_token_cannot_write(server: ServerProcess, device: Device) -> None:
    """A tampered token is refused on writes too, and the cart stays as it was."""
    before = device.cart()
    response = httpx.post(
        f"{server.url}/v1/cart/ops",
        json={"ops": [{"op": "clear"}]},
        headers=bearer(tamper(device.session_token)),
    )
    assert_problem(response, 401, "token_invalid")
    assert device.cart() == before


@pytest.fixture(scope="module")
def short_ttl_server(
    databases: Databases, catalog_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server whose session tokens expire after SESSION_TTL_SECONDS."""
    server = ServerProcess(
        databases.new(),
        tmp_path_factory.mktemp("logs") / "short-ttl.log",
        env={"OMNICART_SESSION_TTL_SECONDS": str(SESSION_TTL_SECONDS)},
        catalog=catalog_file,
    )
    server.start()
    yield server
    server.stop()


def test_expired_token_is_refused(short_ttl_server: ServerProcess, open_device: OpenDevice) -> None:
    """Once its TTL has passed, a session token gets 401 token_expired."""
    phone = open_device(short_ttl_server)
    response = refused_soon(phone.client, SESSION_TTL_SECONDS + 15, "session token to expire")
    assert_problem(response, 401, "token_expired")


def test_new_session_works_after_expiry(short_ttl_server: ServerProcess, open_device: OpenDevice) -> None:
    """After a session token expires, the customer token opens a fresh working session of the same customer."""
    phone = open_device(short_ttl_server)
    wait_for(lambda: status_of(phone.client) == 401, timeout=SESSION_TTL_SECONDS + 15, message="expiry")
    again = open_device(short_ttl_server, customer_token=phone.customer_token)
    assert again.customer_id == phone.customer_id
    assert status_of(again.client) == 200


def test_revoked_session_is_refused(device: Device, open_device: OpenDevice) -> None:
    """A device whose session another device revoked gets 401 session_revoked."""
    tablet = open_device(customer_token=device.customer_token)
    assert status_of(tablet.client) == 200
    revoke = device.client.delete(f"/v1/sessions/{tablet.session_id}")
    assert revoke.status_code == 204, describe(revoke)
    response = refused_soon(tablet.client, REVOCATION_DEADLINE, "revocation to take effect")
    assert_problem(response, 401, "session_revoked")


def test_revoking_own_session_ends_it(device: Device) -> None:
    """A device may revoke its own session; its token is then refused with session_revoked."""
    revoke = device.client.delete(f"/v1/sessions/{device.session_id}")
    assert revoke.status_code == 204, describe(revoke)
    response = refused_soon(device.client, REVOCATION_DEADLINE, "revocation to take effect")
    assert_problem(response, 401, "session_revoked")


def test_revocation_leaves_other_devices_working(device: Device, open_device: OpenDevice) -> None:
    """Revoking one device keeps the customer's other devices authorized."""
    tablet = open_device(customer_token=device.customer_token)
    assert device.client.delete(f"/v1/sessions/{tablet.session_id}").status_code == 204
    wait_for(lambda: status_of(tablet.client) == 401, timeout=REVOCATION_DEADLINE, message="revocation")
    assert status_of(device.client) == 200


def keyed(keys: str) -> dict[str, str]:
    return {"OMNICART_SECRET_KEYS": keys}


@pytest.mark.slow
def test_older_key_tokens_accepted_after_rotation(start_server: StartServer, open_device: OpenDevice) -> None:
    """After adding a new key in front, tokens signed with the older key still work."""
    server = start_server(env=keyed(KEY_1), dev=False)
    old = open_device(server)
    server.restart(env=keyed(f"{KEY_2},{KEY_1}"))
    assert status_of(old.client) == 200
    resumed = open_device(server, customer_token=old.customer_token)
    assert resumed.customer_id == old.customer_id


@pytest.mark.slow
def test_new_tokens_are_signed_with_newest_key(start_server: StartServer, open_device: OpenDevice) -> None:
    """Tokens issued after rotation are signed with the newest key: they survive retiring the older one."""
    server = start_server(env=keyed(f"{KEY_2},{KEY_1}"), dev=False)
    new = open_device(server)
    server.restart(env=keyed(KEY_2))
    assert status_of(new.client) == 200


@pytest.mark.slow
def test_retired_key_tokens_are_refused(start_server: StartServer, open_device: OpenDevice) -> None:
    """Once its key is removed from OMNICART_SECRET_KEYS, a session token gets 401 token_invalid."""
    server = start_server(env=keyed(KEY_1), dev=False)
    old = open_device(server)
    server.restart(env=keyed(KEY_2))
    assert_problem(old.client.get("/v1/cart"), 401, "token_invalid")


@pytest.mark.slow
def test_retired_key_customer_token_is_refused(start_server: StartServer, open_device: OpenDevice) -> None:
    """Once its key is retired, a customer token can no longer open a session: 401 token_invalid."""
    server = start_server(env=keyed(KEY_1), dev=False)
    old = open_device(server)
    server.restart(env=keyed(KEY_2))
    assert_problem(open_session(server.url, "web", "x", old.customer_token), 401, "token_invalid")


@pytest.mark.slow
def test_server_without_signing_key_refuses_to_start(catalog_file: Path, tmp_path: Path) -> None:
    """Without OMNICART_SECRET_KEYS and without --dev, `omnicart serve` exits with a message naming the setting."""
    server = ServerProcess(
        f"sqlite+aiosqlite:///{tmp_path / 'nokeys.db'}", tmp_path / "nokeys.log", dev=False, catalog=catalog_file
    )
    server.start(wait=False)
    code = server.wait_exit(timeout=30)
    assert code != 0, server.log_tail()
    assert "OMNICART_SECRET_KEYS" in server.log_text(), server.log_tail()


def test_revocation_reaches_every_worker_process(
    start_server: StartServer, open_device: OpenDevice, redis_url: str
) -> None:
    """With two processes each trusting sessions it checked a moment ago, a revoked token is soon refused by both."""
    server = start_server(args=["--workers", "2", "--redis", redis_url])
    phone = open_device(server)
    tablet = open_device(server, customer_token=phone.customer_token)

    def status_on_a_new_connection() -> int:  # new connections spread over both processes
        return tablet.client.get("/v1/cart", headers={"connection": "close"}).status_code

    assert [status_on_a_new_connection() for _ in range(20)] == [200] * 20  # each process now trusts the session
    assert phone.client.delete(f"/v1/sessions/{tablet.session_id}").status_code == 204
    refused_soon(tablet.client, REVOCATION_DEADLINE, "revocation in the first process")
    time.sleep(SESSION_CACHE_SECONDS)
    statuses = [status_on_a_new_connection() for _ in range(20)]
    assert statuses == [401] * 20, f"some process still accepted the revoked token: {statuses}"
