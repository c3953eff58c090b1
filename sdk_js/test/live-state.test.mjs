// LiveState is pure: frames in, changes out. Imported from its module, as it is not part of the public API.
import assert from "node:assert/strict";
import { test } from "node:test";
import { GapDetected, LiveState } from "../dist/live-state.js";

function event(seq, kind = "cart.updated", data = {}) {
  return { type: "event", seq, kind, at: "2026-01-01T00:00:00Z", session_id: "ses_a", channel: "web", data };
}

function cartAt(version) {
  return { cart_id: "crt", version, currency: "EUR", lines: [], subtotal: 0, item_count: 0, updated_at: "" };
}

test("events apply in seq order and a duplicate is dropped", () => {
  const state = new LiveState();
  assert.deepEqual(
    state.apply(event(1, "cart.updated", { cart: cartAt(1) })).map((c) => c.kind),
    ["cart.updated"],
  );
  assert.deepEqual(state.apply(event(1, "cart.updated", { cart: cartAt(9) })), []);
  assert.equal(state.cart.version, 1);
  assert.equal(state.lastSeq, 1);
});

test("an event past the next seq is a gap, and the state stays as it was", () => {
  const state = new LiveState();
  state.apply(event(1));
  assert.throws(() => state.apply(event(3)), GapDetected);
  assert.equal(state.lastSeq, 1);
});

test("a snapshot replaces the cart and moves the seq to its head", () => {
  const state = new LiveState();
  state.apply({ type: "welcome", session_id: "s", customer_id: "c", head: 40, epoch: "e2" });
  assert.deepEqual(state.apply({ type: "snapshot", head: 40, epoch: "e2", cart: cartAt(7) }), [{ kind: "snapshot" }]);
  assert.equal(state.lastSeq, 40);
  assert.equal(state.epoch, "e2");
  assert.equal(state.cart.version, 7);
});

test("transaction events merge into one record per transaction; a merge is remembered", () => {
  const state = new LiveState();
  state.apply(event(1, "transaction.started", { transaction_id: "txn_1", kind: "checkout" }));
  state.apply(event(2, "transaction.taken_over", { transaction_id: "txn_1", to_session: "ses_b" }));
  assert.deepEqual(state.transactions, { txn_1: { transaction_id: "txn_1", kind: "checkout", to_session: "ses_b" } });
  state.apply(event(3, "customer.merged", { into: "cus_known", strategy: "sum_quantities" }));
  assert.equal(state.mergedInto, "cus_known");
  state.startOver();
  assert.equal(state.lastSeq, 0);
  assert.deepEqual(state.transactions, {});
});
