import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";
import { indexedDB } from "fake-indexeddb";
import { IndexedDbQueueStore, LocalStorageQueueStore, OfflineCart } from "../dist/index.js";
import { MemoryStorage, openDevice, quantities } from "./devices.mjs";
import { startServer } from "./server.mjs";

let server;
before(async () => {
  server = await startServer();
});
afterEach(async () => {
  if (!server.child) await server.start(); // a failed test must not leave the next one without a server
});
after(() => server.dispose());

test("writes queued while the server is down survive a reload, then apply once each when it is back", async () => {
  const till = await openDevice(server, "pos", "till-1");
  const store = new LocalStorageQueueStore("till-queue", new MemoryStorage());
  const cart = new OfflineCart(till, { store });
  await cart.refresh();
  assert.deepEqual((await cart.add("SOCKS-3PK", 1)).pending, []);

  await server.stop();
  await cart.add("JEANS-SLIM-32", 2);
  const offline = await cart.add("SOCKS-3PK", 1);
  assert.equal(offline.pending.length, 2);
  assert.deepEqual(quantities(offline.cart), { "SOCKS-3PK": 2, "JEANS-SLIM-32": 2 });
  assert.equal(offline.cart.subtotal, 2 * 2400 + 2 * 5999);

  const reloaded = new OfflineCart(till, { store });
  assert.equal((await reloaded.ready()).pending.length, 2);
  await server.start();
  const answered = await Promise.all([reloaded.sync(), reloaded.sync()]);
  assert.equal(answered[0] + answered[1], 2);
  assert.equal(await reloaded.sync(), 0);
  const serverCart = await till.cart.get();
  assert.deepEqual(quantities(serverCart), { "SOCKS-3PK": 2, "JEANS-SLIM-32": 2 });
  assert.deepEqual(reloaded.view(), { cart: serverCart, pending: [] });
});

test("a queued write the server refuses is reported and dropped; the writes after it still apply", async () => {
  const till = await openDevice(server, "pos", "till-2");
  const cart = new OfflineCart(till, { store: new LocalStorageQueueStore("queue", new MemoryStorage()) });
  const reported = [];
  cart.on("rejected", (rejection) => reported.push(rejection));
  await cart.refresh();

  await server.stop();
  await cart.add("NOT-IN-THE-CATALOG", 1);
  const offline = await cart.add("JACKET-RAIN", 3);
  assert.equal(offline.pending.length, 2);
  assert.deepEqual(quantities(offline.cart), { "JACKET-RAIN": 3 }, "the view skips what the server will refuse");

  await server.start();
  assert.equal(await cart.sync(), 2);
  assert.deepEqual(
    cart.rejected.map((rejection) => rejection.code),
    ["unknown_sku"],
  );
  assert.match(cart.rejected[0].detail, /NOT-IN-THE-CATALOG/);
  assert.deepEqual(reported, cart.rejected);
  assert.deepEqual(cart.rejected[0].write.request.ops, [{ op: "add_item", sku: "NOT-IN-THE-CATALOG", qty: 1 }]);
  assert.deepEqual(quantities(await till.cart.get()), { "JACKET-RAIN": 3 });
  assert.deepEqual(cart.view().pending, []);
});

test("pending writes kept in IndexedDB survive a reload", async () => {
  const till = await openDevice(server, "pos", "till-3");
  const cart = new OfflineCart(till, { store: new IndexedDbQueueStore("till-3", indexedDB) });
  await till.catalog();
  await server.stop();
  await cart.add("BOTTLE-STEEL", 2);
  const pending = cart.view().pending;

  const reloaded = new OfflineCart(till, { store: new IndexedDbQueueStore("till-3", indexedDB) });
  const view = await reloaded.ready();
  assert.deepEqual(view.pending, pending);
  assert.deepEqual(quantities(view.cart), { "BOTTLE-STEEL": 2 }, "priced from the catalog the client has seen");
  await server.start();
  assert.equal(await reloaded.sync(), 1);
  assert.deepEqual(quantities(await till.cart.get()), { "BOTTLE-STEEL": 2 });
});

test("a queued write is sent with the Idempotency-Key it was made with", async () => {
  const keys = [];
  const recording = (url, init) => {
    if (url.endsWith("/v1/cart/ops")) keys.push(init.headers["idempotency-key"]);
    return fetch(url, init);
  };
  const till = await openDevice(server, "pos", "till-4", { fetch: recording });
  const cart = new OfflineCart(till, { store: new LocalStorageQueueStore("queue", new MemoryStorage()) });
  await cart.refresh();
  await server.stop();
  const { pending } = await cart.add("GIFTCARD-50", 1);
  await server.start();
  await cart.sync();
  assert.ok(keys.length >= 2, "sent once while the server was down, once after");
  assert.deepEqual(new Set(keys), new Set([pending[0].idempotencyKey]));
});

test("rebase on a newer cart from elsewhere shows pending writes on top of the other devices' changes", async () => {
  const till = await openDevice(server, "pos", "till-rebase");
  const phone = await openDevice(server, "mobile", "phone-rebase", { customerToken: till.credentials.customerToken });
  const cart = new OfflineCart(till, { store: new LocalStorageQueueStore("rebase", new MemoryStorage()) });
  await cart.refresh();
  const older = await till.cart.get();
  const newer = await phone.cart.add("JACKET-RAIN", 1); // what the till's live stream would bring

  await cart.rebase(newer);
  await cart.rebase(older); // an older cart never replaces a newer base
  await server.stop();
  const offline = await cart.add("SOCKS-3PK", 2);
  assert.equal(offline.pending.length, 1);
  assert.deepEqual(quantities(offline.cart), { "JACKET-RAIN": 1, "SOCKS-3PK": 2 });
  assert.equal(offline.cart.version, newer.version);
  await server.start();
  assert.equal(await cart.sync(), 1);
  assert.deepEqual(quantities(await phone.cart.get()), { "JACKET-RAIN": 1, "SOCKS-3PK": 2 });
});
