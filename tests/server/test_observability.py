"""/health, /ready, /metrics and the served OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.catalog import SKUS
from tests.support.devices import Device, add_item, describe
from tests.support.problems import assert_problem
from tests.support.server import ServerProcess, StartServer, free_port

ROUTES = {
    ("post", r"/v1/sessions"),
    ("get", r"/v1/sessions"),
    ("delete", r"/v1/sessions/\{[^/}]+\}"),
    ("get", r"/v1/cart"),
    ("post", r"/v1/cart/ops"),
    ("get", r"/v1/events"),
    ("get", r"/v1/catalog"),
    ("get", r"/v1/catalog/\{[^/}]+\}"),
}


def metric_samples(server: ServerProcess) -> dict[str, float]:
    """Every sample of /metrics summed over its labels, by sample name (e.g. `..._total`, `..._count`)."""
    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200, describe(response)
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def samples_named(server: ServerProcess, name: str) -> list[tuple[dict[str, str], float]]:
    """Each sample of /metrics called `name`: its labels and value."""
    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200, describe(response)
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == name
    ]


def grown(before: dict[str, float], after: dict[str, float], pattern: str) -> dict[str, float]:
    """Counter samples whose name matches `pattern` and whose value rose between the two scrapes."""
    return {
        name: value - before.get(name, 0.0)
        for name, value in after.items()
        if re.search(pattern, name) and name.endswith("_total") and value > before.get(name, 0.0)
    }


def test_health_answers_while_up(server: ServerProcess) -> None:
    """GET /health answers 200."""
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_ready_when_database_is_current(server: ServerProcess) -> None:
    """GET /ready answers 200 when the database is reachable and migrated."""
    response = httpx.get(f"{server.url}/ready")
    assert response.status_code == 200, describe(response)


@pytest.mark.slow
def test_ready_with_reachable_redis(start_server: StartServer, redis_url: str) -> None:
    """A server configured with a reachable Redis is ready."""
    server = start_server(args=["--redis", redis_url])
    response = httpx.get(f"{server.url}/ready")
    assert response.status_code == 200, describe(response)


@pytest.mark.slow
def test_not_ready_when_redis_is_unreachable(start_server: StartServer) -> None:
    """A server whose configured Redis does not answer stays up (/health 200) but /ready answers 503."""
    server = start_server(args=["--redis", f"redis://127.0.0.1:{free_port()}/0"])
    assert httpx.get(f"{server.url}/health").status_code == 200
    response = httpx.get(f"{server.url}/ready", timeout=30)
    assert response.status_code == 503, describe(response)
    # The contract fixes the status; the body is either a problem (code not_ready) or a readiness report.
    if response.headers["content-type"].startswith("application/problem+json"):
        assert_problem(response, 503, "not_ready")
    else:
        assert response.json().get("ready") is False, describe(response)


def test_metrics_are_prometheus_text(server: ServerProcess) -> None:
    """GET /metrics answers the Prometheus text format."""
    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200, describe(response)
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    assert list(text_string_to_metric_families(response.text)), "no metric families"


def test_metrics_count_requests(server: ServerProcess, device: Device) -> None:
    """A request counter rises with requests."""
    before = metric_samples(server)
    for _ in range(3):
        device.cart()
    assert grown(before, metric_samples(server), r"request"), "no request counter rose"


@pytest.mark.parametrize(("args", "logged"), [((), True), (("--no-access-log",), False)])
def test_access_log_can_be_turned_off(start_server: StartServer, args: tuple[str, ...], logged: bool) -> None:
    """One log line per request by default; --no-access-log drops it while /metrics still counts the request."""
    server = start_server(args=args)
    marker = "/v1/catalog/NO-SUCH-SKU-" + "x" * 8
    assert httpx.get(server.url + marker).status_code == 404
    counted = request_counts(server).get(("GET", "/v1/catalog/{sku}", "404"), 0)
    assert counted >= 1, request_counts(server)
    server.stop()
    assert (marker in server.log_text()) is logged, server.log_tail()


def young_collections(server: ServerProcess) -> float:
    return next(
        value for labels, value in samples_named(server, "python_gc_collections_total") if labels["generation"] == "0"
    )


@pytest.mark.parametrize(("threshold", "collects"), [("0", False), ("50", True)])
def test_gc_young_threshold_is_applied(start_server: StartServer, threshold: str, collects: bool) -> None:
    """OMNICART_GC_YOUNG_THRESHOLD sets the server's young-generation threshold: 0 stops automatic collections."""
    server = start_server(env={"OMNICART_GC_YOUNG_THRESHOLD": threshold})
    before = young_collections(server)
    for _ in range(50):
        assert httpx.get(f"{server.url}/v1/catalog").status_code == 200
    assert (young_collections(server) > before) is collects


def collector_pauses(server: ServerProcess) -> dict[str, tuple[float, float]]:
    """omnicart_gc_pause_seconds by generation: (collections timed, seconds paused in all)."""
    counts = {labels["generation"]: value for labels, value in samples_named(server, "omnicart_gc_pause_seconds_count")}
    sums = {labels["generation"]: value for labels, value in samples_named(server, "omnicart_gc_pause_seconds_sum")}
    return {generation: (counts[generation], sums[generation]) for generation in counts}


def test_metrics_time_garbage_collections(start_server: StartServer) -> None:
    """Every collection's pause is timed by generation, so a latency tail can be matched to a full collection."""
    server = start_server(env={"OMNICART_GC_YOUNG_THRESHOLD": "50"})
    before = collector_pauses(server)
    assert set(before) == {"0", "1", "2"}, before
    for _ in range(50):
        assert httpx.get(f"{server.url}/v1/catalog").status_code == 200
    after = collector_pauses(server)
    assert after["0"][0] > before["0"][0], (before, after)
    assert after["0"][1] > before["0"][1], (before, after)


def request_counts(server: ServerProcess) -> dict[tuple[str, str, str], float]:
    """omnicart_requests_total by (method, route template, status)."""
    return {
        (labels["method"], labels["path"], labels["status_code"]): value
        for labels, value in samples_named(server, "omnicart_requests_total")
    }


def test_metrics_count_requests_by_route_and_status(server: ServerProcess, device: Device) -> None:
    """Requests are counted under their route's template (not the raw path) and their answer's status."""
    before = request_counts(server)
    device.apply(add_item(SKUS[0]))
    device.apply(add_item(SKUS[0]))
    missing = httpx.get(f"{server.url}/v1/catalog/NO-SUCH-SKU")
    assert missing.status_code == 404, describe(missing)
    after = request_counts(server)

    def rise(key: tuple[str, str, str]) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert rise(("POST", "/v1/cart/ops", "200")) == 2, after
    assert rise(("GET", "/v1/catalog/{sku}", "404")) == 1, after
    assert not any("/metrics" in path for _, path, _ in after), "scrapes of /metrics are not counted"


def test_metrics_time_requests(server: ServerProcess, device: Device) -> None:
    """Request latency is exported as a histogram or summary."""
    device.cart()
    response = httpx.get(f"{server.url}/metrics")
    families = [
        family.name
        for family in text_string_to_metric_families(response.text)
        if family.type in ("histogram", "summary") and re.search(r"request|http", family.name)
    ]
    assert families, "no request latency histogram"


def test_metrics_count_applied_ops(server: ServerProcess, device: Device) -> None:
    """An ops counter rises when a batch is applied."""
    before = metric_samples(server)
    device.apply(add_item(SKUS[0]), add_item(SKUS[1]))
    assert grown(before, metric_samples(server), r"(^|_)ops?(_|$)"), "no ops counter rose"


def test_metrics_count_written_events(server: ServerProcess, device: Device) -> None:
    """An events counter rises when a batch writes its event."""
    before = metric_samples(server)
    device.add(SKUS[0])
    assert grown(before, metric_samples(server), r"event"), "no events counter rose"


def openapi(server: ServerProcess) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/schema/openapi.json")
    assert response.status_code == 200, describe(response)
    document: dict[str, Any] = response.json()
    return document


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return {
        (method, path): operation
        for path, item in paths.items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
def test_openapi_documents_the_route(server: ServerProcess, method: str, path: str) -> None:
    """The served OpenAPI document has each public route."""
    documented = operations(openapi(server))
    assert any(m == method and re.fullmatch(path, p) for m, p in documented), sorted(documented)


def test_openapi_documents_errors(server: ServerProcess) -> None:
    """Every /v1 operation in the OpenAPI document lists at least one 4xx response."""
    undocumented = []
    for (method, path), operation in operations(openapi(server)).items():
        responses = operation.get("responses", {})
        assert isinstance(responses, dict)
        if path.startswith("/v1/") and not any(str(status).startswith("4") for status in responses):
            undocumented.append(f"{method.upper()} {path}")
    assert not undocumented, undocumented
