"""Merge an anonymous customer's cart into a known customer's cart by a strategy: pure, no I/O."""

from __future__ import annotations

import msgspec

from omnicart.cart_ops import CartContents, CartLimits
from omnicart.protocol.cart import CartLine
from omnicart.protocol.identity import CartChange, MergeStrategy


def merge_carts(
    known: CartContents, anonymous: list[CartLine], strategy: MergeStrategy, limits: CartLimits
) -> tuple[CartContents, list[CartChange]]:
    """The known customer's cart after the merge, and what happened to each SKU either side held."""
    if strategy is MergeStrategy.KEEP_KNOWN or (
        strategy is MergeStrategy.KEEP_ANONYMOUS_IF_KNOWN_EMPTY and known.lines
    ):
        result = known
    elif strategy in (MergeStrategy.KEEP_ANONYMOUS, MergeStrategy.KEEP_ANONYMOUS_IF_KNOWN_EMPTY):
        result = _renumbered(anonymous, known.next_line_no)
    else:
        result = _combined(known, anonymous, strategy, limits)
    return result, _changes(known.lines, anonymous, result.lines)


def _combined(
    known: CartContents, anonymous: list[CartLine], strategy: MergeStrategy, limits: CartLimits
) -> CartContents:
    lines = {line.sku: line for line in known.lines}
    next_line_no = known.next_line_no
    for line in anonymous:
        mine = lines.get(line.sku)
        if mine is None:
            if len(lines) >= limits.max_lines:
                continue  # the report shows the SKU's result as 0
            lines[line.sku] = msgspec.structs.replace(line, line_id=f"L{next_line_no}")
            next_line_no += 1
            continue
        qty = mine.qty + line.qty if strategy is MergeStrategy.SUM_QUANTITIES else max(mine.qty, line.qty)
        qty = min(qty, limits.max_qty_per_line)
        lines[line.sku] = msgspec.structs.replace(mine, qty=qty, line_total=qty * mine.unit_price)
    return CartContents(list(lines.values()), next_line_no)


def _renumbered(lines: list[CartLine], next_line_no: int) -> CartContents:
    """New line ids, so an id a device held for the known cart never names a different line."""
    renumbered = [msgspec.structs.replace(line, line_id=f"L{next_line_no + index}") for index, line in enumerate(lines)]
    return CartContents(renumbered, next_line_no + len(lines))


def _changes(known: list[CartLine], anonymous: list[CartLine], result: list[CartLine]) -> list[CartChange]:
    before_known = {line.sku: line.qty for line in known}
    before_anonymous = {line.sku: line.qty for line in anonymous}
    after = {line.sku: line.qty for line in result}
    skus = list(dict.fromkeys([*before_known, *before_anonymous]))
    return [
        CartChange(
            sku=sku,
            known_qty=before_known.get(sku, 0),
            anonymous_qty=before_anonymous.get(sku, 0),
            result_qty=after.get(sku, 0),
        )
        for sku in skus
    ]
