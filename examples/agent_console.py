"""A contact-center agent's console: pick a customer up by the PIN they read out, and work on their cart live.

    omnicart keys create --name contact-center --scope agent      # once; prints the key
    OMNICART_API_KEY=ock_... python examples/agent_console.py --server http://127.0.0.1:8000 --agent alice

The shopper presses "ask for help" (POST /v1/assist) and reads out the six digits; the console asks for them
first. Then the agent sees the cart as the shopper changes it, changes quantities, and can override a price with a
reason that goes into the customer's log. The key is read from the environment, never from the command line.
"""

from __future__ import annotations

import argparse
import os
import sys

from terminal import Commands, count, describe, draw_cart, minor_units, typed_lines

from omnicart import Change, Client, ConnectionState, LiveThread, OmnicartError
from omnicart.protocol.events import EventKind


class Console:
    """The agent's commands on one customer's cart."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.commands = Commands()
        self.commands.add("cart", self.show, "cart                     the customer's cart")
        self.commands.add("add", self.add, "add SKU [QTY]            add an item for the customer", (1, 2))
        self.commands.add("qty", self.set_quantity, "qty LINE QTY             change a line's quantity", (2, 2))
        self.commands.add("remove", self.remove, "remove LINE              take a line out", (1, 1))
        self.commands.add("price", self.set_price, "price LINE AMOUNT REASON override a line's price", (3, None))
        self.commands.add("devices", self.devices, "devices                  the customer's devices online")
        self.commands.add("help", self.help, "help                     this list")
        self.live: LiveThread | None = None
        self.caught_up = False

    def show(self) -> None:
        print(draw_cart(self.client.cart.get()))

    def add(self, sku: str, qty: str = "1") -> None:
        print(draw_cart(self.client.cart.add(sku.upper(), count(qty))))

    def set_quantity(self, line_id: str, qty: str) -> None:
        print(draw_cart(self.client.cart.set_quantity(line_id, count(qty))))

    def remove(self, line_id: str) -> None:
        print(draw_cart(self.client.cart.remove(line_id)))

    def set_price(self, line_id: str, amount: str, reason: str) -> None:
        print(draw_cart(self.client.cart.set_price(line_id, minor_units(amount), reason)))

    def devices(self) -> None:
        for device in self.live.presence if self.live else []:
            who = f"agent {device.agent_id}" if device.role == "agent" else device.channel
            print(f"  {who:<16} {device.device}")

    def help(self) -> None:
        print(self.commands.help() + "\n  quit                     hang up (the customer keeps the cart)")

    def on_change(self, change: Change) -> None:
        """Runs on the live stream's thread: say what the customer (or another agent) just did."""
        if change.kind == "state" and change.state is not ConnectionState.CLOSED:
            self.caught_up = self.caught_up or change.state is ConnectionState.LIVE
            print(f"\n[live] connection {change.state}")
        elif change.event is None or change.event.session_id == self.client.session_id or not self.caught_up:
            return  # the agent's own edits, or the history replayed before the stream went live
        elif change.kind == EventKind.CART_UPDATED and self.live and self.live.cart:
            print(f"\n[live] the customer changed the cart on {change.event.channel}:\n{draw_cart(self.live.cart)}")
        elif change.kind == EventKind.ASSIST_REVOKED:
            print("\n[live] the customer withdrew consent: this session has ended.")
        else:
            print(f"\n[live] {change.kind} on {change.event.channel}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="http://127.0.0.1:8000")
    parser.add_argument("--agent", required=True, help="the agent's id, written to the customer's log")
    parser.add_argument("--device", default="agent-console")
    args = parser.parse_args()
    api_key = os.environ.get("OMNICART_API_KEY")
    if not api_key:
        raise SystemExit(
            "Set OMNICART_API_KEY to a key with scope `agent`: omnicart keys create --name contact-center --scope agent"
        )

    print("PIN read out by the customer: ", end="", flush=True)
    pin = sys.stdin.readline().strip()
    try:
        client = Client.agent(args.server, api_key=api_key, agent_id=args.agent, pin=pin, device=args.device)
    except OmnicartError as error:
        raise SystemExit(f"No pickup: {describe(error)}") from None
    with client:
        console = Console(client)
        with client.live(on_change=console.on_change) as live:
            console.live = live
            live.wait_live()
            print(f"Agent {args.agent} on customer {client.customer_id}. Type `help` for the commands.")
            console.show()
            for line in typed_lines("agent> "):
                console.commands.run(line)


if __name__ == "__main__":
    main()
