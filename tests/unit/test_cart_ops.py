"""The pure cart core: every op's rule, and that a refused batch changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from omnicart.cart_ops import CartContents, CartLimits, OpRejected, apply_ops
from omnicart.protocol.cart import AddItem, CartOp, Clear, RemoveItem, SetPrice, SetQuantity
from omnicart.protocol.catalog import CatalogItem
from omnicart.protocol.problems import ErrorCode
from omnicart_server.catalog.loader import Catalog

CATALOG = Catalog(
    [
        CatalogItem(sku="A", title="Apple", unit_price=100, currency="EUR"),
        CatalogItem(sku="B", title="Bread", unit_price=250, currency="EUR"),
        CatalogItem(sku="C", title="Cheese", unit_price=999, currency="EUR"),
    ]
)
LIMITS = CartLimits(max_qty_per_line=10, max_lines=2, max_ops=5)
EMPTY = CartContents([], 1)


@contextmanager
def rejected(code: ErrorCode, match: str | None = None) -> Iterator[None]:
    """The block raises OpRejected with this code (and a detail matching `match`)."""
    with pytest.raises(OpRejected, match=match) as caught:
        yield
    assert caught.value.code is code


def apply(ops: list[CartOp], contents: CartContents = EMPTY, *, agent: bool = False) -> CartContents:
    return apply_ops(contents, ops, CATALOG, LIMITS, may_set_prices=agent)


def test_add_item_takes_price_and_title_from_catalog() -> None:
    """A new line carries the catalog's title and price, and its total."""
    (line,) = apply([AddItem(sku="B", qty=3)]).lines
    assert (line.line_id, line.title, line.unit_price, line.line_total) == ("L1", "Bread", 250, 750)


def test_add_existing_sku_raises_quantity_instead_of_new_line() -> None:
    """Adding a SKU already in the cart never duplicates the line."""
    contents = apply([AddItem(sku="A", qty=2), AddItem(sku="A", qty=3)])
    assert [(line.sku, line.qty, line.line_total) for line in contents.lines] == [("A", 5, 500)]


def test_line_ids_are_never_reused() -> None:
    """A line added after a removal gets a fresh id, so a stale line id cannot hit the wrong line."""
    first = apply([AddItem(sku="A", qty=1)])
    again = apply([RemoveItem(line_id="L1"), AddItem(sku="A", qty=1)], first)
    assert [line.line_id for line in again.lines] == ["L2"]


def test_set_quantity_and_remove_and_clear() -> None:
    """set_quantity, remove_item and clear change only what they name."""
    contents = apply([AddItem(sku="A", qty=1), AddItem(sku="B", qty=1)])
    contents = apply([SetQuantity(line_id="L2", qty=4), RemoveItem(line_id="L1")], contents)
    assert [(line.sku, line.qty) for line in contents.lines] == [("B", 4)]
    assert apply([Clear()], contents).lines == []


@pytest.mark.parametrize("qty", [0, -1, 11])
def test_quantity_out_of_range_is_refused(qty: int) -> None:
    """Quantities below 1 or above the per-line maximum are refused."""
    with rejected(ErrorCode.INVALID_QUANTITY):
        apply([AddItem(sku="A", qty=qty)])


def test_adding_past_the_line_maximum_is_refused() -> None:
    """Raising an existing line past the maximum is refused, not capped."""
    with rejected(ErrorCode.INVALID_QUANTITY, "would hold 12"):
        apply([AddItem(sku="A", qty=6), AddItem(sku="A", qty=6)])


def test_unknown_sku_and_line_are_refused() -> None:
    """Ops naming something that does not exist are refused with the op's index."""
    with rejected(ErrorCode.UNKNOWN_SKU, r"ops\[0\]"):
        apply([AddItem(sku="Z", qty=1)])
    with rejected(ErrorCode.UNKNOWN_LINE, r"ops\[1\]"):
        apply([AddItem(sku="A", qty=1), SetQuantity(line_id="L9", qty=1)])


def test_line_and_op_limits() -> None:
    """A cart never holds more lines, nor a batch more ops, than the limits."""
    with rejected(ErrorCode.TOO_MANY_LINES):
        apply([AddItem(sku="A"), AddItem(sku="B"), AddItem(sku="C")])
    with rejected(ErrorCode.TOO_MANY_OPS):
        apply([Clear()] * 6)


def test_shopper_cannot_set_price_but_agent_can() -> None:
    """Prices come from the catalog unless an authorised agent overrides them with a reason."""
    contents = apply([AddItem(sku="C", qty=2)])
    with rejected(ErrorCode.PRICE_NOT_ALLOWED):
        apply([SetPrice(line_id="L1", unit_price=1, reason="goodwill")], contents)
    (line,) = apply([SetPrice(line_id="L1", unit_price=500, reason="damaged box")], contents, agent=True).lines
    assert (line.unit_price, line.line_total, line.price_reason) == (500, 1000, "damaged box")


def test_refused_batch_leaves_input_untouched() -> None:
    """A batch failing on its last op changes nothing, not even the lines the earlier ops touched."""
    contents = apply([AddItem(sku="A", qty=1)])
    before = (list(contents.lines), contents.next_line_no)
    with rejected(ErrorCode.UNKNOWN_SKU):
        apply([SetQuantity(line_id="L1", qty=9), Clear(), AddItem(sku="nope")], contents)
    assert (contents.lines, contents.next_line_no) == before
