/**
 * Apply a batch of cart ops to a cart's lines with catalog prices: pure, no I/O, all of the batch or an error.
 * A port of sdk_python/omnicart/cart_ops.py, the rules the server applies batches with, so the offline view of
 * pending writes shows what the server will make of them (the server's answer still wins).
 */
import { ErrorCode } from "./protocol.js";
/** A batch cannot apply: `code` is the server's error code for it, `detail` a sentence a person can act on. */
export class OpRejected extends Error {
    code;
    detail;
    name = "OpRejected";
    constructor(code, detail) {
        super(detail);
        this.code = code;
        this.detail = detail;
    }
}
/** Return the cart after every op, or throw OpRejected on the first op that cannot apply (the input never changes). */
export function applyOps(contents, ops, catalog, limits, { maySetPrices = false } = {}) {
    if (ops.length > limits.maxOps) {
        throw new OpRejected(ErrorCode.TOO_MANY_OPS, `A batch may hold at most ${limits.maxOps} ops; this one has ${ops.length}. Split it.`);
    }
    // A Map keeps insertion order and a replaced line keeps its place, as the server's dict does.
    const lines = new Map(contents.lines.map((line) => [line.line_id, line]));
    const lineOfSku = new Map(contents.lines.map((line) => [line.sku, line.line_id]));
    let nextLineNo = contents.nextLineNo;
    ops.forEach((op, index) => {
        const where = `ops[${index}]`;
        switch (op.op) {
            case "add_item": {
                const qty = op.qty ?? 1;
                const item = catalog.get(op.sku);
                if (item === undefined)
                    throw new OpRejected(ErrorCode.UNKNOWN_SKU, `${where}: SKU '${op.sku}' is not in the catalog.`);
                checkQuantity(qty, limits, where);
                const existingId = lineOfSku.get(op.sku);
                if (existingId !== undefined) {
                    const existing = lineOf(lines, existingId, where);
                    checkQuantity(existing.qty + qty, limits, where, `the line would hold ${existing.qty + qty}`);
                    lines.set(existingId, withQuantity(existing, existing.qty + qty));
                    return;
                }
                if (lines.size >= limits.maxLines) {
                    throw new OpRejected(ErrorCode.TOO_MANY_LINES, `${where}: a cart holds at most ${limits.maxLines} lines.`);
                }
                const lineId = `L${nextLineNo}`;
                nextLineNo += 1;
                lines.set(lineId, {
                    line_id: lineId,
                    sku: op.sku,
                    title: item.title,
                    qty,
                    unit_price: item.unit_price,
                    line_total: qty * item.unit_price,
                    price_reason: null,
                });
                lineOfSku.set(op.sku, lineId);
                return;
            }
            case "set_quantity":
                checkQuantity(op.qty, limits, where);
                lines.set(op.line_id, withQuantity(lineOf(lines, op.line_id, where), op.qty));
                return;
            case "remove_item":
                lineOfSku.delete(lineOf(lines, op.line_id, where).sku);
                lines.delete(op.line_id);
                return;
            case "clear":
                lines.clear();
                lineOfSku.clear();
                return;
            case "set_price": {
                if (!maySetPrices) {
                    throw new OpRejected(ErrorCode.PRICE_NOT_ALLOWED, `${where}: prices come from the catalog; only an authorised agent may override one.`);
                }
                const line = lineOf(lines, op.line_id, where);
                lines.set(op.line_id, {
                    ...line,
                    unit_price: op.unit_price,
                    line_total: line.qty * op.unit_price,
                    price_reason: op.reason,
                });
                return;
            }
        }
    });
    return { lines: [...lines.values()], nextLineNo };
}
function checkQuantity(qty, limits, where, what = "") {
    if (qty >= 1 && qty <= limits.maxQtyPerLine)
        return;
    const said = what || `quantity ${qty}`;
    throw new OpRejected(ErrorCode.INVALID_QUANTITY, `${where}: ${said} is out of range; a line holds 1 to ${limits.maxQtyPerLine} (remove_item drops it).`);
}
function lineOf(lines, lineId, where) {
    const line = lines.get(lineId);
    if (line === undefined) {
        throw new OpRejected(ErrorCode.UNKNOWN_LINE, `${where}: the cart has no line '${lineId}'; fetch the cart for the current line ids.`);
    }
    return line;
}
function withQuantity(line, qty) {
    return { ...line, qty, line_total: qty * line.unit_price };
}
