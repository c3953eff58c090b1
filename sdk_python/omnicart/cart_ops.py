"""Apply a batch of cart ops to a cart's lines with catalog prices: pure, no I/O, all of the batch or an error.

The server applies batches with it, and the SDK's offline queue shows pending writes with the same rules.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import msgspec

from omnicart.protocol.cart import AddItem, CartLine, CartOp, Clear, RemoveItem, SetPrice, SetQuantity
from omnicart.protocol.catalog import CatalogItem
from omnicart.protocol.problems import ErrorCode


class OpRejected(Exception):
    """A batch cannot apply: `code` is the server's error code for it, `detail` a sentence a person can act on."""

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class PriceList(Protocol):
    """Where prices come from: the server's catalog, or the SDK's copy of it (a dict by SKU works)."""

    def get(self, sku: str, /) -> CatalogItem | None: ...


class CartLimits(NamedTuple):
    """Bounds that keep one cart from growing without limit; each is a server setting."""

    max_qty_per_line: int
    max_lines: int
    max_ops: int


class CartContents(NamedTuple):
    """A cart's lines in display order, and the number the next new line will take."""

    lines: list[CartLine]
    next_line_no: int


def apply_ops(
    contents: CartContents,
    ops: list[CartOp],
    catalog: PriceList,
    limits: CartLimits,
    *,
    may_set_prices: bool = False,
) -> CartContents:
    """Return the cart after every op, or raise on the first op that cannot apply (the input is never changed)."""
    if len(ops) > limits.max_ops:
        raise OpRejected(
            ErrorCode.TOO_MANY_OPS, f"A batch may hold at most {limits.max_ops} ops; this one has {len(ops)}. Split it."
        )
    lines = {line.line_id: line for line in contents.lines}
    line_of_sku = {line.sku: line.line_id for line in contents.lines}
    next_line_no = contents.next_line_no
    for index, op in enumerate(ops):
        where = f"ops[{index}]"
        match op:
            case AddItem(sku=sku, qty=qty):
                item = catalog.get(sku)
                if item is None:
                    raise OpRejected(ErrorCode.UNKNOWN_SKU, f"{where}: SKU {sku!r} is not in the catalog.")
                _check_quantity(qty, limits, where)
                existing_id = line_of_sku.get(sku)
                if existing_id is not None:
                    existing = lines[existing_id]
                    _check_quantity(existing.qty + qty, limits, where, f"the line would hold {existing.qty + qty}")
                    lines[existing_id] = _with_quantity(existing, existing.qty + qty)
                    continue
                if len(lines) >= limits.max_lines:
                    raise OpRejected(
                        ErrorCode.TOO_MANY_LINES, f"{where}: a cart holds at most {limits.max_lines} lines."
                    )
                line_id = f"L{next_line_no}"
                next_line_no += 1
                lines[line_id] = CartLine(
                    line_id=line_id,
                    sku=sku,
                    title=item.title,
                    qty=qty,
                    unit_price=item.unit_price,
                    line_total=qty * item.unit_price,
                )
                line_of_sku[sku] = line_id
            case SetQuantity(line_id=line_id, qty=qty):
                _check_quantity(qty, limits, where)
                lines[line_id] = _with_quantity(_line(lines, line_id, where), qty)
            case RemoveItem(line_id=line_id):
                del line_of_sku[_line(lines, line_id, where).sku]
                del lines[line_id]
            case Clear():
                lines.clear()
                line_of_sku.clear()
            case SetPrice(line_id=line_id, unit_price=unit_price, reason=reason):
                if not may_set_prices:
                    raise OpRejected(
                        ErrorCode.PRICE_NOT_ALLOWED,
                        f"{where}: prices come from the catalog; only an authorised agent may override one.",
                    )
                line = _line(lines, line_id, where)
                lines[line_id] = msgspec.structs.replace(
                    line, unit_price=unit_price, line_total=line.qty * unit_price, price_reason=reason
                )
    return CartContents(list(lines.values()), next_line_no)


def _check_quantity(qty: int, limits: CartLimits, where: str, what: str = "") -> None:
    if not 1 <= qty <= limits.max_qty_per_line:
        said = what or f"quantity {qty}"
        limit = limits.max_qty_per_line
        raise OpRejected(
            ErrorCode.INVALID_QUANTITY,
            f"{where}: {said} is out of range; a line holds 1 to {limit} (remove_item drops it).",
        )


def _line(lines: dict[str, CartLine], line_id: str, where: str) -> CartLine:
    line = lines.get(line_id)
    if line is None:
        raise OpRejected(
            ErrorCode.UNKNOWN_LINE,
            f"{where}: the cart has no line {line_id!r}; fetch the cart for the current line ids.",
        )
    return line


def _with_quantity(line: CartLine, qty: int) -> CartLine:
    return msgspec.structs.replace(line, qty=qty, line_total=qty * line.unit_price)
