"""A store kiosk in the terminal: browse, fill the cart, see other devices' changes live, hand off to a phone.

    python examples/kiosk.py --server http://127.0.0.1:8000

Type `help` for the commands. `handoff` prints a code and a QR code: scan it with a phone (the demo shop opens on
the same cart), or type the code on another device. Changes made there show up here as they happen. The kiosk keeps
its customer in --store, so a restarted kiosk continues the same cart; delete the file to start a new customer.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import segno
from terminal import Commands, count, draw_cart, money

from omnicart import AsyncClient, Change, ConnectionState, FileTokenStore, LiveConnection
from omnicart.protocol.events import EventKind


class Kiosk:
    """The commands of one kiosk, working on its customer's cart through an AsyncClient."""

    def __init__(self, client: AsyncClient, live: LiveConnection) -> None:
        self.client = client
        self.live = live
        self.commands = Commands()
        self.commands.add("catalog", self.catalog, "catalog [WORDS]    what the store sells", (0, None))
        self.commands.add("add", self.add, "add SKU [QTY]      put an item in the cart", (1, 2))
        self.commands.add("qty", self.set_quantity, "qty LINE QTY       change a line's quantity", (2, 2))
        self.commands.add("remove", self.remove, "remove LINE        take a line out", (1, 1))
        self.commands.add("cart", self.show_cart, "cart               show the cart")
        self.commands.add("handoff", self.handoff, "handoff            continue on a phone: code and QR")
        self.commands.add("devices", self.devices, "devices            this customer's devices online now")
        self.commands.add("help", self.help, "help               this list")

    async def catalog(self, words: str = "") -> None:
        page = await self.client.catalog(words)
        for item in page.items:
            print(f"  {item.sku:<16} {item.title:<32} {money(item.unit_price, item.currency):>12}")

    async def add(self, sku: str, qty: str = "1") -> None:
        print(draw_cart(await self.client.cart.add(sku.upper(), count(qty))))

    async def set_quantity(self, line_id: str, qty: str) -> None:
        print(draw_cart(await self.client.cart.set_quantity(line_id, count(qty))))

    async def remove(self, line_id: str) -> None:
        print(draw_cart(await self.client.cart.remove(line_id)))

    async def show_cart(self) -> None:
        print(draw_cart(await self.client.cart.get()))

    async def handoff(self) -> None:
        offer = await self.client.handoff.create()
        segno.make(offer.url, error="m").terminal(out=sys.stdout, compact=True)
        print(f"  Scan the code above, or type {offer.code} on your phone (valid until {offer.expires_at:%H:%M}).")

    async def devices(self) -> None:
        for device in self.live.presence:
            me = "  (this kiosk)" if device.session_id == self.client.session_id else ""
            print(f"  {device.channel:<10} {device.device}{me}")

    async def help(self) -> None:
        print(self.commands.help() + "\n  quit               leave (the cart stays)")


async def show_live_changes(live: LiveConnection, own_session: str | None) -> None:
    """Print what other devices changed, and when the connection drops or comes back."""
    caught_up = False  # the history replayed on connecting was shown as the cart already
    async for change in live.changes():
        if change.kind == "state" and change.state is not ConnectionState.CLOSED:
            caught_up = caught_up or change.state is ConnectionState.LIVE
            print(f"[live] connection {change.state}")
        elif not caught_up:
            continue
        elif is_elsewhere(change, own_session) and change.kind == EventKind.CART_UPDATED and live.cart:
            print(f"[live] the cart changed on {change.event and change.event.channel}:\n{draw_cart(live.cart)}")
        elif is_elsewhere(change, own_session) and change.event is not None:
            print(f"[live] {change.kind} on {change.event.channel}")


def is_elsewhere(change: Change, own_session: str | None) -> bool:
    return change.event is not None and change.event.session_id != own_session


async def read_line() -> str | None:
    """The next typed line, without blocking the live stream meanwhile; None at `quit` or the end of input."""
    print("kiosk> ", end="", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    return None if not line or line.strip() in ("quit", "exit") else line


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="http://127.0.0.1:8000")
    parser.add_argument("--device", default="kiosk-1", help="this kiosk's name, shown on the customer's devices")
    parser.add_argument("--store", default="kiosk-tokens.json", help="where the kiosk keeps its customer")
    args = parser.parse_args()

    store = FileTokenStore(args.store)
    client = await AsyncClient.start(args.server, channel="kiosk", device=args.device, store=store)
    async with client, client.live() as live:
        watcher = asyncio.create_task(show_live_changes(live, client.session_id))
        await live.wait_live()
        kiosk = Kiosk(client, live)
        print(f"Kiosk {args.device}, customer {client.customer_id}. Type `help` for the commands.")
        await kiosk.show_cart()
        while (line := await read_line()) is not None:
            await kiosk.commands.run_async(line)
        watcher.cancel()
    print("Bye: the cart stays with the customer.")


if __name__ == "__main__":
    asyncio.run(main())
