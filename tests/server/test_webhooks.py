"""Webhooks: admin keys register endpoints; wanted events arrive signed (Standard Webhooks), failures retry, then park.

Every test runs against one server per backend with fast jobs (WEBHOOK_ENV) and one real HTTP receiver on
127.0.0.1; each test registers endpoints at paths of its own and looks only at its own customers' events.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from tests.support.catalog import SKUS
from tests.support.databases import Databases
from tests.support.devices import Device, OpenDevice, bearer, describe, new_device
from tests.support.identity import api_key
from tests.support.problems import assert_problem
from tests.support.receiver import Received, WebhookReceiver
from tests.support.server import ServerProcess, free_port
from tests.support.transactions import PaymentBackend, parse_time, ready_to_pay
from tests.support.webhooks import ADMIN, JSON, WebhookAdmin, all_settled, verify

CUP = SKUS[0]
PAYMENTS = "payments"
SCOPES = (ADMIN, PAYMENTS)
MAX_ATTEMPTS = 3
RETRY_BASE_SECONDS = 0.2
WEBHOOK_ENV = {
    "OMNICART_JOBS_INTERVAL_SECONDS": "0.3",
    "OMNICART_CART_ABANDONED_AFTER_SECONDS": "1",
    "OMNICART_WEBHOOK_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    "OMNICART_WEBHOOK_RETRY_BASE_SECONDS": str(RETRY_BASE_SECONDS),
    "OMNICART_WEBHOOK_TIMEOUT_SECONDS": "2",
}
"""Jobs every 0.3 s, carts abandoned after 1 s, three attempts 0.2 s then 0.8 s apart."""


@pytest.fixture(scope="module")
def _hooks_server(
    databases: Databases, catalog_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    server = ServerProcess(
        databases.new(), tmp_path_factory.mktemp("logs") / "webhooks.log", env=WEBHOOK_ENV, catalog=catalog_file
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def hooks_server(_hooks_server: ServerProcess) -> ServerProcess:
    """The module's server with WEBHOOK_ENV (started again if an earlier test crashed it)."""
    if not _hooks_server.alive():
        _hooks_server.start()
    return _hooks_server


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as found:
        yield found


@pytest.fixture(scope="module")
def keys(_hooks_server: ServerProcess) -> dict[str, str]:
    """API keys of the module's server by scope (admin, payments), made side by side: each is a process to run."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(SCOPES, pool.map(lambda scope: api_key(_hooks_server, scope), SCOPES), strict=True))


@pytest.fixture(scope="module")
def _admin(_hooks_server: ServerProcess, keys: dict[str, str]) -> Iterator[WebhookAdmin]:
    admin = WebhookAdmin(_hooks_server.url, keys[ADMIN])
    yield admin
    admin.close()


@pytest.fixture
def admin(_admin: WebhookAdmin, hooks_server: ServerProcess) -> Iterator[WebhookAdmin]:
    """The operator's backend; endpoints a test registers are deleted after it."""
    yield _admin
    _admin.forget_created()


@pytest.fixture
def shopper(open_device: OpenDevice, hooks_server: ServerProcess) -> Device:
    """A new anonymous customer on the module's server."""
    return open_device(hooks_server)


# Registering


def test_registering_needs_the_admin_scope(
    hooks_server: ServerProcess, keys: dict[str, str], receiver: WebhookReceiver
) -> None:
    """An API key without the admin scope (here: payments) gets 403 forbidden."""
    body = {"url": receiver.url(receiver.path()), "events": ["*"]}
    response = httpx.post(f"{hooks_server.url}/v1/webhooks", json=body, headers=bearer(keys[PAYMENTS]))
    assert_problem(response, 403, "forbidden")


def test_a_session_token_cannot_register(shopper: Device, receiver: WebhookReceiver) -> None:
    """A device's session token is no API key: 401 token_invalid."""
    response = shopper.client.post("/v1/webhooks", json={"url": receiver.url(receiver.path()), "events": ["*"]})
    assert_problem(response, 401, "token_invalid")


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/hook", "127.0.0.1:9/hook", "not a url", ""])
def test_a_url_that_is_not_http_is_refused(admin: WebhookAdmin, url: str) -> None:
    """An endpoint URL that is not http(s) gets 422 invalid_body."""
    assert_problem(admin.post({"url": url, "events": ["*"]}), 422, "invalid_body")


@pytest.mark.parametrize("url", ["http://", "https://", "http://[::1/hook"])
def test_an_http_url_without_a_usable_host_is_refused(admin: WebhookAdmin, url: str) -> None:
    """An http(s) URL with no host, or one that cannot be parsed, gets 422 invalid_body: nothing could be delivered."""
    assert_problem(admin.post({"url": url, "events": ["order.created"]}), 422, "invalid_body")


@pytest.mark.parametrize("events", [[], ["cart"], ["Cart.Updated"], ["cart.*"], ["**"], ["cart.updated; drop"]])
def test_a_bad_event_pattern_is_refused(admin: WebhookAdmin, receiver: WebhookReceiver, events: list[str]) -> None:
    """No event kinds, or a kind that is neither `a.b` nor `*`, gets 422 invalid_body."""
    response = admin.post({"url": receiver.url(receiver.path()), "events": events})
    assert_problem(response, 422, "invalid_body")


def test_the_secret_is_shown_once(admin: WebhookAdmin, receiver: WebhookReceiver) -> None:
    """Registering answers 201 with a whsec_ secret; the listing shows the endpoint but never the secret."""
    url = receiver.url(receiver.path())
    created = admin.create(url, ["cart.abandoned", "order.created"])
    assert created["secret"].startswith("whsec_"), created
    assert (created["url"], created["events"]) == (url, ["cart.abandoned", "order.created"])
    response = admin.client.get("/v1/webhooks")
    (listed,) = [item for item in response.json()["webhooks"] if item["webhook_id"] == created["webhook_id"]]
    assert listed["url"] == url
    assert listed.get("secret") is None, listed
    assert created["secret"] not in response.text


# What arrives, signed


def test_cart_abandoned_arrives_signed(admin: WebhookAdmin, receiver: WebhookReceiver, shopper: Device) -> None:
    """An endpoint for cart.abandoned gets the idle cart's event, with a valid Standard Webhooks signature."""
    path = receiver.path()
    created = admin.create(receiver.url(path), ["cart.abandoned"])
    shopper.add(CUP)
    (request,) = receiver.wait_for_kind(path, shopper.customer_id, "cart.abandoned")
    assert verify(created["secret"], request)["type"] == "cart.abandoned"


def test_order_created_arrives_signed(
    admin: WebhookAdmin, receiver: WebhookReceiver, keys: dict[str, str], hooks_server: ServerProcess, shopper: Device
) -> None:
    """An endpoint for order.created gets the order of a paid checkout, signed."""
    path = receiver.path()
    created = admin.create(receiver.url(path), ["order.created"])
    shopper.add(CUP)
    checkout = ready_to_pay(shopper)
    with PaymentBackend(hooks_server.url, keys[PAYMENTS]) as payments:
        payments.confirm(checkout["transaction_id"])
    (request,) = receiver.wait_for_kind(path, shopper.customer_id, "order.created")
    payload = verify(created["secret"], request)
    assert payload["data"]["event"]["data"]["transaction_id"] == checkout["transaction_id"]


def test_star_receives_every_kind(admin: WebhookAdmin, receiver: WebhookReceiver, hooks_server: ServerProcess) -> None:
    """An endpoint for "*" gets every event of a new customer, each signed."""
    path = receiver.path()
    created = admin.create(receiver.url(path), ["*"])
    with new_device(hooks_server) as shopper:
        shopper.add(CUP)
        found = receiver.wait_for(
            lambda requests: {"session.opened", "cart.updated"} <= {r.event_kind for r in requests},
            path=path,
            customer_id=shopper.customer_id,
            message="session.opened and cart.updated",
        )
    assert all(verify(created["secret"], request) for request in found)


def test_a_tampered_body_fails_verification(admin: WebhookAdmin, receiver: WebhookReceiver, shopper: Device) -> None:
    """The signature covers the body: one changed byte makes verification fail."""
    path = receiver.path()
    created = admin.create(receiver.url(path), ["cart.updated"])
    shopper.add(CUP)
    (request,) = receiver.wait_for_kind(path, shopper.customer_id, "cart.updated")
    verify(created["secret"], request)
    tampered = request.body.replace(b'"qty":1', b'"qty":9', 1)
    assert tampered != request.body
    with pytest.raises(WebhookVerificationError):
        verify(created["secret"], Received(request.path, request.headers, tampered, request.at))


def test_another_secret_fails_verification(admin: WebhookAdmin, receiver: WebhookReceiver, shopper: Device) -> None:
    """Each endpoint has its own secret: another endpoint's secret does not verify the delivery."""
    path = receiver.path()
    created = admin.create(receiver.url(path), ["cart.updated"])
    other = admin.create(receiver.url(receiver.path()), ["order.created"])
    shopper.add(CUP)
    (request,) = receiver.wait_for_kind(path, shopper.customer_id, "cart.updated")
    assert other["secret"] != created["secret"]
    with pytest.raises(WebhookVerificationError):
        verify(other["secret"], request)


def test_the_payload_carries_the_logged_event(admin: WebhookAdmin, receiver: WebhookReceiver, shopper: Device) -> None:
    """The body is {type, timestamp, data: {customer_id, event}} with the event exactly as GET /v1/events has it."""
    path = receiver.path()
    admin.create(receiver.url(path), ["cart.updated"])
    shopper.add(CUP)
    (request,) = receiver.wait_for_kind(path, shopper.customer_id, "cart.updated")
    (logged,) = [event for event in shopper.all_events() if event["kind"] == "cart.updated"]
    payload = request.json()
    assert set(payload) == {"type", "timestamp", "data"}, payload
    assert payload["data"] == {"customer_id": shopper.customer_id, "event": logged}
    assert payload["type"] == "cart.updated"
    assert parse_time(payload["timestamp"]) == parse_time(logged["at"])


def test_unwanted_kinds_are_not_delivered(
    admin: WebhookAdmin, receiver: WebhookReceiver, hooks_server: ServerProcess
) -> None:
    """An endpoint for order.created gets nothing of a customer who only opened a session and changed the cart."""
    orders_path, updates_path = receiver.path(), receiver.path()
    orders = admin.create(receiver.url(orders_path), ["order.created"])
    admin.create(receiver.url(updates_path), ["cart.updated"])
    with new_device(hooks_server) as shopper:
        shopper.add(CUP)
        # The same fan-out that delivers cart.updated here would have made any delivery to the orders endpoint.
        receiver.wait_for_kind(updates_path, shopper.customer_id, "cart.updated")
        assert receiver.received(orders_path) == []
        assert admin.deliveries(orders["webhook_id"], shopper.customer_id) == []


# Deleting


def test_a_deleted_webhook_gets_no_new_events(
    admin: WebhookAdmin, receiver: WebhookReceiver, hooks_server: ServerProcess
) -> None:
    """After DELETE /v1/webhooks/{id} (204), the endpoint is no longer listed and gets no event."""
    gone_path, kept_path = receiver.path(), receiver.path()
    gone = admin.create(receiver.url(gone_path), ["cart.updated"])
    admin.create(receiver.url(kept_path), ["cart.updated"])
    response = admin.delete(gone["webhook_id"])
    assert response.status_code == 204, describe(response)
    assert gone["webhook_id"] not in [item["webhook_id"] for item in admin.listed()]
    with new_device(hooks_server) as shopper:
        shopper.add(CUP)
        receiver.wait_for_kind(kept_path, shopper.customer_id, "cart.updated")
    assert receiver.received(gone_path) == []


@pytest.mark.parametrize("method", ["DELETE", "GET"])
def test_an_unknown_webhook_is_404(admin: WebhookAdmin, method: str) -> None:
    """Deleting an unknown webhook, or reading its deliveries, gets 404 not_found."""
    path = "/v1/webhooks/wh_0000000000000000" + ("" if method == "DELETE" else "/deliveries")
    assert_problem(admin.client.request(method, path), 404, "not_found")


# Retries


@dataclass
class RetryScenario:
    """One cart.updated sent at once to four endpoints, every delivery settled (see `retries`)."""

    customer_id: str
    failing: JSON
    """Answers 500."""
    unreachable: JSON
    """A closed port on 127.0.0.1."""
    healthy: JSON
    """Answers 200."""
    deleted: JSON
    """Answers 500; deleted right after its first attempt arrived."""
    seen_when_deleted: int
    """Requests the deleted endpoint had got when DELETE answered."""
    settled: dict[str, JSON]
    """The customer's delivery to each endpoint but the deleted one, by webhook id, once no longer pending."""
    failing_requests: list[Received]
    """What reached the failing endpoint for the customer."""
    deleted_requests: list[Received]
    """What reached the deleted endpoint for the customer, before and after DELETE."""


@pytest.fixture(scope="module")
def retries(_hooks_server: ServerProcess, receiver: WebhookReceiver) -> Iterator[RetryScenario]:
    """Register the four endpoints, make one cart.updated, delete one endpoint, wait until the others settle.

    Then three more events go to the healthy endpoint one after the other: by then every retry the deleted endpoint
    would still get has come due, so its tests can tell "stopped" from "not yet".
    """
    admin = WebhookAdmin(_hooks_server.url, api_key(_hooks_server, ADMIN))
    failing_path, healthy_path, deleted_path = receiver.path("fail"), receiver.path(), receiver.path("fail")
    failing = admin.create(receiver.url(failing_path), ["cart.updated"])
    unreachable = admin.create(f"http://127.0.0.1:{free_port()}/hook", ["cart.updated"])
    healthy = admin.create(receiver.url(healthy_path), ["cart.updated"])
    deleted = admin.create(receiver.url(deleted_path), ["cart.updated"])
    with new_device(_hooks_server) as shopper, new_device(_hooks_server) as marker:
        shopper.add(CUP)
        receiver.wait_for(lambda found: len(found) >= 1, path=deleted_path, message="the first attempt")
        response = admin.delete(deleted["webhook_id"])
        assert response.status_code == 204, describe(response)
        seen = len(receiver.received(deleted_path))
        settled = {
            endpoint["webhook_id"]: admin.wait_for_deliveries(
                endpoint["webhook_id"], shopper.customer_id, all_settled, message="a settled delivery"
            )[0]
            for endpoint in (failing, unreachable, healthy)
        }
        for count in (1, 2, 3):
            marker.add(CUP)
            receiver.wait_for_kind(healthy_path, marker.customer_id, "cart.updated", count=count)
    yield RetryScenario(
        customer_id=shopper.customer_id,
        failing=failing,
        unreachable=unreachable,
        healthy=healthy,
        deleted=deleted,
        seen_when_deleted=seen,
        settled=settled,
        failing_requests=receiver.received(failing_path, shopper.customer_id),
        deleted_requests=receiver.received(deleted_path, shopper.customer_id),
    )
    admin.forget_created()
    admin.close()


def test_a_failing_endpoint_is_parked_after_the_last_attempt(retries: RetryScenario) -> None:
    """An endpoint answering 500 gets MAX_ATTEMPTS tries, each logged with its status, then the delivery is parked."""
    delivery = retries.settled[retries.failing["webhook_id"]]
    assert delivery["status"] == "parked", delivery
    assert [(a["status_code"], bool(a["error"])) for a in delivery["attempts"]] == [(500, True)] * MAX_ATTEMPTS
    assert delivery["next_attempt_at"] is None


def test_retries_back_off(retries: RetryScenario) -> None:
    """Attempt n+1 comes at least RETRY_BASE_SECONDS x 4^(n-1) after attempt n."""
    delivery = retries.settled[retries.failing["webhook_id"]]
    times = [parse_time(attempt["at"]) for attempt in delivery["attempts"]]
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(times)]
    minimum = [RETRY_BASE_SECONDS * 4**n for n in range(MAX_ATTEMPTS - 1)]
    assert all(gap >= least for gap, least in zip(gaps, minimum, strict=True)), (gaps, minimum)


def test_every_retry_carries_the_same_webhook_id(retries: RetryScenario) -> None:
    """Each try of one delivery is sent with the same webhook-id header, the delivery's message_id."""
    requests = retries.failing_requests
    delivery = retries.settled[retries.failing["webhook_id"]]
    assert len(requests) == MAX_ATTEMPTS
    assert {request.headers["webhook-id"] for request in requests} == {delivery["message_id"]}


def test_every_retry_is_signed(retries: RetryScenario) -> None:
    """Each retry carries a signature that verifies with the endpoint's secret."""
    assert retries.failing_requests
    for request in retries.failing_requests:
        verify(retries.failing["secret"], request)


def test_an_unreachable_endpoint_is_parked_with_errors(retries: RetryScenario) -> None:
    """An endpoint nobody listens on gets MAX_ATTEMPTS tries, each logged with an error and no status, then parked."""
    delivery = retries.settled[retries.unreachable["webhook_id"]]
    assert delivery["status"] == "parked", delivery
    assert [(a["status_code"], bool(a["error"])) for a in delivery["attempts"]] == [(None, True)] * MAX_ATTEMPTS


def test_a_delivered_event_shows_status_delivered(retries: RetryScenario) -> None:
    """An endpoint answering 200 shows the delivery delivered after one attempt with status 200 and no error."""
    delivery = retries.settled[retries.healthy["webhook_id"]]
    assert (delivery["status"], delivery["event_kind"]) == ("delivered", "cart.updated"), delivery
    assert [(a["status_code"], a["error"]) for a in delivery["attempts"]] == [(200, None)]


def test_deleting_a_webhook_stops_its_retries(retries: RetryScenario) -> None:
    """A delivery still being retried is not sent again once its endpoint is deleted (one in flight at most)."""
    got = len(retries.deleted_requests)
    assert got <= retries.seen_when_deleted + 1, f"{got} tries, {retries.seen_when_deleted} before DELETE answered"
