"""Identities: trusted backends link and open by identity, and an anonymous customer merges into the known one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import pytest

from tests.support.carts import quantities
from tests.support.catalog import PRICES, SKUS
from tests.support.clients import http_client
from tests.support.databases import Databases
from tests.support.devices import Device, OpenDevice, add_item, bearer, describe
from tests.support.handoff import Claimer, offer
from tests.support.identity import Backend, api_key, new_email, new_handle, new_mobile, trusted_backend
from tests.support.live import open_stream
from tests.support.problems import assert_problem
from tests.support.server import ServerProcess, StartServer
from tests.support.session_created import DeviceOpener

JSON = dict[str, Any]
CUP, TEAPOT, MUG, BEANS, FILTERS = SKUS
ROUTES = ("/v1/identities", "/v1/sessions/by-identity")
KNOWN = {CUP: 2, TEAPOT: 1}
ANONYMOUS = {CUP: 3, MUG: 1}


@pytest.fixture
def open_device(request: pytest.FixtureRequest, databases: Databases) -> Iterator[OpenDevice]:
    """As tests/conftest.py's `open_device` (so also `device`), over shared clients: this module opens many devices.

    It takes `databases`, as the original does, so that every test using it runs once per backend.
    """
    with DeviceOpener(lambda: request.getfixturevalue("server")) as opener:
        yield opener


@pytest.fixture
def backend(server: ServerProcess) -> Iterator[Backend]:
    """A trusted backend of the shared server, with an `identity:write` key."""
    with trusted_backend(server) as trusted:
        yield trusted


@dataclass
class Login:
    """A known customer (its email linked) and an anonymous customer about to log in with that email."""

    known: Device
    anonymous: Device
    email: str


class MakeLogin(Protocol):
    """The `login` fixture: a known customer with `known` in its cart, an anonymous one with `anonymous` in its."""

    def __call__(self, known: dict[str, int] = ..., anonymous: dict[str, int] = ...) -> Login: ...


@pytest.fixture
def login(open_device: OpenDevice, backend: Backend) -> MakeLogin:
    """Make a known customer (web, email linked) and an anonymous one (kiosk), each with a cart."""

    def make(known: dict[str, int] = KNOWN, anonymous: dict[str, int] = ANONYMOUS) -> Login:
        known_device = open_device(channel="web", device="laptop")
        fill(known_device, known)
        email = new_email()
        backend.link(known_device, "email", email)
        anonymous_device = open_device(channel="kiosk", device="kiosk-2")
        fill(anonymous_device, anonymous)
        return Login(known_device, anonymous_device, email)

    return make


def fill(device: Device, items: dict[str, int]) -> None:
    if items:
        device.apply(*[add_item(sku, qty) for sku, qty in items.items()])


def raw_post(server: ServerProcess, route: str, token: str | None, body: JSON) -> httpx.Response:
    with http_client(server.url, bearer(token) if token is not None else {}) as client:
        return client.post(route, json=body)


def body_for(route: str, device: Device) -> JSON:
    """A valid body for one of the identity routes, with a new email."""
    if route == "/v1/identities":
        return {"session_id": device.session_id, "kind": "email", "value": new_email()}
    return {"kind": "email", "value": new_email(), "channel": "email", "device": "mail-bot"}


# Credentials.


@pytest.mark.parametrize("route", ROUTES)
def test_identity_routes_need_a_credential(server: ServerProcess, device: Device, route: str) -> None:
    """Without an Authorization header the identity routes answer 401 token_missing."""
    assert_problem(raw_post(server, route, None, body_for(route, device)), 401, "token_missing")


@pytest.mark.parametrize("route", ROUTES)
def test_session_token_is_not_an_api_key(server: ServerProcess, device: Device, route: str) -> None:
    """A device's session token on an identity route answers 401 token_invalid."""
    assert_problem(raw_post(server, route, device.session_token, body_for(route, device)), 401, "token_invalid")


@pytest.mark.parametrize("route", ROUTES)
def test_unknown_api_key_is_refused(server: ServerProcess, device: Device, route: str) -> None:
    """A key that was never issued answers 401 token_invalid."""
    forged = "ock_" + uuid.uuid4().hex
    assert_problem(raw_post(server, route, forged, body_for(route, device)), 401, "token_invalid")


@pytest.mark.parametrize("route", ROUTES)
def test_identity_routes_need_the_identity_scope(server: ServerProcess, device: Device, route: str) -> None:
    """A live key without `identity:write` answers 403 forbidden and links nothing."""
    head = device.head()
    response = raw_post(server, route, api_key(server, "agent"), body_for(route, device))
    assert_problem(response, 403, "forbidden")
    assert device.head() == head


def test_customer_profile_needs_a_session_token(server: ServerProcess, backend: Backend) -> None:
    """GET /v1/customer answers 401 token_missing without a token and token_invalid with an API key."""
    with http_client(server.url) as client:
        assert_problem(client.get("/v1/customer"), 401, "token_missing")
        assert_problem(client.get("/v1/customer", headers=bearer(backend.key)), 401, "token_invalid")


# Linking and opening by identity.


def test_link_gives_the_identity_to_the_sessions_customer(device: Device, backend: Backend) -> None:
    """Linking a new identity reports the session's customer and no merge, and the profile lists the identity."""
    email = new_email()
    report = backend.link(device, "email", email)
    assert report["customer_id"] == device.customer_id
    assert report["identity"] == {"kind": "email", "value": email}
    assert (report["merged_from"], report["cart_changes"], report["moved_sessions"]) == (None, [], [])
    assert {"kind": "email", "value": email} in device.client.get("/v1/customer").json()["identities"]


def test_link_is_logged_as_identity_linked(device: Device, backend: Backend) -> None:
    """A link appends identity.linked with the normalised identity to the customer's log."""
    email = new_email()
    backend.link(device, "email", email.upper())
    last = device.all_events()[-1]
    assert (last["kind"], last["data"]) == ("identity.linked", {"kind": "email", "value": email})


def test_relinking_an_identity_changes_nothing(device: Device, backend: Backend) -> None:
    """Linking an identity the customer already has reports no merge and writes no event."""
    email = new_email()
    backend.link(device, "email", email)
    head, cart = device.head(), device.cart()
    report = backend.link(device, "email", email)
    assert (report["customer_id"], report["merged_from"]) == (device.customer_id, None)
    assert (device.head(), device.cart()) == (head, cart)


def test_link_to_an_unknown_session_is_not_found(backend: Backend) -> None:
    """Linking to a session id that does not exist answers 404 not_found."""
    assert_problem(backend.post_link("ses_" + uuid.uuid4().hex[:20], "email", new_email()), 404, "not_found")


def test_link_to_a_revoked_session_is_not_found(device: Device, open_device: OpenDevice, backend: Backend) -> None:
    """Linking to a revoked session answers 404 not_found and gives the customer nothing."""
    other = open_device(customer_token=device.customer_token)
    assert device.client.delete(f"/v1/sessions/{other.session_id}").status_code == 204
    assert_problem(backend.post_link(other.session_id, "email", new_email()), 404, "not_found")
    assert device.client.get("/v1/customer").json()["identities"] == []


def test_open_by_a_new_identity_makes_a_customer_holding_it(backend: Backend) -> None:
    """Opening by an identity nobody has answers 201 for a new customer that now holds it."""
    spaced, _, e164 = new_mobile()
    response = backend.post_open("whatsapp", spaced, "whatsapp", "wa-bot")
    assert response.status_code == 201, describe(response)
    created = response.json()
    for name in ("customer_id", "customer_token", "session_id", "session_token", "expires_at"):
        assert isinstance(created.get(name), str) and created[name], f"{name} missing: {created}"
    again = backend.open("whatsapp", e164, "whatsapp")
    assert again.customer_id == created["customer_id"]
    assert again.session_id != created["session_id"]


def test_open_by_identity_joins_its_customer_and_cart(device: Device, backend: Backend) -> None:
    """Opening by an identity linked on the web gives a session of that customer, on the same cart."""
    device.add(CUP, 2)
    email = new_email()
    backend.link(device, "email", email)
    mail = backend.open("email", email, "email", "mail-bot")
    assert mail.customer_id == device.customer_id
    assert mail.cart() == device.cart()


def test_customer_profile_lists_identities_channels_and_sessions(device: Device, backend: Backend) -> None:
    """GET /v1/customer lists every linked identity (in link order), the channels used and the session count."""
    email, (spaced, _, e164) = new_email(), new_mobile()
    backend.link(device, "email", email)
    backend.link(device, "phone", spaced)
    phone_call = backend.open("phone", e164, "call_center", "agent-desk")
    profile = phone_call.client.get("/v1/customer").json()
    assert profile["customer_id"] == device.customer_id
    assert profile["identities"] == [{"kind": "email", "value": email}, {"kind": "phone", "value": e164}]
    assert profile["channels"] == ["call_center", "web"]
    assert profile["sessions"] == 2


def test_customer_profile_summarises_the_history(device: Device, backend: Backend) -> None:
    """The profile's history counts the customer's events, by kind, with first and last times."""
    device.add(CUP)
    device.add(TEAPOT)
    backend.link(device, "email", new_email())
    events = device.all_events()
    history = device.client.get("/v1/customer").json()["history"]
    by_kind: dict[str, int] = {}
    for event in events:
        by_kind[event["kind"]] = by_kind.get(event["kind"], 0) + 1
    assert history["events"] == len(events)
    assert history["by_kind"] == by_kind
    assert history["first_seen"] <= history["last_seen"]


# Normalisation.


def _email() -> tuple[str, str, str]:
    email = new_email()
    return f"  {email.upper()} ", email, email


def _phone() -> tuple[str, str, str]:
    return new_mobile()


def _instagram() -> tuple[str, str, str]:
    handle = new_handle()
    return f"@{handle.capitalize()}", handle, handle


VARIANTS = [
    pytest.param("email", _email, id="email-case-and-spaces"),
    pytest.param("phone", _phone, id="phone-spaced-vs-0034"),
    pytest.param("whatsapp", _phone, id="whatsapp-spaced-vs-0034"),
    pytest.param("instagram", _instagram, id="instagram-at-and-case"),
]


@pytest.mark.parametrize(("kind", "variants"), VARIANTS)
def test_identity_is_stored_normalised(
    device: Device, backend: Backend, kind: str, variants: Callable[[], tuple[str, str, str]]
) -> None:
    """A linked identity is reported and listed in canonical form (lowercase email, E.164, handle without '@')."""
    typed, _, canonical = variants()
    assert backend.link(device, kind, typed)["identity"] == {"kind": kind, "value": canonical}
    assert device.client.get("/v1/customer").json()["identities"] == [{"kind": kind, "value": canonical}]


@pytest.mark.parametrize(("kind", "variants"), VARIANTS)
def test_variants_of_an_identity_find_the_same_customer(
    device: Device, backend: Backend, kind: str, variants: Callable[[], tuple[str, str, str]]
) -> None:
    """An identity linked as typed one way opens the same customer when typed another way."""
    typed, other, _ = variants()
    backend.link(device, kind, typed)
    assert backend.open(kind, other, "whatsapp").customer_id == device.customer_id


INVALID = [
    pytest.param("email", "ana", id="email-no-at"),
    pytest.param("email", "ana@example", id="email-no-dot"),
    pytest.param("email", "ana lopez@example.com", id="email-space"),
    pytest.param("phone", "612345678", id="phone-no-country-code"),
    pytest.param("phone", "+1 555 0100", id="phone-not-a-number"),
    pytest.param("phone", "call me", id="phone-words"),
    pytest.param("whatsapp", "+34 000", id="whatsapp-invalid"),
    pytest.param("instagram", "@ana lopez", id="instagram-space"),
    pytest.param("instagram", "@" + "a" * 31, id="instagram-too-long"),
    pytest.param("external_id", "   ", id="external-id-blank"),
]


@pytest.mark.parametrize(("kind", "value"), INVALID)
def test_invalid_identity_is_not_linked(device: Device, backend: Backend, kind: str, value: str) -> None:
    """Linking a value that is not a valid identity of its kind gets 422 invalid_identity and changes nothing."""
    head = device.head()
    assert_problem(backend.post_link(device.session_id, kind, value), 422, "invalid_identity")
    assert device.head() == head


@pytest.mark.parametrize(
    ("kind", "value"), [param for param in INVALID if param.id in ("email-no-at", "phone-words", "external-id-blank")]
)
def test_invalid_identity_opens_no_session(backend: Backend, kind: str, value: str) -> None:
    """Opening by a value that is not a valid identity of its kind gets 422 invalid_identity."""
    assert_problem(backend.post_open(kind, value, "whatsapp"), 422, "invalid_identity")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"kind": "fax", "value": "+34612345678"}, id="unknown-kind"),
        pytest.param({"kind": "email", "value": ""}, id="empty-value"),
        pytest.param({"kind": "email", "value": "a" * 250 + "@example.com"}, id="value-too-long"),
        pytest.param({"kind": "email", "value": "a@example.com", "strategy": "merge_all"}, id="unknown-strategy"),
        pytest.param({"kind": "email", "value": "a@example.com", "verified": True}, id="unknown-field"),
    ],
)
def test_malformed_link_is_refused(device: Device, backend: Backend, body: JSON) -> None:
    """A malformed link request gets 422 invalid_body."""
    response = backend.client.post("/v1/identities", json={"session_id": device.session_id, **body})
    assert_problem(response, 422, "invalid_body")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"kind": "email", "value": "a@example.com", "channel": "Mail!", "device": "x"}, id="bad-channel"),
        pytest.param({"kind": "sms", "value": "a@example.com", "channel": "email", "device": "x"}, id="unknown-kind"),
    ],
)
def test_malformed_open_by_identity_is_refused(backend: Backend, body: JSON) -> None:
    """A malformed open-by-identity request gets 422 invalid_body."""
    assert_problem(backend.client.post("/v1/sessions/by-identity", json=body), 422, "invalid_body")


# Merging an anonymous customer into the known one.


STRATEGIES = [
    pytest.param("sum_quantities", KNOWN, ANONYMOUS, {CUP: 5, TEAPOT: 1, MUG: 1}, id="sum_quantities"),
    pytest.param("higher_quantity", KNOWN, ANONYMOUS, {CUP: 3, TEAPOT: 1, MUG: 1}, id="higher_quantity"),
    pytest.param("higher_quantity", {CUP: 4}, {CUP: 1, MUG: 2}, {CUP: 4, MUG: 2}, id="higher_quantity-known-higher"),
    pytest.param("keep_known", KNOWN, ANONYMOUS, KNOWN, id="keep_known"),
    pytest.param("keep_anonymous", KNOWN, ANONYMOUS, ANONYMOUS, id="keep_anonymous"),
    pytest.param("keep_anonymous_if_known_empty", KNOWN, ANONYMOUS, KNOWN, id="keep_anonymous_if_known_empty-full"),
    pytest.param("keep_anonymous_if_known_empty", {}, ANONYMOUS, ANONYMOUS, id="keep_anonymous_if_known_empty-empty"),
]


@pytest.mark.parametrize(("strategy", "known", "anonymous", "expected"), STRATEGIES)
def test_merge_strategy_decides_the_cart_and_the_report_says_how(
    login: MakeLogin,
    backend: Backend,
    strategy: str,
    known: dict[str, int],
    anonymous: dict[str, int],
    expected: dict[str, int],
) -> None:
    """Both devices see one cart made by the strategy; the report names it and each SKU's quantity before and after."""
    pair = login(known, anonymous)
    report = backend.link(pair.anonymous, "email", pair.email, strategy)
    cart = pair.known.cart()
    assert quantities(cart) == expected
    assert pair.anonymous.cart() == cart == report["cart"]
    assert (report["customer_id"], report["merged_from"]) == (pair.known.customer_id, pair.anonymous.customer_id)
    assert report["strategy"] == strategy
    changes = {change["sku"]: change for change in report["cart_changes"]}
    assert len(changes) == len(report["cart_changes"]), report["cart_changes"]
    assert changes == {
        sku: {
            "sku": sku,
            "known_qty": known.get(sku, 0),
            "anonymous_qty": anonymous.get(sku, 0),
            "result_qty": expected.get(sku, 0),
        }
        for sku in {**known, **anonymous}
    }


@pytest.mark.parametrize(
    ("strategy", "known", "anonymous", "expected"),
    [param for param in STRATEGIES if param.id in ("sum_quantities", "keep_known", "keep_anonymous")],
)
def test_known_line_ids_never_name_another_sku(
    login: MakeLogin,
    backend: Backend,
    strategy: str,
    known: dict[str, int],
    anonymous: dict[str, int],
    expected: dict[str, int],
) -> None:
    """Line ids in the merged cart are unique, and a line id the known devices held still names the same SKU."""
    pair = login(known, anonymous)
    before = {line["line_id"]: line["sku"] for line in pair.known.cart()["lines"]}
    backend.link(pair.anonymous, "email", pair.email, strategy)
    lines = pair.known.cart()["lines"]
    assert len({line["line_id"] for line in lines}) == len(lines), lines
    for line in lines:
        assert before.get(line["line_id"], line["sku"]) == line["sku"], (before, lines)


def test_merged_cart_is_priced_by_the_catalog(login: MakeLogin, backend: Backend) -> None:
    """Merged lines carry catalog prices, line totals and a subtotal that add up."""
    pair = login()
    backend.link(pair.anonymous, "email", pair.email, "sum_quantities")
    cart = pair.known.cart()
    for line in cart["lines"]:
        assert line["unit_price"] == PRICES[line["sku"]], line
        assert line["line_total"] == line["qty"] * line["unit_price"], line
    assert cart["subtotal"] == sum(line["line_total"] for line in cart["lines"])
    assert cart["item_count"] == sum(line["qty"] for line in cart["lines"])


def test_summed_quantity_is_capped_at_the_line_maximum(login: MakeLogin, backend: Backend) -> None:
    """sum_quantities never goes past the per-line maximum (999)."""
    pair = login({CUP: 600}, {CUP: 600})
    report = backend.link(pair.anonymous, "email", pair.email, "sum_quantities")
    assert quantities(pair.known.cart()) == {CUP: 999}
    assert report["cart_changes"] == [{"sku": CUP, "known_qty": 600, "anonymous_qty": 600, "result_qty": 999}]


def test_merge_without_a_strategy_sums_quantities(login: MakeLogin, backend: Backend) -> None:
    """A link without `strategy` uses the server's default, sum_quantities."""
    pair = login()
    report = backend.link(pair.anonymous, "email", pair.email)
    assert report["strategy"] == "sum_quantities"
    assert quantities(pair.known.cart()) == {CUP: 5, TEAPOT: 1, MUG: 1}


def test_server_setting_chooses_the_default_strategy(start_server: StartServer, open_device: OpenDevice) -> None:
    """With OMNICART_MERGE_STRATEGY=keep_known, a link without `strategy` keeps the known cart."""
    server = start_server(env={"OMNICART_MERGE_STRATEGY": "keep_known"})
    with trusted_backend(server) as trusted:
        known, anonymous, email = open_device(server), open_device(server), new_email()
        fill(known, KNOWN)
        fill(anonymous, ANONYMOUS)
        trusted.link(known, "email", email)
        report = trusted.link(anonymous, "email", email)
    assert report["strategy"] == "keep_known"
    assert quantities(known.cart()) == KNOWN


def test_concurrent_links_of_one_session_merge_once(login: MakeLogin, backend: Backend) -> None:
    """Four simultaneous logins of one session merge it once: the cart is neither emptied nor doubled."""
    pair = login()
    responses = gather_posts(backend, "/v1/identities", [link_body(pair.anonymous, pair.email)] * 4)
    assert [r.status_code for r in responses] == [200] * 4, [describe(r) for r in responses]
    reports = [r.json() for r in responses]
    assert {report["customer_id"] for report in reports} == {pair.known.customer_id}
    assert [report["merged_from"] for report in reports].count(pair.anonymous.customer_id) == 1
    assert quantities(pair.known.cart()) == {CUP: 5, TEAPOT: 1, MUG: 1}
    assert [event["kind"] for event in pair.known.all_events()].count("customer.merged") == 1


ROUNDS = 4
"""Rounds of a race between requests in flight, so one unlucky interleaving cannot hide a bug."""


def test_concurrent_first_links_of_one_session_all_succeed(open_device: OpenDevice, backend: Backend) -> None:
    """Four simultaneous links of a new identity to one session all answer 200 and link it once."""
    for _ in range(ROUNDS):
        device, email = open_device(), new_email()
        responses = gather_posts(backend, "/v1/identities", [link_body(device, email)] * 4)
        assert [r.status_code for r in responses] == [200] * 4, [describe(r) for r in responses]
        assert {r.json()["customer_id"] for r in responses} == {device.customer_id}
        assert [event["kind"] for event in device.all_events()].count("identity.linked") == 1


def test_concurrent_links_of_a_new_identity_make_one_customer(open_device: OpenDevice, backend: Backend) -> None:
    """Four customers linking the same new identity at once all get 200 and end up as one customer."""
    for _ in range(ROUNDS):
        devices, email = [open_device() for _ in range(4)], new_email()
        responses = gather_posts(backend, "/v1/identities", [link_body(device, email) for device in devices])
        assert [r.status_code for r in responses] == [200] * 4, [describe(r) for r in responses]
        assert len({r.json()["customer_id"] for r in responses}) == 1
        assert len({device.client.get("/v1/customer").json()["customer_id"] for device in devices}) == 1


def test_concurrent_opens_by_a_new_identity_make_one_customer(backend: Backend) -> None:
    """Four simultaneous first messages from a new WhatsApp number open four sessions of one customer."""
    for _ in range(ROUNDS):
        body = {"kind": "whatsapp", "value": new_mobile()[0], "channel": "whatsapp", "device": "wa-bot"}
        responses = gather_posts(backend, "/v1/sessions/by-identity", [body] * 4)
        assert [r.status_code for r in responses] == [201] * 4, [describe(r) for r in responses]
        assert len({r.json()["customer_id"] for r in responses}) == 1


def test_cart_writes_racing_the_login_all_land(login: MakeLogin, backend: Backend) -> None:
    """Cart writes the anonymous device sends while it logs in are each answered 200 and all land in the merged cart."""
    for _ in range(ROUNDS):
        pair = login(known={TEAPOT: 1}, anonymous={})
        link, *writes = asyncio.run(link_while_adding(backend, pair, CUP, 6))
        assert link.status_code == 200, describe(link)
        assert [r.status_code for r in writes] == [200] * 6, [describe(r) for r in writes if r.status_code != 200]
        assert quantities(pair.known.cart()) == {TEAPOT: 1, CUP: 6}


async def link_while_adding(backend: Backend, pair: Login, sku: str, writes: int) -> list[httpx.Response]:
    """Send the login and `writes` single adds of `sku` from the anonymous device at once: [link, *adds]."""
    async with pair.anonymous.async_client() as shop, backend.async_client() as trusted:
        adds = [shop.post("/v1/cart/ops", json={"ops": [add_item(sku, 1)]}) for _ in range(writes)]
        link = trusted.post("/v1/identities", json=link_body(pair.anonymous, pair.email))
        return list(await asyncio.gather(link, *adds))


def link_body(device: Device, email: str) -> JSON:
    return {"session_id": device.session_id, "kind": "email", "value": email}


def gather_posts(backend: Backend, route: str, bodies: list[JSON]) -> list[httpx.Response]:
    """POST every body at once (one connection each) and return the responses in order."""

    async def post_all() -> list[httpx.Response]:
        async with backend.async_client() as client:
            return list(await asyncio.gather(*[client.post(route, json=body) for body in bodies]))

    return asyncio.run(post_all())


# What the merge does to devices, logs and tokens.


def test_anonymous_device_moves_to_the_known_customer(login: MakeLogin, backend: Backend) -> None:
    """The anonymous device's session now belongs to the known customer and is listed among its devices."""
    pair = login()
    report = backend.link(pair.anonymous, "email", pair.email)
    assert report["moved_sessions"] == [pair.anonymous.session_id]
    assert pair.anonymous.client.get("/v1/customer").json()["customer_id"] == pair.known.customer_id
    assert pair.anonymous.session_id in {item["session_id"] for item in pair.known.sessions()}


def test_anonymous_device_keeps_working_on_the_known_cart(login: MakeLogin, backend: Backend) -> None:
    """After the merge the anonymous device's token still works, and its changes land in the known cart."""
    pair = login()
    backend.link(pair.anonymous, "email", pair.email)
    pair.anonymous.add(FILTERS, 2)
    assert quantities(pair.known.cart()) == {CUP: 5, TEAPOT: 1, MUG: 1, FILTERS: 2}


def test_merge_moves_the_anonymous_identities(login: MakeLogin, backend: Backend) -> None:
    """Identities the anonymous customer had become the known customer's: opening by them finds it."""
    pair = login()
    handle = new_handle()
    backend.link(pair.anonymous, "instagram", handle)
    backend.link(pair.anonymous, "email", pair.email)
    identities = pair.known.client.get("/v1/customer").json()["identities"]
    assert sorted(identity["kind"] for identity in identities) == ["email", "instagram"]
    assert backend.open("instagram", handle, "instagram").customer_id == pair.known.customer_id


def test_anonymous_stream_is_closed_with_4009_after_the_merged_event(login: MakeLogin, backend: Backend) -> None:
    """The anonymous device's live stream gets customer.merged {into} as its last frame, then close code 4009."""
    pair = login()
    with open_stream(pair.anonymous, since=pair.anonymous.head()) as stream:
        backend.link(pair.anonymous, "email", pair.email)
        assert stream.wait_closed() == 4009
    last = stream.frames[-1]
    assert (last["type"], last["kind"]) == ("event", "customer.merged"), stream.frames
    assert last["data"]["into"] == pair.known.customer_id


def test_anonymous_log_keeps_its_events_and_ends_with_merged(login: MakeLogin, backend: Backend) -> None:
    """The anonymous log keeps every event it had, gap-free, and ends with customer.merged {into, strategy}."""
    pair = login()
    before = pair.anonymous.all_events()
    with open_stream(pair.anonymous, since=0) as stream:
        backend.link(pair.anonymous, "email", pair.email, "higher_quantity")
        stream.wait_closed()
    events = stream.events()
    assert [event["seq"] for event in events] == list(range(1, len(before) + 2))
    assert events[: len(before)] == [{"type": "event", **event} for event in before]
    assert (events[-1]["kind"], events[-1]["data"]) == (
        "customer.merged",
        {"into": pair.known.customer_id, "strategy": "higher_quantity"},
    )


def test_known_log_gets_merged_then_cart_updated(login: MakeLogin, backend: Backend) -> None:
    """The known log keeps its events and appends customer.merged {from, report} then cart.updated (reason merge)."""
    pair = login()
    before = pair.known.all_events()
    report = backend.link(pair.anonymous, "email", pair.email)
    after = pair.known.all_events()
    assert after[: len(before)] == before
    merged_event, updated = after[len(before) :]
    assert merged_event["kind"] == "customer.merged"
    assert merged_event["data"]["from"] == pair.anonymous.customer_id
    assert merged_event["data"]["cart_changes"] == report["cart_changes"]
    assert updated["kind"] == "cart.updated"
    assert updated["data"]["reason"] == "merge"
    assert updated["data"]["cart"] == report["cart"]
    assert updated["data"]["version"] == report["cart"]["version"]


def test_known_stream_sees_the_merge_live_and_stays_open(login: MakeLogin, backend: Backend) -> None:
    """The known device's live stream delivers customer.merged and the merged cart, then goes on with later events."""
    pair = login()
    with open_stream(pair.known, since=pair.known.head()) as stream:
        report = backend.link(pair.anonymous, "email", pair.email)
        stream.wait_for_event("customer.merged")
        updated = stream.wait_for_event("cart.updated")
        assert updated["data"]["cart"] == report["cart"]
        pair.anonymous.add(FILTERS)
        assert stream.wait_for_event("cart.updated")["data"]["version"] == report["cart"]["version"] + 1


def test_reconnected_anonymous_device_follows_the_known_customer(login: MakeLogin, backend: Backend) -> None:
    """After 4009 the anonymous device reconnects with since=0 and gets the known customer's log and merged cart."""
    pair = login()
    with open_stream(pair.anonymous) as stream:
        report = backend.link(pair.anonymous, "email", pair.email)
        assert stream.wait_closed() == 4009
    with open_stream(pair.anonymous, since=0) as again:
        assert again.welcome["customer_id"] == pair.known.customer_id
        assert again.welcome["epoch"] != stream.welcome["epoch"]
        updated = again.wait_for(lambda f: f["type"] == "event" and f["data"].get("reason") == "merge")
    assert updated["data"]["cart"] == report["cart"]


def test_device_resuming_the_merged_away_log_gets_a_snapshot(login: MakeLogin, backend: Backend) -> None:
    """A device resuming with its seq and epoch of the merged-away log gets a snapshot of the known cart."""
    pair = login()
    with open_stream(pair.anonymous) as stream:
        report = backend.link(pair.anonymous, "email", pair.email)
        stream.wait_closed()
    with open_stream(pair.anonymous, since=stream.events()[-1]["seq"], epoch=stream.welcome["epoch"]) as resumed:
        snapshot = resumed.next_frame()
    assert snapshot["type"] == "snapshot", resumed.frames
    assert snapshot["epoch"] == resumed.welcome["epoch"] != stream.welcome["epoch"]
    assert snapshot["cart"] == report["cart"]


def test_known_device_sees_the_moved_device_come_online(login: MakeLogin, backend: Backend) -> None:
    """Once the logged-in device reconnects, the known customer's devices see it in their presence."""
    pair = login()
    with open_stream(pair.known, since=pair.known.head()) as known:
        backend.link(pair.anonymous, "email", pair.email)
        with open_stream(pair.anonymous):
            frame = known.wait_for(
                lambda f: (
                    f["type"] == "presence" and pair.anonymous.session_id in {s["session_id"] for s in f["sessions"]}
                ),
                message="presence with the logged-in device",
            )
    assert {s["session_id"] for s in frame["sessions"]} == {pair.known.session_id, pair.anonymous.session_id}


def test_merged_away_customer_token_opens_the_known_customer(
    login: MakeLogin, backend: Backend, open_device: OpenDevice
) -> None:
    """A customer token of the merged-away customer opens new sessions on the known customer and its cart."""
    pair = login()
    backend.link(pair.anonymous, "email", pair.email)
    later = open_device(channel="web", device="next-day", customer_token=pair.anonymous.customer_token)
    assert later.customer_id == pair.known.customer_id
    assert later.cart() == pair.known.cart()


def test_timeline_keeps_the_merged_away_history(login: MakeLogin, backend: Backend) -> None:
    """GET /v1/timeline of the known customer covers every event of both logs, the merged-away one included."""
    pair = login()
    anonymous_head, known_head = pair.anonymous.head(), pair.known.head()
    backend.link(pair.anonymous, "email", pair.email)
    response = pair.known.client.get("/v1/timeline")
    assert response.status_code == 200, describe(response)
    seqs: dict[str, set[int]] = {}
    for entry in response.json()["entries"]:
        seqs.setdefault(entry["customer_id"], set()).update(entry["seqs"])
    assert seqs == {
        pair.anonymous.customer_id: set(range(1, anonymous_head + 2)),
        pair.known.customer_id: set(range(1, known_head + 3)),
    }


def test_retry_after_the_merge_is_not_applied_again(login: MakeLogin, backend: Backend) -> None:
    """A batch acknowledged before the merge and retried after it with the same Idempotency-Key has no second effect."""
    pair = login(known={TEAPOT: 1}, anonymous={})
    key, body = f"test-{uuid.uuid4()}", {"ops": [add_item(CUP, 1)]}
    first = pair.anonymous.post_ops(body, idempotency_key=key)
    assert first.status_code == 200, describe(first)
    backend.link(pair.anonymous, "email", pair.email)
    again = pair.anonymous.post_ops(body, idempotency_key=key)
    assert again.status_code == 200, describe(again)
    assert quantities(pair.known.cart()) == {TEAPOT: 1, CUP: 1}


def test_handoff_code_offered_before_the_merge_opens_the_known_customer(
    login: MakeLogin, backend: Backend, server: ServerProcess
) -> None:
    """A handoff code the anonymous device offered before logging in opens a working session of the known customer."""
    pair = login()
    code = offer(pair.anonymous)["code"]
    backend.link(pair.anonymous, "email", pair.email)
    with Claimer(server.url) as claimer:
        phone = claimer.claim(code)
        assert phone.customer_id == pair.known.customer_id
        response = phone.client.get("/v1/cart")
        assert response.status_code == 200, describe(response)
        assert response.json() == pair.known.cart()
