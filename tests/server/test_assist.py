"""Call-center assist: the shopper's PIN opens a short agent session that the shopper can end at any time."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.assist import AGENT_CHANNEL, AgentApp, ask_refresh, new_agent_id, offer_assist, set_price
from tests.support.catalog import PRICES, SKUS
from tests.support.databases import Databases
from tests.support.devices import Device, OpenDevice, bearer, describe, line_for
from tests.support.identity import IDENTITY_WRITE, Backend, api_key, new_email
from tests.support.live import open_stream
from tests.support.problems import assert_problem
from tests.support.server import ServerProcess
from tests.support.transactions import parse_time
from tests.support.wait import wait_for

CUP = SKUS[0]
AGENT, PAYMENTS = "agent", "payments"
STREAM_CLOSED = 4401
SHORT_PIN_TTL, SHORT_ATTEMPTS, SHORT_AGENT_TTL = 1, 3, 2
"""Assist limits of the `short_server`: PIN seconds, pickups per agent per minute, agent session seconds."""


@pytest.fixture
def agents(server: ServerProcess) -> Iterator[AgentApp]:
    """The contact center's app on the shared server, with a key of scope `agent` only."""
    with AgentApp(server.url, api_key(server, AGENT)) as app:
        yield app


@pytest.fixture
def trusted_agents(server: ServerProcess) -> Iterator[AgentApp]:
    """An agent app that may also open customers by identity (scopes `agent` and `identity:write`)."""
    with AgentApp(server.url, api_key(server, AGENT, IDENTITY_WRITE)) as app:
        yield app


@pytest.fixture
def crm(server: ServerProcess) -> Iterator[Backend]:
    """A trusted backend with scope `identity:write`."""
    backend = Backend(server.url, api_key(server, IDENTITY_WRITE))
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def short_server(
    databases: Databases, catalog_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server of this module's own with short assist limits, shared by the tests that wait for them."""
    log = tmp_path_factory.mktemp("logs") / f"assist-short-{databases.backend}.log"
    env = {
        "OMNICART_ASSIST_PIN_TTL_SECONDS": str(SHORT_PIN_TTL),
        "OMNICART_ASSIST_PIN_ATTEMPTS_PER_AGENT_PER_MINUTE": str(SHORT_ATTEMPTS),
        "OMNICART_AGENT_SESSION_TTL_SECONDS": str(SHORT_AGENT_TTL),
    }
    server = ServerProcess(databases.new(), log, env=env, catalog=catalog_file)
    server.start()
    yield server
    server.stop()


def wait_until(moment: datetime) -> None:
    """Return once the clock has passed `moment` (what an expiry test waits on)."""
    wait_for(lambda: datetime.now(UTC) > moment, (moment - datetime.now(UTC)).total_seconds() + 5, message="time")


def test_offer_answers_consent_and_six_digit_pin(device: Device) -> None:
    """POST /v1/assist answers 201 with a consent id, a six-digit PIN and a future expiry."""
    offered = offer_assist(device)
    assert re.fullmatch(r"[0-9]{6}", offered["pin"]), offered
    assert offered["consent_id"], offered
    assert parse_time(offered["expires_at"]) > datetime.now(UTC)


def test_agent_picks_customer_up_by_pin(device: Device, agents: AgentApp) -> None:
    """An agent key redeems the PIN for a session on the shopper's customer, without any customer token."""
    pin = offer_assist(device)["pin"]
    response = agents.post_pickup(new_agent_id(), pin=pin)
    assert response.status_code == 201, describe(response)
    body = response.json()
    assert body["customer_id"] == device.customer_id
    assert body["session_id"] != device.session_id
    assert body["session_token"] and parse_time(body["expires_at"]) > datetime.now(UTC)
    assert "customer_token" not in body, body


def test_agent_session_sees_the_shoppers_cart(device: Device, agents: AgentApp) -> None:
    """The agent's session reads the very cart the shopper has on screen."""
    device.add(CUP, 2)
    agent = agents.pick_up(new_agent_id(), offer_assist(device)["pin"])
    assert agent.cart() == device.cart()


def test_agent_session_is_shorter_than_a_shoppers(device: Device, agents: AgentApp) -> None:
    """An agent session expires within the agent TTL (15 minutes by default), long before a shopper's session."""
    agent = agents.pick_up(new_agent_id(), offer_assist(device)["pin"])
    assert parse_time(agent.expires_at) <= datetime.now(UTC) + timedelta(minutes=15, seconds=5)
    assert parse_time(agent.expires_at) < parse_time(device.expires_at)


def test_pin_is_single_use(device: Device, agents: AgentApp) -> None:
    """A PIN redeemed once answers 404 not_found to a second pickup."""
    pin = offer_assist(device)["pin"]
    agents.pick_up(new_agent_id(), pin)
    assert_problem(agents.post_pickup(new_agent_id(), pin=pin), 404, "not_found")


def test_unknown_pin_is_not_found(device: Device, agents: AgentApp) -> None:
    """A PIN nobody was shown answers 404 not_found."""
    pin = offer_assist(device)["pin"]
    other = f"{(int(pin) + 1) % 10**6:06d}"
    assert_problem(agents.post_pickup(new_agent_id(), pin=other), 404, "not_found")


def test_pickup_needs_an_api_key(server: ServerProcess, device: Device) -> None:
    """A session token is not an API key: pickup with one answers 401 token_invalid."""
    pin = offer_assist(device)["pin"]
    with AgentApp(server.url, device.session_token) as impostor:
        assert_problem(impostor.post_pickup(new_agent_id(), pin=pin), 401, "token_invalid")


def test_key_without_agent_scope_is_forbidden(server: ServerProcess, device: Device) -> None:
    """A key lacking scope `agent` gets 403 forbidden, and the PIN stays redeemable."""
    pin = offer_assist(device)["pin"]
    with AgentApp(server.url, api_key(server, PAYMENTS)) as payments:
        assert_problem(payments.post_pickup(new_agent_id(), pin=pin), 403, "forbidden")
    with AgentApp(server.url, api_key(server, AGENT)) as agents:
        agents.pick_up(new_agent_id(), pin)


def test_pickup_needs_pin_or_identity(device: Device, trusted_agents: AgentApp) -> None:
    """Neither a PIN nor an identity, or both at once, gets 422 invalid_body."""
    pin = offer_assist(device)["pin"]
    assert_problem(trusted_agents.post_pickup(new_agent_id()), 422, "invalid_body")
    both = trusted_agents.post_pickup(new_agent_id(), pin=pin, kind="email", value=new_email())
    assert_problem(both, 422, "invalid_body")


def test_malformed_pin_is_refused(agents: AgentApp) -> None:
    """A PIN that is not six digits gets 422 invalid_body."""
    assert_problem(agents.post_pickup(new_agent_id(), pin="12345"), 422, "invalid_body")


def test_pickup_by_identity_needs_identity_write(device: Device, agents: AgentApp, crm: Backend) -> None:
    """Picking up by identity with a key of scope `agent` only gets 403 forbidden."""
    email = new_email()
    crm.link(device, "email", email)
    assert_problem(agents.post_pickup(new_agent_id(), kind="email", value=email), 403, "forbidden")


def test_pickup_by_identity_opens_the_identity_owner(device: Device, trusted_agents: AgentApp, crm: Backend) -> None:
    """With scopes `agent` and `identity:write`, an identity picks up the customer who holds it."""
    email = new_email()
    crm.link(device, "email", email)
    agent = trusted_agents.device_of(trusted_agents.post_pickup(new_agent_id(), kind="email", value=email.upper()))
    assert agent.customer_id == device.customer_id
    assert agent.cart() == device.cart()


def test_pickup_by_unknown_identity_is_not_found(trusted_agents: AgentApp) -> None:
    """An identity nobody holds answers 404 not_found (no customer is created for an agent)."""
    assert_problem(trusted_agents.post_pickup(new_agent_id(), kind="email", value=new_email()), 404, "not_found")


def test_agent_session_is_listed_with_role_agent(device: Device, agents: AgentApp) -> None:
    """The shopper's GET /v1/sessions lists the agent's session with role agent, its agent id and channel."""
    agent_id = new_agent_id()
    agent = agents.pick_up(agent_id, offer_assist(device)["pin"], device="desk-12")
    listed = {item["session_id"]: item for item in device.sessions()}
    assert agent.session_id in listed, listed
    item = listed[agent.session_id]
    assert (item["role"], item["agent_id"], item["channel"], item["device"]) == (
        "agent",
        agent_id,
        AGENT_CHANNEL,
        "desk-12",
    )
    assert listed[device.session_id]["role"] == "shopper"


def test_agent_shows_in_shoppers_presence(device: Device, agents: AgentApp) -> None:
    """When the agent's stream connects, the shopper's stream lists it in presence with role agent and agent id."""
    agent_id = new_agent_id()
    agent = agents.pick_up(agent_id, offer_assist(device)["pin"])
    with open_stream(device) as shopper_stream, open_stream(agent):
        frame = shopper_stream.wait_for(
            lambda f: f["type"] == "presence" and any(s["session_id"] == agent.session_id for s in f["sessions"]),
            message="presence with the agent",
        )
    (seen,) = [s for s in frame["sessions"] if s["session_id"] == agent.session_id]
    assert (seen["role"], seen["agent_id"]) == ("agent", agent_id)


def test_agent_overrides_a_price_with_reason(device: Device, agents: AgentApp) -> None:
    """An agent's set_price changes the line's price and total and keeps the reason on the line."""
    line_id = line_for(device.add(CUP, 2), CUP)["line_id"]
    agent = agents.pick_up(new_agent_id(), offer_assist(device)["pin"])
    cart = agent.apply(set_price(line_id, 300, "goodwill: chipped box"))
    line = line_for(cart, CUP)
    assert (line["unit_price"], line["line_total"], line["price_reason"]) == (300, 600, "goodwill: chipped box")
    assert line_for(device.cart(), CUP)["unit_price"] == 300


def test_agent_writes_carry_the_agent_id_in_the_log(device: Device, agents: AgentApp) -> None:
    """The cart.updated event of an agent's price override carries data.agent_id and the reason."""
    line_id = line_for(device.add(CUP, 1), CUP)["line_id"]
    agent_id = new_agent_id()
    agent = agents.pick_up(agent_id, offer_assist(device)["pin"])
    agent.apply(set_price(line_id, 99, "price match"))
    event = device.all_events()[-1]
    assert (event["kind"], event["session_id"], event["channel"]) == ("cart.updated", agent.session_id, AGENT_CHANNEL)
    assert event["data"]["agent_id"] == agent_id
    assert event["data"]["ops"][0]["reason"] == "price match"


def test_shopper_cannot_set_a_price(device: Device) -> None:
    """A shopper's set_price gets 403 price_not_allowed and the catalog price stays."""
    line_id = line_for(device.add(CUP, 1), CUP)["line_id"]
    response = device.post_ops({"ops": [set_price(line_id, 1, "I said so")]})
    assert_problem(response, 403, "price_not_allowed")
    assert line_for(device.cart(), CUP)["unit_price"] == PRICES[CUP]


def test_agent_cannot_offer_assist(device: Device, agents: AgentApp) -> None:
    """POST /v1/assist from an agent's session gets 403 forbidden: only the shopper consents."""
    agent = agents.pick_up(new_agent_id(), offer_assist(device)["pin"])
    assert_problem(agent.client.post("/v1/assist"), 403, "forbidden")


def test_agent_cannot_hand_the_customer_off(device: Device, agents: AgentApp) -> None:
    """POST /v1/handoff from an agent's session gets 403 forbidden: a claimed code would outlive the consent."""
    agent = agents.pick_up(new_agent_id(), offer_assist(device)["pin"])
    assert_problem(agent.client.post("/v1/handoff"), 403, "forbidden")


def test_agent_cannot_withdraw_consent(device: Device, agents: AgentApp) -> None:
    """DELETE /v1/assist/{id} from the agent's own session gets 403 forbidden and the session keeps working."""
    offered = offer_assist(device)
    agent = agents.pick_up(new_agent_id(), offered["pin"])
    assert_problem(agent.client.delete(f"/v1/assist/{offered['consent_id']}"), 403, "forbidden")
    assert agent.client.get("/v1/cart").status_code == 200


def test_withdrawing_consent_ends_agent_session(device: Device, agents: AgentApp) -> None:
    """After DELETE /v1/assist/{consent_id}, the agent's next HTTP call gets 401 session_revoked."""
    offered = offer_assist(device)
    agent = agents.pick_up(new_agent_id(), offered["pin"])
    response = device.client.delete(f"/v1/assist/{offered['consent_id']}")
    assert response.status_code == 204, describe(response)
    assert_problem(agent.client.get("/v1/cart"), 401, "session_revoked")
    assert device.client.get("/v1/cart").status_code == 200


def test_withdrawing_consent_closes_agent_stream(device: Device, agents: AgentApp) -> None:
    """The agent's live stream is closed with 4401 when the shopper withdraws consent."""
    offered = offer_assist(device)
    agent = agents.pick_up(new_agent_id(), offered["pin"])
    with open_stream(agent) as stream:
        assert device.client.delete(f"/v1/assist/{offered['consent_id']}").status_code == 204
        assert stream.wait_closed() == STREAM_CLOSED


def test_withdrawing_consent_twice_is_not_an_error(device: Device, agents: AgentApp) -> None:
    """A second DELETE of the same consent answers 204 again."""
    consent_id = offer_assist(device)["consent_id"]
    assert device.client.delete(f"/v1/assist/{consent_id}").status_code == 204
    assert device.client.delete(f"/v1/assist/{consent_id}").status_code == 204


def test_withdrawing_another_customers_consent_is_not_found(device: Device, open_device: OpenDevice) -> None:
    """DELETE of a consent the customer never gave answers 404 not_found and leaves it standing."""
    stranger = open_device()
    consent_id = offer_assist(stranger)["consent_id"]
    assert_problem(device.client.delete(f"/v1/assist/{consent_id}"), 404, "not_found")


def test_withdrawn_pin_cannot_be_redeemed(device: Device, agents: AgentApp) -> None:
    """A PIN whose consent was withdrawn before any pickup answers 404 not_found."""
    offered = offer_assist(device)
    assert device.client.delete(f"/v1/assist/{offered['consent_id']}").status_code == 204
    assert_problem(agents.post_pickup(new_agent_id(), pin=offered["pin"]), 404, "not_found")


def test_shopper_revokes_agent_session_directly(device: Device, agents: AgentApp) -> None:
    """DELETE /v1/sessions/{agent session} ends the agent's session: its next call gets 401 session_revoked."""
    agent = agents.pick_up(new_agent_id(), offer_assist(device)["pin"])
    response = device.client.delete(f"/v1/sessions/{agent.session_id}")
    assert response.status_code == 204, describe(response)
    assert_problem(agent.client.get("/v1/cart"), 401, "session_revoked")


def test_refresh_gives_agent_a_new_token(device: Device, agents: AgentApp) -> None:
    """A refresh frame on the agent's stream answers refreshed with a token that works over HTTP."""
    agent = agents.pick_up(new_agent_id(), offer_assist(device)["pin"])
    with open_stream(agent) as stream:
        ask_refresh(stream)
        refreshed = stream.wait_for(lambda f: f["type"] == "refreshed", message="refreshed")
    response = httpx.get(f"{agent.base_url}/v1/cart", headers=bearer(refreshed["token"]))
    assert response.status_code == 200, describe(response)
    assert parse_time(refreshed["expires_at"]) <= datetime.now(UTC) + timedelta(minutes=15, seconds=5)


def test_refresh_after_consent_withdrawn_closes_stream(device: Device, agents: AgentApp) -> None:
    """Once consent is withdrawn, the agent's refresh gets no new token: the stream closes with 4401."""
    offered = offer_assist(device)
    agent = agents.pick_up(new_agent_id(), offered["pin"])
    with open_stream(agent) as stream:
        assert device.client.delete(f"/v1/assist/{offered['consent_id']}").status_code == 204
        # The withdrawal may close the stream before the refresh is even sent: either way it must end with 4401.
        with contextlib.suppress(ConnectionClosed):
            ask_refresh(stream)
        assert stream.wait_closed() == STREAM_CLOSED
    assert not [frame for frame in stream.frames if frame["type"] == "refreshed"], stream.frames


def test_expired_pin_is_not_found(short_server: ServerProcess, open_device: OpenDevice) -> None:
    """A PIN past its TTL (OMNICART_ASSIST_PIN_TTL_SECONDS) answers 404 not_found."""
    offered = offer_assist(open_device(short_server))
    expires_at = parse_time(offered["expires_at"])
    assert expires_at <= datetime.now(UTC) + timedelta(seconds=SHORT_PIN_TTL + 1)
    wait_until(expires_at)
    with AgentApp(short_server.url, api_key(short_server, AGENT)) as agents:
        assert_problem(agents.post_pickup(new_agent_id(), pin=offered["pin"]), 404, "not_found")


def test_pickups_are_rate_limited_per_agent(short_server: ServerProcess, open_device: OpenDevice) -> None:
    """Past OMNICART_ASSIST_PIN_ATTEMPTS_PER_AGENT_PER_MINUTE, an agent's pickups get 429; other agents go on."""
    guesser = new_agent_id()
    with AgentApp(short_server.url, api_key(short_server, AGENT)) as agents:
        pin = offer_assist(open_device(short_server))["pin"]
        wrong = f"{(int(pin) + 1) % 10**6:06d}"
        for _ in range(SHORT_ATTEMPTS):
            assert_problem(agents.post_pickup(guesser, pin=wrong), 404, "not_found")
        # Counts are per fixed minute: should the minute turn during the loop, go on until the next refusal.
        refused = wait_for(
            lambda: (r := agents.post_pickup(guesser, pin=wrong)).status_code == 429 and r,
            timeout=10,
            message="a 429 for the guessing agent",
        )
        assert_problem(refused, 429, "rate_limited")
        assert int(refused.headers["Retry-After"]) >= 1
        # Another agent id is counted apart: it is answered (not found), not refused.
        assert_problem(agents.post_pickup(new_agent_id(), pin=wrong), 404, "not_found")


def test_agent_session_expires(short_server: ServerProcess, open_device: OpenDevice) -> None:
    """Past OMNICART_AGENT_SESSION_TTL_SECONDS, the agent's calls get 401 token_expired; the shopper's do not."""
    shopper = open_device(short_server)
    with AgentApp(short_server.url, api_key(short_server, AGENT)) as agents:
        agent = agents.pick_up(new_agent_id(), offer_assist(shopper)["pin"])
        assert parse_time(agent.expires_at) <= datetime.now(UTC) + timedelta(seconds=SHORT_AGENT_TTL + 1)
        assert agent.client.get("/v1/cart").status_code == 200
        expired = wait_for(
            lambda: (r := agent.client.get("/v1/cart")).status_code != 200 and r, timeout=10, message="agent expiry"
        )
        assert_problem(expired, 401, "token_expired")
    assert shopper.client.get("/v1/cart").status_code == 200


def test_refresh_extends_agent_session_while_consent_stands(
    short_server: ServerProcess, open_device: OpenDevice
) -> None:
    """An in-band refresh moves the agent session's expiry on: it still works after its first expiry passed."""
    shopper = open_device(short_server)
    with AgentApp(short_server.url, api_key(short_server, AGENT)) as agents:
        agent = agents.pick_up(new_agent_id(), offer_assist(shopper)["pin"])
        first_expiry = parse_time(agent.expires_at)
        with open_stream(agent) as stream:
            # Refresh late, so the new expiry (refresh time + TTL) lies well after the first one.
            wait_until(first_expiry - timedelta(seconds=SHORT_AGENT_TTL * 0.6))
            ask_refresh(stream)
            refreshed = stream.wait_for(lambda f: f["type"] == "refreshed", message="refreshed")
        assert parse_time(refreshed["expires_at"]) > first_expiry
        wait_until(first_expiry)
        response = httpx.get(f"{short_server.url}/v1/cart", headers=bearer(refreshed["token"]))
        assert response.status_code == 200, describe(response)


def test_pin_shown_before_login_opens_the_logged_in_customer(
    device: Device, open_device: OpenDevice, agents: AgentApp, crm: Backend
) -> None:
    """A PIN shown while anonymous, redeemed after the shopper logged in, opens the customer they became."""
    email = new_email()
    known = open_device(channel="mobile", device="phone")
    crm.link(known, "email", email)
    pin = offer_assist(device)["pin"]
    assert crm.link(device, "email", email)["merged_from"] == device.customer_id
    agent = agents.pick_up(new_agent_id(), pin)
    assert agent.customer_id == known.customer_id
    assert agent.cart() == known.cart()


def test_consent_given_before_login_can_be_withdrawn_after(
    device: Device, open_device: OpenDevice, agents: AgentApp, crm: Backend
) -> None:
    """After a login merged the shopper into a known customer, withdrawing the earlier consent still ends the agent."""
    email = new_email()
    crm.link(open_device(channel="mobile", device="phone"), "email", email)
    offered = offer_assist(device)
    agent = agents.pick_up(new_agent_id(), offered["pin"])
    crm.link(device, "email", email)
    response = device.client.delete(f"/v1/assist/{offered['consent_id']}")
    assert response.status_code == 204, describe(response)
    assert_problem(agent.client.get("/v1/cart"), 401, "session_revoked")
