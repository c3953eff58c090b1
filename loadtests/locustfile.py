"""Locust load test of a running Omnicart server: shoppers, tills, call-center agents and live devices at once.

Run it from the repository root against a server you started (`omnicart serve --dev`); users and duration are
bounded on the command line:

    locust -f loadtests/locustfile.py --headless -u 50 -r 10 -t 60s --host http://127.0.0.1:8000

User classes (weights in brackets):

- `Shopper` [3]: opens a session on a laptop, browses the catalog, adds items (each write with an Idempotency-Key),
  hands off to a phone (POST /v1/handoff, then /v1/handoff/claim as a "mobile" device), keeps adding there and
  starts a checkout.
- `Till` [2]: a POS till keeping one session: bursts of add_item / set_quantity batches, now and then a clear.
- `Agent` [1]: a shopper asks for help (POST /v1/assist gives a PIN), the contact-center app redeems it
  (POST /v1/agent/sessions with an API key of scope `agent`) and the agent edits the cart. Needs the key in
  OMNICART_LOADTEST_AGENT_KEY (`omnicart keys create --name loadtest --scope agent`); without it the class is left
  out and the log says so.
- `LiveDevice` [1]: a phone on the live stream (WS /v1/stream) while a laptop of the same customer writes over
  HTTP; the time from sending the write to the phone receiving the `cart.updated` event of the version the write
  returned is reported as its own entry, type "WS", name "write->other device".

Rate limits: the server allows 10 handoff claims per client address per minute by default, and every locust user
comes from one address. A 429 there is the limiter doing its job, not a server failure: it is counted under
"/v1/handoff/claim (429 rate-limited)" (and agent pickups under "/v1/agent/sessions (429 rate-limited)") and the
journey goes on with the session it has. To load the claim path itself, start the server with e.g.
OMNICART_HANDOFF_CLAIMS_PER_ADDRESS_PER_MINUTE=100000.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import time
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import gevent
import gevent.event
from locust import HttpUser, between, events, task
from locust.env import Environment
from requests import Response
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

logger = logging.getLogger("omnicart.loadtest")

JSON = dict[str, Any]
AGENT_KEY = os.environ.get("OMNICART_LOADTEST_AGENT_KEY") or None
"""API key of scope `agent`; the Agent class runs only when it is set."""
EVENT_TIMEOUT = 10.0
"""Seconds a live device waits for the event of a write before that sample counts as a failure."""
WS_REQUEST_TYPE = "WS"
LATENCY_NAME = "write->other device"
RATE_LIMITED = " (429 rate-limited)"
MAX_ITEMS_BEFORE_CLEAR = 200
"""A till clears its cart past this many items, far below the per-line limit (999 by default)."""


@events.init.add_listener
def _announce_agent(environment: Environment, **_kwargs: Any) -> None:
    if AGENT_KEY is None:
        logger.warning("Agent users are disabled: set OMNICART_LOADTEST_AGENT_KEY to an API key of scope 'agent'.")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def write_headers(token: str) -> dict[str, str]:
    """Headers of a write: the device's token and a fresh Idempotency-Key (a retry would reuse it)."""
    return {**bearer(token), "Idempotency-Key": str(uuid.uuid4())}


def problem(response: Response) -> str:
    """A short description of an unexpected answer for locust's failure table."""
    return f"{response.status_code}: {response.text[:300]}"


class OmnicartUser(HttpUser):
    """Shared calls: each checks the status it expects and marks the request failed otherwise."""

    abstract = True
    skus: list[str]

    def expect(self, method: str, path: str, status: int, *, name: str | None = None, **kwargs: Any) -> JSON | None:
        """Send a request; its JSON body when it answered `status`, else None (and the request is a failure)."""
        with self.client.request(method, path, name=name or path, catch_response=True, **kwargs) as response:
            if response.status_code != status:
                response.failure(problem(response))
                return None
            body: JSON = response.json() if response.content else {}
            return body

    def open_session(self, channel: str, device: str, customer_token: str | None = None) -> JSON | None:
        """POST /v1/sessions: a new anonymous customer, or the one of `customer_token`."""
        body: JSON = {"channel": channel, "device": device}
        if customer_token is not None:
            body["customer_token"] = customer_token
        return self.expect("POST", "/v1/sessions", 201, json=body)

    def load_skus(self) -> None:
        """GET /v1/catalog once per user: the SKUs this server sells (the demo catalog or a test catalog)."""
        page = self.expect("GET", "/v1/catalog", 200)
        self.skus = [item["sku"] for item in page["items"]] if page else []
        if not self.skus:
            raise RuntimeError("the catalog is empty or unreadable: nothing to put in a cart")

    def cart_ops(self, token: str, ops: list[JSON], *, name: str, expected_version: int | None = None) -> JSON | None:
        """POST /v1/cart/ops with an Idempotency-Key; the cart after the batch."""
        body: JSON = {"ops": ops}
        if expected_version is not None:
            body["expected_version"] = expected_version
        return self.expect("POST", "/v1/cart/ops", 200, name=name, json=body, headers=write_headers(token))

    def post_allowing_rate_limit(self, path: str, body: JSON, headers: dict[str, str]) -> JSON | None:
        """POST expecting 201; a 429 is counted under its own name as expected (one address, low default limits)."""
        with self.client.post(path, json=body, headers=headers, name=path, catch_response=True) as response:
            if response.status_code == 201:
                created: JSON = response.json()
                return created
            if response.status_code == 429:
                response.request_meta["name"] = path + RATE_LIMITED
                response.success()
                return None
            response.failure(problem(response))
            return None

    def add_items(self, token: str, count: int, version: int | None, *, name: str) -> int | None:
        """`count` single-item batches of random SKUs, each expecting the version the previous one returned."""
        for _ in range(count):
            cart = self.cart_ops(
                token,
                [{"op": "add_item", "sku": random.choice(self.skus), "qty": random.randint(1, 3)}],
                name=name,
                expected_version=version,
            )
            if cart is None:
                return None
            version = cart["version"]
        return version


class Shopper(OmnicartUser):
    """Starts on a laptop, moves to a phone with a handoff code mid-purchase, then starts a checkout."""

    weight = 3
    wait_time = between(0.5, 2)

    def on_start(self) -> None:
        self.load_skus()

    @task
    def journey(self) -> None:
        laptop = self.open_session("web", "laptop")
        if laptop is None:
            return
        self.expect("GET", "/v1/catalog", 200)
        self.expect("GET", "/v1/catalog", 200, name="/v1/catalog?q=", params={"q": random.choice(self.skus)[:3]})
        version = self.add_items(laptop["session_token"], random.randint(1, 3), 0, name="/v1/cart/ops")
        if version is None:
            return
        self.wait()  # the shopper picks up the phone

        token = laptop["session_token"]
        offer = self.expect("POST", "/v1/handoff", 201, headers=write_headers(token))
        if offer is None:
            return
        phone = self.post_allowing_rate_limit(
            "/v1/handoff/claim", {"code": offer["code"], "channel": "mobile", "device": "phone"}, {}
        )
        if phone is not None:
            token = phone["session_token"]
            self.expect("GET", "/v1/cart", 200, headers=bearer(token))
        version = self.add_items(token, random.randint(1, 2), version, name="/v1/cart/ops")
        if version is None:
            return
        self.expect("POST", "/v1/transactions", 201, json={"kind": "checkout"}, headers=write_headers(token))


class Till(OmnicartUser):
    """A POS till with one long-lived session: bursts of batches as items are scanned, now and then a clear."""

    weight = 2
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.load_skus()
        session = self.open_session("pos", f"till-{uuid.uuid4().hex[:6]}")
        self.token = session["session_token"] if session else None
        self.lines: list[JSON] = []

    @task(8)
    def scan_burst(self) -> None:
        if self.token is None:
            return
        for _ in range(random.randint(3, 6)):
            cart = self.cart_ops(self.token, self.burst_ops(), name="/v1/cart/ops (till burst)")
            if cart is None:
                return
            self.lines = cart["lines"]
            if cart["item_count"] > MAX_ITEMS_BEFORE_CLEAR:
                self.clear()
                return

    @task(1)
    def clear(self) -> None:
        if self.token is None:
            return
        if self.cart_ops(self.token, [{"op": "clear"}], name="/v1/cart/ops (till clear)") is not None:
            self.lines = []

    def burst_ops(self) -> list[JSON]:
        """One batch: a few scanned items, and a quantity correction on a line already in the cart."""
        ops: list[JSON] = [
            {"op": "add_item", "sku": random.choice(self.skus), "qty": 1} for _ in range(random.randint(1, 3))
        ]
        if self.lines:
            line = random.choice(self.lines)
            ops.insert(0, {"op": "set_quantity", "line_id": line["line_id"], "qty": random.randint(1, 5)})
        return ops


class Agent(OmnicartUser):
    """A shopper asks for help; the agent redeems the PIN with the contact center's API key and edits the cart."""

    abstract = AGENT_KEY is None
    weight = 1
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.load_skus()

    @task
    def assist(self) -> None:
        assert AGENT_KEY is not None
        shopper = self.open_session("web", "laptop")
        if shopper is None:
            return
        if self.add_items(shopper["session_token"], 2, 0, name="/v1/cart/ops") is None:
            return
        offer = self.expect("POST", "/v1/assist", 201, headers=bearer(shopper["session_token"]))
        if offer is None:
            return
        picked = self.post_allowing_rate_limit(
            "/v1/agent/sessions",
            {"agent_id": f"loadtest-{uuid.uuid4().hex[:8]}", "device": "console", "pin": offer["pin"]},
            bearer(AGENT_KEY),
        )
        if picked is None:
            return
        agent_token = picked["session_token"]
        cart = self.expect("GET", "/v1/cart", 200, name="/v1/cart (agent)", headers=bearer(agent_token))
        if cart is None or not cart["lines"]:
            return
        line = random.choice(cart["lines"])
        self.cart_ops(
            agent_token,
            [
                {"op": "set_quantity", "line_id": line["line_id"], "qty": random.randint(1, 4)},
                {"op": "set_price", "line_id": line["line_id"], "unit_price": 100, "reason": "load test goodwill"},
                {"op": "add_item", "sku": random.choice(self.skus), "qty": 1},
            ],
            name="/v1/cart/ops (agent)",
            expected_version=cart["version"],
        )
        self.expect(
            "DELETE",
            f"/v1/assist/{offer['consent_id']}",
            204,
            name="/v1/assist/{consent_id}",
            headers=bearer(shopper["session_token"]),
        )


class LiveDevice(OmnicartUser):
    """A phone on the live stream and a laptop of the same customer writing over HTTP: write -> event latency."""

    weight = 1
    wait_time = between(0.2, 1)

    def on_start(self) -> None:
        self.load_skus()
        self.socket: ClientConnection | None = None
        self.socket_scope = contextlib.ExitStack()
        self.reader: gevent.Greenlet | None = None
        self.arrivals: dict[int, float] = {}
        """Cart version -> perf_counter() when its cart.updated event reached the phone."""
        self.arrived = gevent.event.Event()
        self.last_seq = 0
        self.item_count = 0
        phone = self.open_session("mobile", "phone")
        laptop = self.open_session("web", "laptop", phone["customer_token"]) if phone else None
        self.phone_token = phone["session_token"] if phone else None
        self.laptop_token = laptop["session_token"] if laptop else None

    def on_stop(self) -> None:
        self.disconnect()

    def stream_url(self) -> str:
        parts = urlsplit(self.host)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, "/v1/stream", "", ""))

    def connect(self) -> bool:
        """Connect and say hello (resuming after the last seq held); reported as "WS /v1/stream hello->welcome"."""
        assert self.phone_token is not None
        started = time.perf_counter()
        exception: Exception | None = None
        try:
            # Entered as a context manager (websockets 17 deprecates bare connect()); left in disconnect().
            self.socket = self.socket_scope.enter_context(
                connect(self.stream_url(), open_timeout=EVENT_TIMEOUT, close_timeout=2)
            )
            self.socket.send(json.dumps({"type": "hello", "token": self.phone_token, "since": self.last_seq}))
            welcome = json.loads(self.socket.recv(timeout=EVENT_TIMEOUT))
            if welcome.get("type") != "welcome":
                raise RuntimeError(f"expected a welcome frame, got {welcome!r}")
        except Exception as error:
            exception = error
            self.disconnect()
        self.environment.events.request.fire(
            request_type=WS_REQUEST_TYPE,
            name="/v1/stream hello->welcome",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=exception,
            context={},
        )
        if exception is not None:
            return False
        self.reader = gevent.spawn(self.read_frames, self.socket)
        return True

    def disconnect(self) -> None:
        self.socket = None
        self.socket_scope.close()
        reader, self.reader = self.reader, None
        if reader is not None and reader is not gevent.getcurrent():
            reader.kill(block=False)

    def read_frames(self, socket: ClientConnection) -> None:
        """Note when each cart.updated event arrives; a dropped socket is reconnected by the next write."""
        try:
            for message in socket:
                frame = json.loads(message)
                if frame.get("type") != "event":
                    continue
                self.last_seq = frame["seq"]
                if frame.get("kind") == "cart.updated":
                    self.arrivals[frame["data"]["version"]] = time.perf_counter()
                    self.arrived.set()
        except ConnectionClosed as closed:
            if self.socket is socket:
                logger.info("live stream closed (%s); reconnecting from seq %d", closed, self.last_seq)
                self.socket = None

    @task
    def write_and_watch(self) -> None:
        if self.phone_token is None or self.laptop_token is None:
            return
        if self.socket is None and not self.connect():
            return
        if self.item_count > MAX_ITEMS_BEFORE_CLEAR:
            self.cart_ops(self.laptop_token, [{"op": "clear"}], name="/v1/cart/ops (live writer)")
            self.item_count = 0
        sku = random.choice(self.skus)
        started = time.perf_counter()
        cart = self.cart_ops(
            self.laptop_token, [{"op": "add_item", "sku": sku, "qty": 1}], name="/v1/cart/ops (live writer)"
        )
        if cart is None:
            return
        self.item_count = cart["item_count"]
        version: int = cart["version"]
        deadline = started + EVENT_TIMEOUT
        while version not in self.arrivals and self.socket is not None:
            self.arrived.clear()
            if version in self.arrivals:
                break
            remaining = deadline - time.perf_counter()
            if remaining <= 0 or not self.arrived.wait(remaining):
                break
        arrived_at = self.arrivals.pop(version, None)
        exception = None if arrived_at is not None else TimeoutError(f"no cart.updated event for version {version}")
        self.environment.events.request.fire(
            request_type=WS_REQUEST_TYPE,
            name=LATENCY_NAME,
            response_time=((arrived_at or time.perf_counter()) - started) * 1000,
            response_length=len(json.dumps(cart)),
            exception=exception,
            context={},
        )
        # Older versions (a clear's, or a write that timed out) are never measured: forget them.
        self.arrivals = {seen: at for seen, at in self.arrivals.items() if seen > version}
