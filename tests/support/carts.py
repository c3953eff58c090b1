"""Reading carts the way a person checks them: which SKUs, how many of each."""

from __future__ import annotations

from typing import Any


def quantities(cart: dict[str, Any]) -> dict[str, int]:
    """The cart as {sku: qty}; fails if a SKU has more than one line (a merge or a race duplicated it)."""
    skus = [line["sku"] for line in cart["lines"]]
    assert len(skus) == len(set(skus)), f"duplicate lines: {cart['lines']}"
    return {line["sku"]: line["qty"] for line in cart["lines"]}
