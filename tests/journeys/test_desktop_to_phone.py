"""Journey "desktop to phone": a cart filled on the desktop web continues on the phone through a handoff code."""

from __future__ import annotations

from tests.support.carts import quantities
from tests.support.catalog import SKUS
from tests.support.devices import OpenDevice, line_for, set_quantity
from tests.support.handoff import Claimer, code_in_url, offer
from tests.support.live import open_stream
from tests.support.server import ServerProcess

CUP, TEAPOT, MUG, BEANS, FILTERS = SKUS


def test_desktop_to_phone(server: ServerProcess, open_device: OpenDevice) -> None:
    """The phone continues the desktop's cart after the desktop left; the reopened desktop sees the phone's changes."""
    # The desktop fills a cart with its live stream open, then shows a handoff QR code.
    desktop = open_device(channel="web", device="desktop")
    with open_stream(desktop):
        desktop.add(CUP, 2)
        desktop.add(BEANS)
        offered = offer(desktop)
    # The desktop tab closes: its live stream and its HTTP client go away; only the customer token is kept.
    desktop.close()

    # The phone scans the QR code: it reads the code from the URL fragment and claims it.
    with Claimer(server.url) as phone_side:
        phone = phone_side.claim(code_in_url(offered["url"]), "mobile", "phone")
        assert phone.customer_id == desktop.customer_id
        assert quantities(phone.cart()) == {CUP: 2, BEANS: 1}

        # The phone keeps shopping on the same cart.
        phone.add(TEAPOT)
        phone.apply(set_quantity(line_for(phone.cart(), CUP)["line_id"], 3))
        on_phone = phone.cart()
        assert quantities(on_phone) == {CUP: 3, BEANS: 1, TEAPOT: 1}

        # The desktop reopens with its customer token: same customer, and the phone's changes are there.
        reopened = open_device(channel="web", device="desktop", customer_token=desktop.customer_token)
        assert reopened.customer_id == desktop.customer_id
        assert reopened.cart() == on_phone

        # The log tells the story in order: offered on the web, claimed and edited on the phone.
        story = [(event["kind"], event["channel"]) for event in reopened.all_events()]
        offered_at, claimed_at = story.index(("handoff.offered", "web")), story.index(("handoff.claimed", "mobile"))
        assert offered_at < claimed_at < story.index(("cart.updated", "mobile"))

        # From now on the reopened desktop follows the phone live.
        with open_stream(reopened, since=reopened.head()) as stream:
            phone.add(FILTERS)
            update = stream.wait_for_event("cart.updated")
        assert update["channel"] == "mobile"
        assert quantities(update["data"]["cart"]) == {CUP: 3, BEANS: 1, TEAPOT: 1, FILTERS: 1}
        assert reopened.cart() == phone.cart()
