"""Background jobs: idle carts announced once, also by two processes on one database; purge; event retention.

The jobs run with short delays (every 0.3 s, thresholds of 1 s) on this module's servers, started together per
backend: two processes sharing one database for abandonment (as a deployment runs them), one for the purge, one for
retention. Every scenario's customers are made at once as soon as the servers answer (`started`), so the jobs'
delays run side by side; a scenario fixture then waits until the job has acted and, to show that nothing more comes,
until a marker customer made later has been acted on too. The tests then check one thing each.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.support.catalog import PRICES, SKUS
from tests.support.databases import Databases
from tests.support.devices import (
    JSON,
    REQUEST_TIMEOUT,
    Device,
    describe,
    line_for,
    new_device,
    open_session,
    remove_item,
)
from tests.support.identity import IDENTITY_WRITE, Backend, api_key, new_email
from tests.support.live import open_stream
from tests.support.problems import assert_problem
from tests.support.receiver import WebhookReceiver
from tests.support.server import ServerProcess
from tests.support.transactions import parse_time
from tests.support.wait import wait_for
from tests.support.webhooks import ADMIN, WebhookAdmin

CUP, TEAPOT = SKUS[0], SKUS[1]
JOB_TIMEOUT = 20.0
"""Seconds a test waits for a job to act on a customer (1 s threshold plus 0.3 s ticks, on a loaded machine)."""
ABANDON_ENV = {"OMNICART_JOBS_INTERVAL_SECONDS": "0.3", "OMNICART_CART_ABANDONED_AFTER_SECONDS": "1"}
"""Both processes of the pair: jobs every 0.3 s, a cart idle for 1 s is abandoned."""
PURGE_ENV = {"OMNICART_JOBS_INTERVAL_SECONDS": "0.3", "OMNICART_ANONYMOUS_PURGE_AFTER_SECONDS": "1"}
RETENTION_ENV = {
    "OMNICART_JOBS_INTERVAL_SECONDS": "0.3",
    "OMNICART_EVENT_RETENTION_SECONDS": "1",
    "OMNICART_HOUSEKEEPING_INTERVAL_SECONDS": "0.3",
    "OMNICART_WEBHOOK_MAX_ATTEMPTS": "3",
    "OMNICART_WEBHOOK_RETRY_BASE_SECONDS": "1",
}
"""Events pruned 1 s after they are written; a failing webhook delivery is retried 1 s, then 4 s, after a try."""
PAIR_CUSTOMERS = 6
ACTIVE_PACE = 0.2
"""Seconds between the changes of the customer kept active (well under the 1 s purge delay)."""


@dataclass
class JobServers:
    pair: tuple[ServerProcess, ServerProcess]
    """Two processes on one database, both running the jobs (ABANDON_ENV)."""
    purge: ServerProcess
    retention: ServerProcess

    def all(self) -> list[ServerProcess]:
        return [*self.pair, self.purge, self.retention]


@pytest.fixture(scope="module")
def servers(databases: Databases, catalog_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobServers]:
    """The module's servers, started together (the pair's second once the first has migrated the database)."""
    logs = tmp_path_factory.mktemp("logs")
    with ThreadPoolExecutor(max_workers=3) as pool:
        pair_db, purge_db, retention_db = pool.map(lambda _: databases.new(), range(3))

    def server(name: str, db_url: str, env: dict[str, str]) -> ServerProcess:
        return ServerProcess(db_url, logs / f"{name}-{databases.backend}.log", env=env, catalog=catalog_file)

    found = JobServers(
        pair=(server("pair-1", pair_db, ABANDON_ENV), server("pair-2", pair_db, ABANDON_ENV)),
        purge=server("purge", purge_db, PURGE_ENV),
        retention=server("retention", retention_db, RETENTION_ENV),
    )
    try:
        for started in (found.pair[0], found.purge, found.retention):
            started.start(wait=False)
        found.pair[0].wait_healthy()
        found.pair[1].start(wait=False)
        for started in found.all():
            started.wait_healthy()
        yield found
    finally:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(ServerProcess.stop, found.all()))


def abandoned(device: Device) -> list[JSON]:
    """The customer's cart.abandoned events."""
    return [event for event in device.all_events() if event["kind"] == "cart.abandoned"]


def kinds(events: list[JSON]) -> list[str]:
    return [event["kind"] for event in events]


def wait_abandoned(devices: list[Device], count: int = 1) -> None:
    """Wait until each device's customer has `count` (or more) cart.abandoned events."""
    wait_for(
        lambda: all(len(abandoned(device)) >= count for device in devices),
        JOB_TIMEOUT,
        interval=0.1,
        message=f"{count} cart.abandoned for {[device.customer_id for device in devices]}",
    )


class KeepActive:
    """Adds a cup to a device's cart every ACTIVE_PACE seconds, in a thread, until stopped: never idle for long."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.failure: BaseException | None = None
        """What stopped the thread early, if anything (reported by the test, not lost in the thread)."""
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keep-active", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopping.wait(ACTIVE_PACE):
                self.device.add(CUP)
        except BaseException as exc:
            self.failure = exc

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(REQUEST_TIMEOUT)


@dataclass
class IdleCarts:
    """Carts left on the pair's first process, all made at the start."""

    idle: Device
    """One cup, never touched again."""
    idle_cart: JSON
    empty: Device
    """Nothing ever put in."""
    emptied: Device
    """Its only line removed at once."""
    changed: Device
    """One cup; a teapot is added once the cart was abandoned, then it is left again."""


@dataclass
class PurgeCustomers:
    """Customers on the purge server, all made at the start."""

    inactive: Device
    """Anonymous, nothing since its session opened."""
    known: Device
    """Has an email identity (opened by identity), nothing since."""
    email: str
    backend: Backend
    active: KeepActive
    """Anonymous, changing its cart all along."""
    marker: Device
    """Anonymous, made after the others: once it is purged, the others were due too."""


@dataclass
class RetentionHooks:
    """Endpoints for cart.updated on the retention server, registered before any customer was made."""

    admin: WebhookAdmin
    receiver: WebhookReceiver
    failing: JSON
    """Answers 500, so its deliveries are still being retried when their events are pruned."""
    healthy_path: str
    """Where a second endpoint, answering 200, gets the events."""


@dataclass
class Started:
    carts: IdleCarts
    pair: list[Device]
    """PAIR_CUSTOMERS carts of one cup, opened on either process of the pair."""
    purge: PurgeCustomers
    hooks: RetentionHooks
    pruned: Device
    """A customer with three events (two cart.updated) on the retention server."""


@pytest.fixture(scope="module")
def started(servers: JobServers) -> Iterator[Started]:
    """Every scenario's customers, made at once as soon as the servers answer; closed at the end."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        identity_key, admin_key = pool.map(
            lambda wanted: api_key(*wanted), [(servers.purge, IDENTITY_WRITE), (servers.retention, ADMIN)]
        )
    with ExitStack() as stack:

        def device(server: ServerProcess) -> Device:
            return stack.enter_context(new_device(server))

        idle, empty, emptied, changed = (device(servers.pair[0]) for _ in range(4))
        idle_cart = idle.add(CUP)
        emptied.apply(remove_item(line_for(emptied.add(CUP), CUP)["line_id"]))
        changed.add(CUP)

        pair = [device(servers.pair[n % 2]) for n in range(PAIR_CUSTOMERS)]
        for shopper in pair:
            shopper.add(CUP)

        backend = Backend(servers.purge.url, identity_key)
        stack.callback(backend.close)
        inactive, email = device(servers.purge), new_email()
        known = backend.open("email", email, "web")
        active = KeepActive(device(servers.purge))
        stack.callback(active.stop)
        purge = PurgeCustomers(inactive, known, email, backend, active, marker=device(servers.purge))

        admin = WebhookAdmin(servers.retention.url, admin_key)
        stack.callback(admin.close)
        receiver = stack.enter_context(WebhookReceiver())
        failing = admin.create(receiver.url(receiver.path("fail")), ["cart.updated"])
        healthy_path = receiver.path()
        admin.create(receiver.url(healthy_path), ["cart.updated"])
        hooks = RetentionHooks(admin, receiver, failing, healthy_path)
        pruned = device(servers.retention)
        pruned.add(CUP)
        pruned.add(TEAPOT)

        yield Started(IdleCarts(idle, idle_cart, empty, emptied, changed), pair, purge, hooks, pruned)


# Abandonment


@dataclass
class Abandonment:
    """The logs of the IdleCarts and of the pair's customers once a marker cart, made after all else, was abandoned."""

    idle: list[JSON]
    idle_cart: JSON
    empty: list[JSON]
    emptied: list[JSON]
    changed: list[JSON]
    pair: dict[str, list[JSON]]
    """By customer id."""


@pytest.fixture(scope="module")
def abandonment(started: Started, servers: JobServers) -> Abandonment:
    """Wait for the idle carts' cart.abandoned, change one, wait for its second, then for a marker cart's."""
    carts = started.carts
    wait_abandoned([carts.idle, carts.changed, *started.pair])
    carts.changed.add(TEAPOT)
    wait_abandoned([carts.changed], count=2)
    # A cart made now is abandoned at least 1 s and several job runs later: a repeated event would be here by then.
    with new_device(servers.pair[1]) as marker:
        marker.add(CUP)
        wait_abandoned([marker])
    return Abandonment(
        idle=carts.idle.all_events(),
        idle_cart=carts.idle_cart,
        empty=carts.empty.all_events(),
        emptied=carts.emptied.all_events(),
        changed=carts.changed.all_events(),
        pair={shopper.customer_id: shopper.all_events() for shopper in started.pair},
    )


def test_an_idle_cart_is_abandoned_once(abandonment: Abandonment) -> None:
    """A non-empty cart left idle gets exactly one cart.abandoned, after its cart.updated."""
    assert kinds(abandonment.idle) == ["session.opened", "cart.updated", "cart.abandoned"]


def test_cart_abandoned_describes_the_cart(abandonment: Abandonment) -> None:
    """cart.abandoned carries the cart's id, version, item count, subtotal, currency and when it went idle."""
    (event,) = [event for event in abandonment.idle if event["kind"] == "cart.abandoned"]
    cart = abandonment.idle_cart
    assert event["data"] == {
        "cart_id": cart["cart_id"],
        "version": cart["version"],
        "item_count": 1,
        "subtotal": PRICES[CUP],
        "currency": cart["currency"],
        "idle_since": event["data"]["idle_since"],
    }
    assert parse_time(event["data"]["idle_since"]) == parse_time(cart["updated_at"])


def test_an_empty_cart_is_not_abandoned(abandonment: Abandonment) -> None:
    """A cart nobody put anything in gets no cart.abandoned."""
    assert kinds(abandonment.empty) == ["session.opened"]


def test_an_emptied_cart_is_not_abandoned(abandonment: Abandonment) -> None:
    """A cart whose lines were all removed gets no cart.abandoned."""
    assert "cart.abandoned" not in kinds(abandonment.emptied)


def test_a_cart_changed_after_abandonment_is_abandoned_once_more(abandonment: Abandonment) -> None:
    """After a change, an abandoned cart left idle again gets one more cart.abandoned, for its new version."""
    assert kinds(abandonment.changed) == [
        "session.opened",
        "cart.updated",
        "cart.abandoned",
        "cart.updated",
        "cart.abandoned",
    ]
    first, second = [event for event in abandonment.changed if event["kind"] == "cart.abandoned"]
    assert (first["data"]["version"], second["data"]["version"]) == (1, 2)


# Two processes


def test_two_processes_abandon_each_cart_once(abandonment: Abandonment) -> None:
    """Two processes on one database, both running the jobs, emit each cart.abandoned exactly once."""
    counts = {customer: kinds(log).count("cart.abandoned") for customer, log in abandonment.pair.items()}
    assert counts == dict.fromkeys(abandonment.pair, 1)


# Purge


@dataclass
class Purge:
    customers: PurgeCustomers
    active_status: int
    """GET /v1/cart of the active customer once the marker was purged."""


@pytest.fixture(scope="module")
def purge(started: Started) -> Purge:
    """Wait until the marker customer is purged; then stop the active customer's changes."""
    customers = started.purge
    wait_for(
        lambda: customers.marker.client.get("/v1/cart").status_code == 401,
        JOB_TIMEOUT,
        interval=0.1,
        message="the marker customer purged",
    )
    customers.active.stop()
    assert customers.active.failure is None, f"the active customer's changes failed: {customers.active.failure!r}"
    return Purge(customers, active_status=customers.active.device.client.get("/v1/cart").status_code)


def test_an_inactive_anonymous_customer_is_deleted(purge: Purge) -> None:
    """An anonymous customer without events for the purge delay is deleted: its session token gets 401."""
    assert_problem(purge.customers.inactive.client.get("/v1/cart"), 401, "token_invalid")


def test_a_purged_customer_token_opens_no_session(purge: Purge) -> None:
    """The customer token of a purged customer can no longer open a session: 401 token_invalid."""
    inactive = purge.customers.inactive
    assert_problem(open_session(inactive.base_url, customer_token=inactive.customer_token), 401, "token_invalid")


def test_a_customer_with_an_identity_is_kept(purge: Purge) -> None:
    """A customer with an identity is kept however long inactive: its session works, its identity leads to it."""
    customers = purge.customers
    response = customers.known.client.get("/v1/cart")
    assert response.status_code == 200, describe(response)
    assert customers.backend.open("email", customers.email, "web").customer_id == customers.known.customer_id


def test_a_customer_with_recent_events_is_kept(purge: Purge) -> None:
    """An anonymous customer with events within the purge delay is kept."""
    assert purge.active_status == 200


# Retention


@pytest.fixture(scope="module")
def truncated(started: Started) -> httpx.Response:
    """GET /v1/events?since=0 of the retention customer, polled until all three of its events are pruned."""

    def all_pruned() -> httpx.Response | None:
        response = started.pruned.client.get("/v1/events", params={"since": 0})
        return response if response.status_code == 410 and response.json().get("pruned_seq") == 3 else None

    return wait_for(all_pruned, JOB_TIMEOUT, interval=0.1, message="events pruned through seq 3")


def test_old_events_are_pruned(truncated: httpx.Response) -> None:
    """Reading from before pruned events gets 410 log_truncated with pruned_seq."""
    assert assert_problem(truncated, 410, "log_truncated")["pruned_seq"] == 3


def test_reading_from_pruned_seq_is_allowed(started: Started, truncated: httpx.Response) -> None:
    """Reading from pruned_seq on answers 200, with the head."""
    assert started.pruned.events_page(3)["head"] >= 3


def test_a_stream_resuming_below_pruned_seq_gets_a_snapshot(started: Started, truncated: httpx.Response) -> None:
    """A hello with since below pruned_seq is answered with a snapshot of the cart instead of a replay."""
    cart = started.pruned.cart()
    with open_stream(started.pruned, since=2) as stream:
        frame = stream.next_frame()
    assert frame["type"] == "snapshot", frame
    assert (frame["head"], frame["cart"]) == (stream.welcome["head"], cart)


@pytest.fixture(scope="module")
def retry_after_pruning(started: Started, truncated: httpx.Response, servers: JobServers) -> tuple[JSON, JSON]:
    """The failing endpoint's delivery of the first cart.updated: once its event is pruned, and once retried.

    "Retried" means: the next attempt the delivery log announced came due, and then two later events were delivered
    to the healthy endpoint one after the other, so at least one whole job run happened after the retry was due.
    """
    hooks, customer_id = started.hooks, started.pruned.customer_id

    def delivery() -> JSON:
        found = [item for item in hooks.admin.deliveries(hooks.failing["webhook_id"], customer_id) if item["seq"] == 2]
        assert len(found) == 1, f"expected one delivery of seq 2 to the failing endpoint: {found}"
        return found[0]

    before = delivery()
    if before["status"] == "pending":
        due = parse_time(before["next_attempt_at"])
        wait_for(lambda: datetime.now(UTC) > due, JOB_TIMEOUT, message=f"the retry due at {due}")
    with new_device(servers.retention) as marker:
        for count in (1, 2):
            marker.add(CUP)
            hooks.receiver.wait_for_kind(hooks.healthy_path, marker.customer_id, "cart.updated", count=count)
    return before, delivery()


def test_a_delivery_is_still_retried_after_its_event_is_pruned(retry_after_pruning: tuple[JSON, JSON]) -> None:
    """Retention strands no webhook delivery: one being retried when its event is pruned is still tried (or settled)."""
    before, after = retry_after_pruning
    assert after["status"] != "pending" or len(after["attempts"]) > len(before["attempts"]), (before, after)
