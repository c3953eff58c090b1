import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { LocalStorageStore, MemoryStore, TransportError } from "../dist/index.js";
import { MemoryStorage, openDevice, quantities } from "./devices.mjs";
import { startServer } from "./server.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(() => server.dispose());

/** A fetch that performs the matching request for real, then throws as if the connection dropped before the answer. */
function losingAnswersTo(matches, times = 1) {
  const lost = [];
  const fetchLosingAnswers = async (url, init) => {
    const response = await fetch(url, init);
    if (lost.length < times && matches(url, init)) {
      lost.push({ url, idempotencyKey: init.headers["idempotency-key"] });
      await response.arrayBuffer();
      throw new TypeError("fetch failed", {
        cause: Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }),
      });
    }
    return response;
  };
  return { fetch: fetchLosingAnswers, lost };
}

test("a write whose answer is lost is retried with the same Idempotency-Key and applied once", async () => {
  const losing = losingAnswersTo((url) => url.endsWith("/v1/cart/ops"), 2);
  const till = await openDevice(server, "pos", "till-1", { fetch: losing.fetch });
  const cart = await till.cart.add("JACKET-RAIN", 1);
  assert.equal(losing.lost.length, 2);
  assert.equal(losing.lost[0].idempotencyKey, losing.lost[1].idempotencyKey);
  assert.deepEqual(quantities(cart), { "JACKET-RAIN": 1 });
  assert.deepEqual(quantities(await till.cart.get()), { "JACKET-RAIN": 1 });
  const updates = (await till.events()).events.filter((event) => event.kind === "cart.updated");
  assert.equal(updates.length, 1);
});

test("a transaction step whose answer is lost is retried and applied once", async () => {
  const losing = losingAnswersTo((url) => url.endsWith("/step"));
  const phone = await openDevice(server, "mobile", "phone", { fetch: losing.fetch });
  const started = await phone.transactions.start("support_case", { topic: "delivery" });
  const stepped = await phone.transactions.step(started.transaction_id, { to: "in_progress" });
  assert.equal(losing.lost.length, 1);
  assert.equal(stepped.state, "in_progress");
  assert.equal(stepped.version, started.version + 1);
});

test("a call that is not repeatable is not resent once it may have reached the server", async () => {
  const losing = losingAnswersTo((url) => url.endsWith("/v1/handoff"));
  const laptop = await openDevice(server, "web", "laptop", { fetch: losing.fetch });
  await assert.rejects(laptop.handoff.create(), (error) => error instanceof TransportError);
  const offers = (await laptop.events()).events.filter((event) => event.kind === "handoff.offered");
  assert.equal(offers.length, 1);
});

test("Client.start resumes the stored session instead of opening another", async () => {
  const store = new LocalStorageStore("till", new MemoryStorage());
  const first = await openDevice(server, "pos", "till-2", { store });
  await first.cart.add("SOCKS-3PK");
  const restarted = await openDevice(server, "pos", "till-2", { store });
  assert.equal(restarted.sessionId, first.sessionId);
  assert.deepEqual(quantities(await restarted.cart.get()), { "SOCKS-3PK": 1 });
});

test("Client.start opens a new session for the stored customer when the stored session was revoked", async () => {
  const store = new MemoryStore();
  const first = await openDevice(server, "kiosk", "kiosk-1", { store });
  await first.cart.add("BOTTLE-STEEL");
  await first.sessions.revoke(first.sessionId);
  const restarted = await openDevice(server, "kiosk", "kiosk-1", { store });
  assert.equal(restarted.customerId, first.customerId);
  assert.notEqual(restarted.sessionId, first.sessionId);
  assert.equal(store.load().sessionId, restarted.sessionId);
  assert.deepEqual(quantities(await restarted.cart.get()), { "BOTTLE-STEEL": 1 });
});
