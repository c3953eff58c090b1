"""Each example app, run unattended against a real server as a person would use it: commands in, screen out.

The apps are clients, so they run against one backend (SQLite); what they show is checked against the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from omnicart import Client, FileTokenStore
from tests.support.assist import new_agent_id
from tests.support.catalog import PRICES
from tests.support.databases import Databases
from tests.support.identity import api_key
from tests.support.server import ServerProcess
from tests.support.terminal import Terminal


@pytest.fixture
def app_server(sqlite_databases: Databases, catalog_file: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of the test's own (the till test stops and starts it)."""
    server = ServerProcess(sqlite_databases.new(), tmp_path / "server.log", catalog=catalog_file)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    """Example processes a test started; any still running at the end is killed."""
    started: list[Terminal] = []
    yield started
    for terminal in started:
        terminal.kill()


def agent_console(server: ServerProcess, cwd: Path) -> Terminal:
    """The console of a new agent, with a key of scope `agent` in its environment as the README says."""
    args = ["--server", server.url, "--agent", new_agent_id()]
    return Terminal("agent_console.py", args, cwd=cwd, env={"OMNICART_API_KEY": api_key(server, "agent")})


def test_kiosk_fills_the_cart_hands_off_and_sees_the_phone_live(
    app_server: ServerProcess, terminals: list[Terminal], tmp_path: Path
) -> None:
    """The kiosk adds items, prints a handoff code with a QR; the phone that claims it edits, and the kiosk sees it."""
    kiosk = Terminal("kiosk.py", ["--server", app_server.url, "--device", "kiosk-7"], cwd=tmp_path)
    terminals.append(kiosk)
    kiosk.expect("Type `help`")
    kiosk.type("add TEA-POT 2")
    kiosk.expect("2 x Ceramic Teapot")
    kiosk.type("add NO-SUCH-SKU")
    kiosk.expect("(unknown_sku)")
    kiosk.type("handoff")
    kiosk.expect("▄▄▄▄▄")  # the QR code's finder pattern, drawn in the terminal
    code = kiosk.expect("on your phone").split("type ")[1].split(" ")[0]

    with Client(app_server.url, channel="mobile", device="phone") as phone:
        phone.handoff.claim(code)
        assert [(line.sku, line.qty) for line in phone.cart.get().lines] == [("TEA-POT", 2)]
        phone.cart.add("ESP-CUP", 3)
        kiosk.expect("[live] the cart changed on mobile")
        kiosk.expect("3 x Espresso Cup")
        kiosk.type("devices")
        kiosk.expect("kiosk-7  (this kiosk)")
    kiosk.quit()


def test_till_keeps_selling_offline_and_catches_up_once(
    app_server: ServerProcess, terminals: list[Terminal], tmp_path: Path
) -> None:
    """Sales made with the server down wait on disk, survive a till restart, and reach the server exactly once."""
    args = ["--server", app_server.url, "--device", "till-3", "--data", str(tmp_path / "till")]
    till = Terminal("pos_till.py", args, cwd=tmp_path)
    terminals.append(till)
    till.type("add BEANS-1KG 2")
    till.expect("in step with the server (cart version 1)")

    app_server.stop()
    till.type("add ESP-CUP")
    till.expect("1 x Espresso Cup")
    till.expect("offline: 1 change(s) waiting for the server")
    till.type("add NO-SUCH-SKU")
    till.expect("offline: 2 change(s) waiting")
    till.quit()

    restarted = Terminal("pos_till.py", args, cwd=tmp_path)
    terminals.append(restarted)
    restarted.expect("selling offline")
    restarted.expect("offline: 2 change(s) waiting")
    app_server.start()
    restarted.type("sync")
    restarted.expect("in step with the server (cart version 2)")
    restarted.expect("refused by the server: ")
    restarted.quit()

    stored = FileTokenStore(tmp_path / "till" / "tokens.json")
    with Client(app_server.url, channel="pos", device="audit", store=stored) as till_customer:
        cart = till_customer.cart.get()
    assert sorted((line.sku, line.qty) for line in cart.lines) == [("BEANS-1KG", 2), ("ESP-CUP", 1)]
    assert cart.version == 2, "each sale applied once"


def test_agent_console_picks_up_by_pin_and_overrides_a_price(
    app_server: ServerProcess, terminals: list[Terminal], tmp_path: Path
) -> None:
    """The console redeems the shopper's PIN, overrides a price with a reason, and shows the shopper's edits live."""
    with Client.start(app_server.url, channel="web", device="laptop") as shopper:
        line = shopper.cart.add("MUG-BLK").lines[0]
        pin = shopper.ask_for_help().pin
        console = agent_console(app_server, tmp_path)
        terminals.append(console)
        console.type(pin)
        console.expect("1 x Black Mug")
        console.type(f"price {line.line_id} 9.50 scratched on the side")
        console.expect("price set by agent: scratched on the side")
        console.type("price L1 lots reason")
        console.expect("is not an amount")
        shopper.cart.add("FILTERS-100", 2)
        console.expect("[live] the customer changed the cart on web")
        console.expect("2 x Paper Filters (100)")
        console.quit()
        seen = {item.sku: item for item in shopper.cart.get().lines}
    assert (seen["MUG-BLK"].unit_price, seen["MUG-BLK"].price_reason) == (950, "scratched on the side")
    assert seen["FILTERS-100"].unit_price == PRICES["FILTERS-100"]


def test_agent_console_refuses_a_wrong_pin(
    app_server: ServerProcess, terminals: list[Terminal], tmp_path: Path
) -> None:
    """A PIN nobody offered ends the console with the server's reason, and a non-zero exit."""
    console = agent_console(app_server, tmp_path)
    terminals.append(console)
    console.type("000000")
    console.expect("No pickup: ")
