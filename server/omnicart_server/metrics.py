"""Prometheus metrics: per-route request counts and latency, plus domain counters.

Request metrics come from RequestMetrics, not Litestar's PrometheusMiddleware: with the same metric names and labels,
the plugin's middleware built a Request, label dicts and five labelled children on every request, about 90 µs of a
~500 µs cart write (BENCHMARKS.md, issue 8). This one keeps each route's labelled children once made.
"""

from __future__ import annotations

import functools
import gc
import time
from typing import TYPE_CHECKING, Any, cast

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.plugins.prometheus import PrometheusController
from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

    from omnicart_server.db.writer import CommittedEvent
    from omnicart_server.stream.fanout import FanOut

OPS_APPLIED = Counter("omnicart_cart_ops_applied_total", "Cart ops applied (replays not counted).")
EVENTS_WRITTEN = Counter("omnicart_events_written_total", "Events committed to customer logs.", ["kind"])

STREAM_CONNECTIONS = Gauge("omnicart_stream_connections", "Live WebSocket connections in this process.")
FANOUT_DEGRADED = Gauge(
    "omnicart_fanout_degraded", "1 while Redis is unreachable and devices are served from the database log."
)
SLOW_CONSUMERS_CUT = Counter("omnicart_stream_slow_consumers_cut_total", "Sockets closed for falling behind (4008).")

APP_NAME = "omnicart"
_ROUTE_LABELS = ["method", "path", "app_name"]
_RESULT_LABELS = [*_ROUTE_LABELS, "status_code"]
REQUESTS = Counter("omnicart_requests_total", "Total requests.", _RESULT_LABELS)
REQUEST_ERRORS = Counter("omnicart_requests_error_total", "Requests answered 5xx.", _RESULT_LABELS)
REQUEST_SECONDS = Histogram("omnicart_request_duration_seconds", "Request duration, in seconds.", _RESULT_LABELS)
REQUESTS_IN_PROGRESS = Gauge(
    "omnicart_requests_in_progress", "Requests being handled.", _ROUTE_LABELS, multiprocess_mode="livesum"
)
GC_PAUSE_SECONDS = Histogram(
    "omnicart_gc_pause_seconds",
    "Time the garbage collector held the process, by generation: with thousands of sockets open, a full collection "
    "stops every delivery for up to a second.",
    ["generation"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


class RequestMetrics(ASGIMiddleware):
    """Counts and times every HTTP request by method, route template and status."""

    scopes = (ScopeType.HTTP,)
    exclude_opt_key = "skip_request_metrics"
    """Routes whose `opt` sets this are not counted (read off the route; a path pattern ran a regex per request)."""

    def __init__(self) -> None:
        self._in_progress: dict[tuple[str, str], Any] = {}
        self._finished: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        http = cast("HTTPScope", scope)
        route = (http["method"], scope.get("path_template", scope["path"]))
        in_progress = self._in_progress.get(route)
        if in_progress is None:
            in_progress = self._in_progress[route] = REQUESTS_IN_PROGRESS.labels(*route, APP_NAME)
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_progress.inc()
        started = time.perf_counter()
        try:
            await next_app(scope, receive, send_noting_status)
        finally:
            in_progress.dec()
            self._record(route, status, time.perf_counter() - started)

    def _record(self, route: tuple[str, str], status: int, seconds: float) -> None:
        key = (*route, status)
        children = self._finished.get(key)
        if children is None:
            labels = (*route, APP_NAME, str(status))
            errors = REQUEST_ERRORS.labels(*labels) if status >= 500 else None
            children = self._finished[key] = (REQUESTS.labels(*labels), REQUEST_SECONDS.labels(*labels), errors)
        count, duration, errors = children
        count.inc()
        duration.observe(seconds)
        if errors is not None:
            errors.inc()


class MetricsController(PrometheusController):
    path = "/metrics"
    opt = {RequestMetrics.exclude_opt_key: True}


class _CollectorTimer:
    """Times each collection from gc's start and stop callbacks (Python has no pause metric of its own)."""

    def __init__(self) -> None:
        self._started = 0.0
        self._pauses = [GC_PAUSE_SECONDS.labels(generation=str(generation)) for generation in range(3)]

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._pauses[info["generation"]].observe(time.perf_counter() - self._started)


def watch_collector() -> None:
    """Time this process's garbage collections into GC_PAUSE_SECONDS (once per process)."""
    if not any(isinstance(callback, _CollectorTimer) for callback in gc.callbacks):
        gc.callbacks.append(_CollectorTimer())


def watch_fanout(fanout: FanOut) -> None:
    """Read connection count and fan-out health from the live objects at every scrape."""
    STREAM_CONNECTIONS.set_function(fanout.hub.connection_count)
    FANOUT_DEGRADED.set_function(lambda: 0.0 if fanout.state in ("ok", "in-process") else 1.0)


def count_committed_events(committed: list[CommittedEvent]) -> None:
    for item in committed:
        _events_of_kind(item.event.kind).inc()


@functools.cache
def _events_of_kind(kind: str) -> Counter:
    """The labelled child of one event kind (a handful exist): `labels()` per event cost ~3 µs of a cart write."""
    return EVENTS_WRITTEN.labels(kind=kind)
