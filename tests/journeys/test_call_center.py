"""Journey "call center": researched on the web, booked by phone through an agent, seen whole at the store kiosk."""

from __future__ import annotations

from tests.support.assist import AgentApp, new_agent_id, offer_assist, set_price
from tests.support.catalog import SKUS
from tests.support.devices import OpenDevice, line_for
from tests.support.identity import api_key, new_email, trusted_backend
from tests.support.live import open_stream
from tests.support.problems import assert_problem
from tests.support.server import ServerProcess
from tests.support.transactions import listed, post_step, start, step, take_over

CUP, TEAPOT, MUG, BEANS, FILTERS = SKUS
SERVICE, SLOT = "espresso-masterclass", "2030-05-04T10:00:00Z"
OVERRIDE, REASON = 2499, "booked by phone: masterclass bundle"


def test_call_center(server: ServerProcess, open_device: OpenDevice) -> None:
    """An agent picked up by PIN finishes the web's booking with a price override; the kiosk sees all of it."""
    email, agent_id = new_email(), new_agent_id()
    with trusted_backend(server) as crm, AgentApp(server.url, api_key(server, "agent")) as contact_center:
        # Ana researches on the web: she is logged in, puts the teapot in her cart and starts booking a masterclass.
        web = open_device(channel="web", device="laptop")
        crm.link(web, "email", email)
        web.add(TEAPOT)
        tid = start(web, "booking", {"service": SERVICE})["transaction_id"]

        # She calls the contact center; her screen shows a PIN, which she reads out to the agent.
        offered = offer_assist(web)
        agent = contact_center.pick_up(agent_id, offered["pin"], device="desk-4")
        assert agent.customer_id == web.customer_id
        assert [item["transaction_id"] for item in listed(agent)] == [tid]

        # The web still drives the booking: the agent takes it over, and the web page hears so live.
        assert_problem(post_step(agent, tid, data={"slot": SLOT}), 409, "transaction_lease_held")
        with open_stream(web, since=web.head()) as web_stream:
            take_over(agent, tid)
            taken = web_stream.wait_for_event("transaction.taken_over")
        assert (taken["data"]["to_session"], taken["data"]["agent_id"]) == (agent.session_id, agent_id)

        # By phone the agent picks the slot, overrides the teapot's price with the reason, and confirms.
        step(agent, tid, to="details", data={"slot": SLOT})
        agent.apply(set_price(line_for(agent.cart(), TEAPOT)["line_id"], OVERRIDE, REASON))
        assert step(agent, tid, to="confirmed")["state"] == "confirmed"

        # The call ends: Ana withdraws her consent and the agent's session is over.
        assert web.client.delete(f"/v1/assist/{offered['consent_id']}").status_code == 204
        assert_problem(agent.client.get("/v1/cart"), 401, "session_revoked")

        # She arrives at the store: the kiosk opens her by her email.
        kiosk = crm.open("email", email, "kiosk", "store-kiosk-3")
        assert kiosk.customer_id == web.customer_id

        # The kiosk sees the whole booking, and the price the agent gave with its reason.
        (booking,) = listed(kiosk)
        assert (booking["transaction_id"], booking["kind"], booking["state"]) == (tid, "booking", "confirmed")
        assert booking["data"] == {"service": SERVICE, "slot": SLOT}
        teapot = line_for(kiosk.cart(), TEAPOT)
        assert (teapot["unit_price"], teapot["price_reason"]) == (OVERRIDE, REASON)

        # And its history: research on the web, then the agent's steps under its id, then the kiosk.
        entries = kiosk.client.get("/v1/timeline").json()["entries"]
        by_agent = [(entry["kind"], entry["summary"]) for entry in entries if entry["agent_id"] == agent_id]
        line_id = teapot["line_id"]
        assert by_agent == [
            ("session.opened", f"Opened on call_center (agent {agent_id})"),
            ("transaction.taken_over", "Booking taken over on call_center"),
            ("transaction.updated", "Booking: requested -> details on call_center"),
            ("cart.updated", f"Cart on call_center: {line_id} priced {OVERRIDE} ({REASON})"),
            ("transaction.updated", "Booking: details -> confirmed on call_center"),
        ]
        channels = [entry["channel"] for entry in entries if entry["channel"] is not None]
        assert list(dict.fromkeys(channels)) == ["web", "call_center", "kiosk"]
        assert [entry["at"] for entry in entries] == sorted(entry["at"] for entry in entries)
