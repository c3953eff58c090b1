"""A POS till that keeps selling when the network drops.

    python examples/pos_till.py --server http://127.0.0.1:8000 --data till-3

Every sale line goes into a queue on disk first (--data/queue.db) and is sent to the server when it can be
reached; until then the till shows it as pending, priced by the catalog it last saw. Stop the server, keep
adding, start it again: the next command (or `sync`) sends everything in order, exactly once, and the till shows
the server's cart. A line the server refuses is shown as refused and never holds up the rest. Quit and start the
till again with the same --data: the same customer, and the same pending lines.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from terminal import Commands, count, draw_cart, typed_lines

from omnicart import Client, FileTokenStore, LocalCart, OfflineCart, OfflineQueue, TransportError
from omnicart.protocol.cart import AddItem, SetQuantity


class Till:
    """The till's commands: every one first sends what is pending, so the till catches up as soon as it can."""

    def __init__(self, client: Client, cart: OfflineCart) -> None:
        self.client = client
        self.cart = cart
        self.reported = 0
        self.commands = Commands()
        self.commands.add("add", self.add, "add SKU [QTY]      sell an item", (1, 2))
        self.commands.add("qty", self.set_quantity, "qty LINE QTY       change a line's quantity", (2, 2))
        self.commands.add("remove", self.remove, "remove LINE        take a line out", (1, 1))
        self.commands.add("cart", self.show, "cart               the cart as the till sees it")
        self.commands.add("sync", self.show, "sync               send what is pending now")
        self.commands.add("help", self.help, "help               this list")

    def add(self, sku: str, qty: str = "1") -> None:
        self.cart.add(sku.upper(), count(qty))
        self.show()

    def set_quantity(self, line_id: str, qty: str) -> None:
        self.cart.set_quantity(line_id, count(qty))
        self.show()

    def remove(self, line_id: str) -> None:
        self.cart.remove(line_id)
        self.show()

    def show(self) -> None:
        self.cart.sync()
        local = self.cart.view()
        print(draw_cart(local.cart, pending_skus=pending_skus(local)))
        if local.pending:
            print(f"  offline: {len(local.pending)} change(s) waiting for the server")
        else:
            print(f"  in step with the server (cart version {local.cart.version})")
        for refusal in self.cart.rejected[self.reported :]:
            print(f"  refused by the server: {refusal.detail} ({refusal.code})")
        self.reported = len(self.cart.rejected)

    def help(self) -> None:
        print(self.commands.help() + "\n  quit               close the till (pending lines are kept)")


def pending_skus(local: LocalCart) -> frozenset[str]:
    """The items that pending writes add or change, to mark them on the till's screen."""
    sku_of_line = {line.line_id: line.sku for line in local.cart.lines}
    skus: set[str] = set()
    for write in local.pending:
        for op in write.request.ops:
            if isinstance(op, AddItem):
                skus.add(op.sku)
            elif isinstance(op, SetQuantity) and op.line_id in sku_of_line:
                skus.add(sku_of_line[op.line_id])
    return frozenset(skus)


def open_client(server: str, device: str, store: FileTokenStore) -> Client:
    """Resume the till's customer; a till that has sold before may start offline on what it stored."""
    client = Client(server, channel="pos", device=device, store=store, max_retries=1)
    try:
        client.resume()
    except TransportError:
        if client.credentials.session_token is None:
            client.close()
            raise SystemExit(f"{server} cannot be reached, and a till's first start needs it.") from None
        print("The server cannot be reached: selling offline.")
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="http://127.0.0.1:8000")
    parser.add_argument("--device", default="till-1", help="this till's name, shown on the customer's devices")
    parser.add_argument("--data", default="till-data", help="folder for the till's customer and pending sales")
    args = parser.parse_args()

    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    queue = OfflineQueue(data / "queue.db")
    with open_client(args.server, args.device, FileTokenStore(data / "tokens.json")) as client:
        till = Till(client, OfflineCart(client, queue))
        print(f"Till {args.device}, customer {client.customer_id}. Type `help` for the commands.")
        till.show()
        for line in typed_lines("till> "):
            till.commands.run(line)
    queue.close()


if __name__ == "__main__":
    main()
