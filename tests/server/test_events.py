"""GET /v1/events: the customer's log after seq N, in order, gap-free, paged by limit."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from tests.support.catalog import SKUS
from tests.support.devices import Device, OpenDevice, add_item, describe
from tests.support.problems import assert_problem

CUP = SKUS[0]


def test_opening_a_session_writes_session_opened(device: Device) -> None:
    """A new customer's log starts with seq 1, session.opened, naming the session and its channel."""
    page = device.events_page(0)
    first = page["events"][0]
    assert (first["seq"], first["kind"]) == (1, "session.opened")
    assert (first["session_id"], first["channel"]) == (device.session_id, "web")
    assert isinstance(first["data"], dict)
    datetime.fromisoformat(first["at"].replace("Z", "+00:00"))


def test_each_applied_batch_writes_one_cart_updated(device: Device) -> None:
    """Every applied batch, however many ops it holds, adds exactly one cart.updated event."""
    head = device.head()
    device.apply(add_item(CUP), add_item(SKUS[1]), add_item(SKUS[2]))
    device.add(CUP)
    events = device.events_page(head)["events"]
    assert [(event["seq"], event["kind"]) for event in events] == [
        (head + 1, "cart.updated"),
        (head + 2, "cart.updated"),
    ]


def test_cart_event_names_the_writing_device(device: Device, open_device: OpenDevice) -> None:
    """A cart.updated event carries the session and channel of the device that made the change."""
    kiosk = open_device(channel="kiosk", device="kiosk-1", customer_token=device.customer_token)
    head = device.head()
    kiosk.add(CUP)
    (event,) = device.events_page(head)["events"]
    assert (event["kind"], event["session_id"], event["channel"]) == ("cart.updated", kiosk.session_id, "kiosk")


def test_revoking_a_session_writes_session_revoked(device: Device, open_device: OpenDevice) -> None:
    """Revoking a device appends a session.revoked event."""
    tablet = open_device(customer_token=device.customer_token)
    head = device.head()
    assert device.client.delete(f"/v1/sessions/{tablet.session_id}").status_code == 204
    kinds = [event["kind"] for event in device.events_page(head)["events"]]
    assert kinds == ["session.revoked"]


def test_seq_is_gap_free_and_ordered(device: Device) -> None:
    """The log's seqs are 1, 2, 3 ... up to head."""
    for sku in SKUS:
        device.add(sku)
    events = device.all_events()
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert events[-1]["seq"] == device.head() == 1 + len(SKUS)


def test_since_returns_only_later_events(device: Device) -> None:
    """since=N returns the events with seq above N, in order."""
    for _ in range(4):
        device.add(CUP)
    page = device.events_page(since=3)
    assert [event["seq"] for event in page["events"]] == [4, 5]
    assert page["has_more"] is False


def test_limit_pages_through_the_log(device: Device) -> None:
    """limit=M returns M events with has_more, and following since walks the whole log once."""
    for _ in range(6):
        device.add(CUP)
    first = device.events_page(since=0, limit=3)
    assert [event["seq"] for event in first["events"]] == [1, 2, 3]
    assert (first["has_more"], first["head"]) == (True, 7)
    seen = [event["seq"] for event in first["events"]]
    since = seen[-1]
    while True:
        page = device.events_page(since=since, limit=3)
        seen += [event["seq"] for event in page["events"]]
        if not page["has_more"]:
            break
        since = page["events"][-1]["seq"]
    assert seen == list(range(1, 8))


def test_since_at_head_is_empty(device: Device) -> None:
    """since=head returns no events, has_more false and the head."""
    head = device.head()
    page = device.events_page(since=head)
    assert (page["events"], page["has_more"], page["head"]) == ([], False, head)


def test_logs_are_separate_per_customer(device: Device, open_device: OpenDevice) -> None:
    """A customer's log holds only its own events."""
    stranger = open_device()
    stranger.add(CUP)
    stranger.add(CUP)
    events = device.all_events()
    assert [event["kind"] for event in events] == ["session.opened"]
    assert {event["session_id"] for event in events} == {device.session_id}


def test_events_need_a_bearer_token(device: Device) -> None:
    """GET /v1/events without a token answers 401 token_missing."""
    assert_problem(httpx.get(f"{device.base_url}/v1/events?since=0"), 401, "token_missing")


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("since=-1", id="negative-since"),
        pytest.param("since=abc", id="text-since"),
        pytest.param("since=0&limit=0", id="zero-limit"),
        pytest.param("since=0&limit=-5", id="negative-limit"),
        pytest.param("since=0&limit=many", id="text-limit"),
        pytest.param("since=99999999999999999999999", id="huge-since"),
    ],
)
def test_invalid_query_is_refused(device: Device, query: str) -> None:
    """A bad since or limit gets a 4xx invalid_query, not a 5xx."""
    response = device.client.get(f"/v1/events?{query}")
    assert_problem(response, range(400, 500), "invalid_query")


def test_oversized_limit_is_refused_or_capped(device: Device) -> None:
    """A very large limit is refused with invalid_query or capped to a page; never a 5xx."""
    response = device.client.get("/v1/events?since=0&limit=1000000")
    if response.status_code >= 400:
        assert_problem(response, range(400, 500), "invalid_query")
    else:
        assert response.status_code == 200, describe(response)
        assert response.json()["events"][0]["seq"] == 1
