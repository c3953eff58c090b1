"""Prometheus metrics: per-route request counts and latency from Litestar's middleware, plus domain counters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from prometheus_client import Counter

if TYPE_CHECKING:
    from omnicart_server.db.writer import CommittedEvent

OPS_APPLIED = Counter("omnicart_cart_ops_applied_total", "Cart ops applied (replays not counted).")
EVENTS_WRITTEN = Counter("omnicart_events_written_total", "Events committed to customer logs.", ["kind"])

PROMETHEUS = PrometheusConfig(app_name="omnicart", prefix="omnicart", group_path=True, exclude=["/metrics"])


class MetricsController(PrometheusController):
    path = "/metrics"


def count_committed_events(committed: list[CommittedEvent]) -> None:
    for item in committed:
        EVENTS_WRITTEN.labels(kind=item.event.kind).inc()
