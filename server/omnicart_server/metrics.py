"""Prometheus metrics: per-route request counts and latency from Litestar's middleware, plus domain counters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from prometheus_client import Counter, Gauge

if TYPE_CHECKING:
    from omnicart_server.db.writer import CommittedEvent
    from omnicart_server.stream.fanout import FanOut

OPS_APPLIED = Counter("omnicart_cart_ops_applied_total", "Cart ops applied (replays not counted).")
EVENTS_WRITTEN = Counter("omnicart_events_written_total", "Events committed to customer logs.", ["kind"])

STREAM_CONNECTIONS = Gauge("omnicart_stream_connections", "Live WebSocket connections in this process.")
FANOUT_DEGRADED = Gauge(
    "omnicart_fanout_degraded", "1 while Redis is unreachable and devices are served from the database log."
)
SLOW_CONSUMERS_CUT = Counter("omnicart_stream_slow_consumers_cut_total", "Sockets closed for falling behind (4008).")

PROMETHEUS = PrometheusConfig(app_name="omnicart", prefix="omnicart", group_path=True, exclude=["/metrics"])


class MetricsController(PrometheusController):
    path = "/metrics"


def watch_fanout(fanout: FanOut) -> None:
    """Read connection count and fan-out health from the live objects at every scrape."""
    STREAM_CONNECTIONS.set_function(fanout.hub.connection_count)
    FANOUT_DEGRADED.set_function(lambda: 0.0 if fanout.state in ("ok", "in-process") else 1.0)


def count_committed_events(committed: list[CommittedEvent]) -> None:
    for item in committed:
        EVENTS_WRITTEN.labels(kind=item.event.kind).inc()
