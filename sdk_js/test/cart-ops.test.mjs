// applyOps is the server's cart rules ported (sdk_python/omnicart/cart_ops.py): pure, so tested by calling it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { OpRejected, applyOps } from "../dist/index.js";

const PRICES = new Map([
  ["TEE", { sku: "TEE", title: "T-shirt", unit_price: 1999, currency: "EUR" }],
  ["CAP", { sku: "CAP", title: "Cap", unit_price: 1500, currency: "EUR" }],
]);
const LIMITS = { maxQtyPerLine: 10, maxLines: 2, maxOps: 5 };
const EMPTY = { lines: [], nextLineNo: 1 };

function rejectedWith(code) {
  return (error) => error instanceof OpRejected && error.code === code;
}

test("adding a SKU already in the cart raises its line; new lines take the next number", () => {
  const after = applyOps(
    EMPTY,
    [
      { op: "add_item", sku: "TEE", qty: 1 },
      { op: "add_item", sku: "CAP" },
      { op: "add_item", sku: "TEE", qty: 2 },
    ],
    PRICES,
    LIMITS,
  );
  assert.deepEqual(
    after.lines.map((line) => [line.line_id, line.sku, line.qty, line.line_total]),
    [
      ["L1", "TEE", 3, 5997],
      ["L2", "CAP", 1, 1500],
    ],
  );
  assert.equal(after.nextLineNo, 3);
});

test("set, remove and clear work on line ids, and the input is never changed", () => {
  const start = applyOps(
    EMPTY,
    [
      { op: "add_item", sku: "TEE" },
      { op: "add_item", sku: "CAP" },
    ],
    PRICES,
    LIMITS,
  );
  const after = applyOps(
    start,
    [
      { op: "set_quantity", line_id: "L2", qty: 4 },
      { op: "remove_item", line_id: "L1" },
    ],
    PRICES,
    LIMITS,
  );
  assert.deepEqual(
    after.lines.map((line) => [line.line_id, line.qty, line.line_total]),
    [["L2", 4, 6000]],
  );
  assert.equal(start.lines.length, 2);
  assert.deepEqual(applyOps(after, [{ op: "clear" }], PRICES, LIMITS).lines, []);
});

test("every rule the server enforces refuses the whole batch with the server's code", () => {
  const one = applyOps(EMPTY, [{ op: "add_item", sku: "TEE" }], PRICES, LIMITS);
  assert.throws(() => applyOps(EMPTY, [{ op: "add_item", sku: "NOPE" }], PRICES, LIMITS), rejectedWith("unknown_sku"));
  assert.throws(
    () => applyOps(one, [{ op: "add_item", sku: "TEE", qty: 10 }], PRICES, LIMITS),
    rejectedWith("invalid_quantity"),
  );
  assert.throws(
    () => applyOps(one, [{ op: "set_quantity", line_id: "L1", qty: 0 }], PRICES, LIMITS),
    rejectedWith("invalid_quantity"),
  );
  assert.throws(
    () => applyOps(one, [{ op: "remove_item", line_id: "L9" }], PRICES, LIMITS),
    rejectedWith("unknown_line"),
  );
  const full = applyOps(one, [{ op: "add_item", sku: "CAP" }], PRICES, LIMITS);
  const third = { ...PRICES.get("TEE"), sku: "SOCKS" };
  assert.throws(
    () => applyOps(full, [{ op: "add_item", sku: "SOCKS" }], new Map([["SOCKS", third]]), LIMITS),
    rejectedWith("too_many_lines"),
  );
  assert.throws(() => applyOps(EMPTY, Array(6).fill({ op: "clear" }), PRICES, LIMITS), rejectedWith("too_many_ops"));
});

test("only an agent may set a price, and the reason goes on the line", () => {
  const one = applyOps(EMPTY, [{ op: "add_item", sku: "TEE", qty: 2 }], PRICES, LIMITS);
  const setPrice = [{ op: "set_price", line_id: "L1", unit_price: 999, reason: "damaged box" }];
  assert.throws(() => applyOps(one, setPrice, PRICES, LIMITS), rejectedWith("price_not_allowed"));
  const priced = applyOps(one, setPrice, PRICES, LIMITS, { maySetPrices: true });
  assert.deepEqual(priced.lines[0], {
    ...one.lines[0],
    unit_price: 999,
    line_total: 1998,
    price_reason: "damaged box",
  });
});
