"""A webhook receiver on 127.0.0.1 for tests: a real HTTP server in a thread that records every request it gets.

Paths under `/fail/` answer 500 and every other path answers 200, so one receiver serves both a healthy endpoint
and a broken one; each test registers its endpoints at paths of its own (`receiver.path("ok")`).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.wait import wait_for

JSON = dict[str, Any]
FAILING_PREFIX = "/fail/"
"""Paths starting with this answer 500 Internal Server Error."""


@dataclass(frozen=True)
class Received:
    """One request as the receiver got it: exact body bytes and headers (names lowercased)."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    """time.monotonic() on arrival."""

    def json(self) -> JSON:
        payload: JSON = json.loads(self.body)
        return payload

    @property
    def customer_id(self) -> str | None:
        """The customer the delivered event belongs to, when the body is a webhook payload."""
        try:
            found: str = self.json()["data"]["customer_id"]
        except (ValueError, KeyError, TypeError):
            return None
        return found

    @property
    def event_kind(self) -> str | None:
        try:
            found: str = self.json()["type"]
        except (ValueError, KeyError, TypeError):
            return None
        return found


class WebhookReceiver:
    """Records every POST; `/fail/...` answers 500, anything else 200."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    def path(self, kind: str = "ok") -> str:
        """A path no other test uses: `/ok/<random>` answers 200, `/fail/<random>` answers 500."""
        return f"/{kind}/{uuid.uuid4().hex}"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def received(self, path: str | None = None, customer_id: str | None = None) -> list[Received]:
        """What arrived so far (at `path`, for `customer_id` when given), oldest first."""
        with self._lock:
            found = list(self._received)
        return [
            request
            for request in found
            if (path is None or request.path == path) and (customer_id is None or request.customer_id == customer_id)
        ]

    def wait_for(
        self,
        predicate: Callable[[list[Received]], bool],
        *,
        path: str | None = None,
        customer_id: str | None = None,
        timeout: float = 15.0,
        message: str = "webhook requests",
    ) -> list[Received]:
        """Poll until `predicate` holds for the requests at `path` / for `customer_id`; returns them."""

        def probe() -> list[Received] | None:
            found = self.received(path, customer_id)
            return found if predicate(found) else None

        try:
            return wait_for(probe, timeout, message=message)
        except AssertionError as exc:
            got = [(r.path, r.event_kind, r.customer_id) for r in self.received(path, customer_id)]
            raise AssertionError(f"{exc}; received at {path} for {customer_id}: {got}") from None

    def wait_for_kind(
        self, path: str, customer_id: str, kind: str, *, count: int = 1, timeout: float = 15.0
    ) -> list[Received]:
        """Wait until `count` requests of event `kind` for the customer reached `path`; returns those."""
        found = self.wait_for(
            lambda requests: sum(r.event_kind == kind for r in requests) >= count,
            path=path,
            customer_id=customer_id,
            timeout=timeout,
            message=f"{count} x {kind} at {path}",
        )
        return [request for request in found if request.event_kind == kind]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                with receiver._lock:
                    receiver._received.append(Received(self.path, headers, body, time.monotonic()))
                status = 500 if self.path.startswith(FAILING_PREFIX) else 200
                answer = b"{}"
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output quiet."""

        return Handler
