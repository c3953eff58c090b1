"""Handoff: a device offers a short single-use code (and its QR), another device claims it as the same customer."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.catalog import SKUS
from tests.support.clients import async_http_client
from tests.support.databases import Databases
from tests.support.devices import Device, OpenDevice, describe, line_for
from tests.support.handoff import Claimer, code_in_url, new_address, offer
from tests.support.live import open_stream
from tests.support.problems import assert_problem
from tests.support.qr import is_qr_of
from tests.support.server import ServerProcess, StartServer
from tests.support.session_created import DeviceOpener
from tests.support.wait import wait_for

CUP, TEAPOT = SKUS[0], SKUS[1]
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
DISPLAY_CODE = re.compile(rf"^[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}$")
RATE_WINDOW_SECONDS = 60
"""The limiter counts attempts per wall-clock minute."""
T = TypeVar("T")
PUBLIC_URL = "https://shop.example.com"
CONFIGURED = {
    "OMNICART_HANDOFF_CLAIMS_PER_ADDRESS_PER_MINUTE": "3",
    "OMNICART_HANDOFF_CLAIMS_PER_CUSTOMER_PER_MINUTE": "2",
    "OMNICART_HANDOFF_OFFERS_PER_CUSTOMER_PER_MINUTE": "2",
    "OMNICART_PUBLIC_URL": PUBLIC_URL + "/",
}
"""Settings of `configured_server`."""


@pytest.fixture
def open_device(request: pytest.FixtureRequest, databases: Databases) -> Iterator[OpenDevice]:
    """As tests/conftest.py's `open_device` (so also `device`), over shared clients: this module opens many devices.

    It takes `databases`, as the original does, so that every test using it runs once per backend.
    """
    with DeviceOpener(lambda: request.getfixturevalue("server")) as opener:
        yield opener


@pytest.fixture(scope="module")
def configured_server(
    databases: Databases, catalog_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server with low handoff limits and a public URL, shared by this module's tests of those settings.

    Each test counts under addresses and customers of its own, so none uses up another's attempts.
    """
    log = tmp_path_factory.mktemp("handoff-settings") / f"server-{databases.backend}.log"
    server = ServerProcess(databases.new(), log, env=CONFIGURED, catalog=catalog_file)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def claimer(server: ServerProcess) -> Iterator[Claimer]:
    """A new device on the shared server, claiming from a client address of its own."""
    with Claimer(server.url) as new_device:
        yield new_device


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def bare(code: str) -> str:
    return code.replace("-", "").upper()


def within_one_window(attempt: Callable[[], T]) -> T:
    """Run `attempt` again if a limiter window ended while it ran, so all its attempts count in one window.

    Each run must count under keys of its own (a new address, a new customer): a repeat starts from zero.
    """
    for _ in range(3):
        window = int(time.time() // RATE_WINDOW_SECONDS)
        outcome = attempt()
        if int(time.time() // RATE_WINDOW_SECONDS) == window:
            return outcome
    raise AssertionError("three runs in a row straddled a rate-limit window")


def assert_rate_limited(response: httpx.Response) -> None:
    """429 rate_limited, with a Retry-After header (seconds within the window) that the body repeats."""
    body = assert_problem(response, 429, "rate_limited")
    retry_after = response.headers.get("retry-after")
    assert retry_after is not None and retry_after.isdigit(), describe(response)
    assert 1 <= int(retry_after) <= RATE_WINDOW_SECONDS, retry_after
    assert body.get("retry_after") == int(retry_after), body


def test_offer_returns_a_code_url_qr_and_expiry(device: Device) -> None:
    """POST /v1/handoff answers 201 with an XXXX-XXXX code of unambiguous symbols, a URL, an SVG, a future expiry."""
    response = device.client.post("/v1/handoff")
    assert response.status_code == 201, describe(response)
    offered = response.json()
    assert DISPLAY_CODE.match(offered["code"]), offered["code"]
    assert offered["url"].startswith(device.base_url + "/"), offered["url"]
    assert offered["qr_svg"].lstrip().startswith("<svg"), offered["qr_svg"][:100]
    expires_at = parse_time(offered["expires_at"])
    assert expires_at.tzinfo is not None, offered["expires_at"]
    assert expires_at > datetime.now(UTC)


def test_url_carries_the_code_only_in_its_fragment(device: Device) -> None:
    """The offer's URL holds the code in its #fragment, never in the path or query that servers and proxies log."""
    offered = offer(device)
    parts = urlsplit(offered["url"])
    assert bare(code_in_url(offered["url"])) == bare(offered["code"])
    assert bare(offered["code"]) not in (parts.path + parts.query).upper().replace("-", "")


def test_qr_code_holds_the_url(device: Device) -> None:
    """The QR code's modules are exactly those of a QR code of the offer's URL."""
    offered = offer(device)
    assert is_qr_of(offered["qr_svg"], offered["url"])


def test_url_and_qr_use_the_public_url(configured_server: ServerProcess, open_device: OpenDevice) -> None:
    """With OMNICART_PUBLIC_URL set, the offer's URL (and its QR code) point there, not at the bound address."""
    offered = offer(open_device(configured_server))
    assert offered["url"].startswith(PUBLIC_URL + "/"), offered["url"]
    assert "//" not in offered["url"].removeprefix("https://"), offered["url"]
    assert is_qr_of(offered["qr_svg"], offered["url"])


def test_each_offer_is_a_new_code(device: Device) -> None:
    """Two offers give two different codes."""
    assert offer(device)["code"] != offer(device)["code"]


def test_offer_needs_a_session_token(server: ServerProcess) -> None:
    """POST /v1/handoff without a token answers 401 token_missing."""
    assert_problem(httpx.post(f"{server.url}/v1/handoff"), 401, "token_missing")


def test_claim_opens_a_session_of_the_same_customer(device: Device, claimer: Claimer) -> None:
    """Claiming the code answers 201 with a new session (and tokens) of the offering device's customer."""
    response = claimer.post_claim(offer(device)["code"], "mobile", "phone")
    assert response.status_code == 201, describe(response)
    created = response.json()
    assert created["customer_id"] == device.customer_id
    assert created["session_id"] != device.session_id
    assert created["session_token"] and created["session_token"] != device.session_token
    assert created["customer_token"]


def test_claimed_device_sees_and_changes_the_same_cart(device: Device, claimer: Claimer) -> None:
    """The claiming device works on the offering device's cart: it sees its lines and its changes show there."""
    device.add(CUP, 2)
    phone = claimer.claim(offer(device)["code"])
    assert phone.cart() == device.cart()
    phone.add(TEAPOT, 1)
    assert line_for(device.cart(), TEAPOT)["qty"] == 1
    assert device.cart() == phone.cart()


def test_claimed_device_is_listed_among_the_customers_sessions(device: Device, claimer: Claimer) -> None:
    """The offering device's session list shows the claiming device with its channel and label."""
    phone = claimer.claim(offer(device)["code"], "kiosk", "kiosk-3")
    sessions = {item["session_id"]: item for item in device.sessions()}
    assert (sessions[phone.session_id]["channel"], sessions[phone.session_id]["device"]) == ("kiosk", "kiosk-3")


def test_claimed_customer_token_resumes_the_same_customer(
    device: Device, claimer: Claimer, open_device: OpenDevice
) -> None:
    """The customer token handed to the claiming device opens further sessions of the same customer."""
    phone = claimer.claim(offer(device)["code"])
    tablet = open_device(channel="mobile", device="tablet", customer_token=phone.customer_token)
    assert tablet.customer_id == device.customer_id


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param(lambda code: code.lower(), id="lowercase"),
        pytest.param(lambda code: code.replace("-", ""), id="without-dash"),
        pytest.param(lambda code: f"  {code[:2]} {code[2:].lower()}  ", id="spaces"),
    ],
)
def test_code_ignores_case_dashes_and_spaces(device: Device, claimer: Claimer, typed: Callable[[str], str]) -> None:
    """A code typed in another case, without its dash or with spaces and dashes added still opens the session."""
    phone = claimer.claim(typed(offer(device)["code"]))
    assert phone.customer_id == device.customer_id


def test_code_from_the_url_fragment_is_claimable(device: Device, claimer: Claimer) -> None:
    """The code a scanning phone reads from the URL fragment claims the session."""
    phone = claimer.claim(code_in_url(offer(device)["url"]))
    assert phone.customer_id == device.customer_id


def test_used_code_is_refused(device: Device, claimer: Claimer) -> None:
    """A second claim of a code gets 409 handoff_code_used, from any address, and opens no session."""
    code = offer(device)["code"]
    claimer.claim(code)
    sessions = {item["session_id"] for item in device.sessions()}
    assert_problem(claimer.post_claim(code), 409, "handoff_code_used")
    with Claimer(device.base_url) as elsewhere:
        assert_problem(elsewhere.post_claim(code.lower()), 409, "handoff_code_used")
    assert {item["session_id"] for item in device.sessions()} == sessions


async def test_concurrent_claims_of_one_code_open_one_session(device: Device) -> None:
    """Five simultaneous claims of one code: one gets 201, the others 409 handoff_code_used."""
    code = offer(device)["code"]

    async def claim() -> httpx.Response:
        async with async_http_client(device.base_url, local_address=new_address()) as client:
            return await client.post("/v1/handoff/claim", json={"code": code, "channel": "mobile", "device": "phone"})

    responses = await asyncio.gather(*[claim() for _ in range(5)])
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409], [describe(r) for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "handoff_code_used")
    assert len(device.sessions()) == 2


def test_unknown_code_is_not_found(claimer: Claimer) -> None:
    """A well-formed code nobody offered gets 404 handoff_code_unknown."""
    assert_problem(claimer.post_claim("2345-6789"), 404, "handoff_code_unknown")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"code": "K7QM-4XT", "channel": "mobile", "device": "phone"}, id="seven-symbols"),
        pytest.param({"code": "K0QM-1XTR", "channel": "mobile", "device": "phone"}, id="ambiguous-symbols"),
        pytest.param({"code": "", "channel": "mobile", "device": "phone"}, id="empty-code"),
        pytest.param({"code": 12345678, "channel": "mobile", "device": "phone"}, id="code-not-a-string"),
        pytest.param({"channel": "mobile", "device": "phone"}, id="missing-code"),
        pytest.param({"code": "K7QM-4XTR", "channel": "Mobile!", "device": "phone"}, id="bad-channel"),
        pytest.param({"code": "K7QM-4XTR", "channel": "mobile", "device": "p", "customer_id": "x"}, id="unknown-field"),
    ],
)
def test_malformed_claim_is_refused(claimer: Claimer, body: dict[str, object]) -> None:
    """A malformed claim gets 422 invalid_body."""
    assert_problem(claimer.post_body(body), 422, "invalid_body")


def test_expired_code_is_refused(start_server: StartServer, open_device: OpenDevice) -> None:
    """A code claimed after its expiry gets 410 handoff_code_expired and opens no session."""
    server = start_server(env={"OMNICART_HANDOFF_TTL_SECONDS": "1"})
    laptop = open_device(server)
    offered = offer(laptop)
    expires_at = parse_time(offered["expires_at"])
    wait_for(lambda: datetime.now(UTC) > expires_at, timeout=10, message="the code's expiry to pass")
    with Claimer(server.url) as phone:
        assert_problem(phone.post_claim(offered["code"]), 410, "handoff_code_expired")
    assert [item["session_id"] for item in laptop.sessions()] == [laptop.session_id]


def test_offer_and_claim_are_in_the_log(device: Device, claimer: Claimer) -> None:
    """handoff.offered (by the offering session) and handoff.claimed (naming both sessions) are in the log."""
    phone = claimer.claim(offer(device)["code"], "mobile", "phone")
    events = device.all_events()
    (offered,) = [event for event in events if event["kind"] == "handoff.offered"]
    (claimed,) = [event for event in events if event["kind"] == "handoff.claimed"]
    assert offered["session_id"] == device.session_id
    assert claimed["session_id"] == phone.session_id
    assert claimed["data"]["handoff_id"] == offered["data"]["handoff_id"]
    assert claimed["data"]["offered_by"] == device.session_id
    assert claimed["data"]["channel"] == "mobile"
    assert offered["seq"] < claimed["seq"]


def test_code_is_in_no_event_and_no_server_log(server: ServerProcess, device: Device, claimer: Claimer) -> None:
    """The code is a secret: neither the events nor the server's log ever show it."""
    code = offer(device)["code"]
    claimer.claim(code)
    assert_problem(claimer.post_claim(code), 409, "handoff_code_used")
    for text in (str(device.all_events()), server.log_text()):
        assert code not in text and bare(code) not in text


def test_offering_device_sees_the_new_device_come_online(device: Device, claimer: Claimer) -> None:
    """The offering device's live stream shows the claiming device in presence once it connects."""
    with open_stream(device) as desktop:
        phone = claimer.claim(offer(device)["code"], "mobile", "phone")
        with open_stream(phone):
            frame = desktop.wait_for(
                lambda f: f["type"] == "presence" and phone.session_id in {s["session_id"] for s in f["sessions"]},
                message="presence with the phone",
            )
    (entry,) = [s for s in frame["sessions"] if s["session_id"] == phone.session_id]
    assert (entry["channel"], entry["device"]) == ("mobile", "phone")


def test_offering_device_sees_the_claim_live(device: Device, claimer: Claimer) -> None:
    """The offering device's live stream delivers handoff.claimed naming the new session."""
    with open_stream(device) as desktop:
        phone = claimer.claim(offer(device)["code"])
        claimed = desktop.wait_for_event("handoff.claimed")
    assert claimed["data"]["session_id"] == phone.session_id


def test_claims_from_one_address_are_rate_limited(configured_server: ServerProcess, open_device: OpenDevice) -> None:
    """Past the per-address limit a claim gets 429 with Retry-After, even for a live code; other addresses go on."""
    server = configured_server
    laptop = open_device(server)
    code = offer(laptop)["code"]

    def attempt() -> list[httpx.Response]:
        with Claimer(server.url) as guesser:
            return [guesser.post_claim(guess) for guess in ("2345-6789", "3456-789A", "4567-89AB", code)]

    *guesses, limited = within_one_window(attempt)
    for guess in guesses:
        assert_problem(guess, 404, "handoff_code_unknown")
    assert_rate_limited(limited)
    assert [item["session_id"] for item in laptop.sessions()] == [laptop.session_id]
    with Claimer(server.url) as phone:
        assert phone.claim(code).customer_id == laptop.customer_id


def test_claims_for_one_customer_are_rate_limited(configured_server: ServerProcess, open_device: OpenDevice) -> None:
    """Past the per-customer limit, claims of that customer's codes get 429 from any address; others' still work."""
    server = configured_server
    stranger = open_device(server)
    strangers_code = offer(stranger)["code"]

    def attempt() -> list[httpx.Response]:
        laptop = open_device(server)
        code, fresh = offer(laptop)["code"], offer(laptop)["code"]
        claims = []
        for typed in (code, code, fresh):
            with Claimer(server.url) as phone:
                claims.append(phone.post_claim(typed))
        return claims

    first, again, limited = within_one_window(attempt)
    assert first.status_code == 201, describe(first)
    assert_problem(again, 409, "handoff_code_used")
    assert_rate_limited(limited)
    with Claimer(server.url) as phone:
        assert phone.claim(strangers_code).customer_id == stranger.customer_id


def test_offers_per_customer_are_rate_limited(configured_server: ServerProcess, open_device: OpenDevice) -> None:
    """Past the per-customer offer limit any device of the customer gets 429; another customer can still offer."""
    server = configured_server
    stranger = open_device(server)

    def attempt() -> list[httpx.Response]:
        laptop = open_device(server)
        tablet = open_device(server, customer_token=laptop.customer_token)
        return [laptop.client.post("/v1/handoff") for _ in range(2)] + [tablet.client.post("/v1/handoff")]

    *offers, limited = within_one_window(attempt)
    for response in offers:
        assert response.status_code == 201, describe(response)
    assert_rate_limited(limited)
    assert stranger.client.post("/v1/handoff").status_code == 201
