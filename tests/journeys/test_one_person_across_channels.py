"""Journey "one person across channels": WhatsApp, then email, then a web login are one customer with one history."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.carts import quantities
from tests.support.catalog import SKUS
from tests.support.devices import OpenDevice
from tests.support.identity import Backend, new_email, new_mobile, trusted_backend
from tests.support.server import ServerProcess

CUP, TEAPOT, MUG, BEANS, FILTERS = SKUS


@pytest.fixture
def backend(server: ServerProcess) -> Iterator[Backend]:
    """The shop's messaging and login backend, with an `identity:write` key."""
    with trusted_backend(server) as trusted:
        yield trusted


def test_one_person_across_channels(backend: Backend, open_device: OpenDevice) -> None:
    """WhatsApp, email and a web login of one person make one customer, one history and one cart without duplicates."""
    spaced_number, _, number = new_mobile()
    email = new_email()

    # Ana writes on WhatsApp: the bot opens a session by her number and adds what she asks for.
    whatsapp = backend.open("whatsapp", spaced_number, "whatsapp", "wa-bot")
    whatsapp.add(CUP, 2)

    # She gives her email in the chat; the bot verifies it and links it to her WhatsApp session.
    report = backend.link(whatsapp, "email", email.upper())
    assert (report["customer_id"], report["merged_from"]) == (whatsapp.customer_id, None)

    # Later she writes by email: the mail backend opens a session by her address and finds her cart.
    mail = backend.open("email", f"  {email.capitalize()} ", "email", "mail-bot")
    assert mail.customer_id == whatsapp.customer_id
    assert quantities(mail.cart()) == {CUP: 2}
    mail.add(BEANS)

    # Meanwhile she browses the web shop without logging in and fills a cart: the same cup and a mug.
    web = open_device(channel="web", device="laptop")
    web.add(CUP)
    web.add(MUG)
    anonymous_id = web.customer_id

    # She logs in on the web with her email: the anonymous cart merges into hers, one line per SKU.
    login = backend.link(web, "email", email)
    assert (login["customer_id"], login["merged_from"]) == (whatsapp.customer_id, anonymous_id)
    cart = web.cart()
    assert quantities(cart) == {CUP: 3, BEANS: 1, MUG: 1}
    assert whatsapp.cart() == mail.cart() == cart

    # One customer: both identities (once each, canonical), every channel, every device.
    profile = web.client.get("/v1/customer").json()
    assert profile["customer_id"] == whatsapp.customer_id
    assert sorted((item["kind"], item["value"]) for item in profile["identities"]) == [
        ("email", email),
        ("whatsapp", number),
    ]
    assert profile["channels"] == ["email", "web", "whatsapp"]
    assert profile["sessions"] == 3

    # One history: the timeline runs from WhatsApp through email to the web, the anonymous browsing included.
    timeline = web.client.get("/v1/timeline").json()
    assert timeline["customer_id"] == whatsapp.customer_id
    channels = [entry["channel"] for entry in timeline["entries"] if entry["channel"] is not None]
    first_seen = list(dict.fromkeys(channels))
    assert first_seen == ["whatsapp", "email", "web"]
    assert anonymous_id in {entry["customer_id"] for entry in timeline["entries"]}
