import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { NotFoundError } from "../dist/index.js";
import { openDevice } from "./devices.mjs";
import { startServer } from "./server.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(() => server.dispose());

test("the catalog is searchable, items are found by SKU, and the client remembers their prices", async () => {
  const laptop = await openDevice(server);
  const page = await laptop.catalog("jacket");
  assert.deepEqual(
    page.items.map((item) => item.sku),
    ["JACKET-RAIN"],
  );
  const item = await laptop.catalogItem("SOCKS-3PK");
  assert.equal(item.unit_price, 2400);
  assert.deepEqual([...laptop.prices.keys()].sort(), ["JACKET-RAIN", "SOCKS-3PK"]);
  await assert.rejects(laptop.catalogItem("NOPE"), (error) => error instanceof NotFoundError);
});

test("events page through the log in seq order", async () => {
  const laptop = await openDevice(server);
  for (const sku of ["SOCKS-3PK", "BOTTLE-STEEL", "GIFTCARD-50"]) await laptop.cart.add(sku);
  const first = await laptop.events(0, 2);
  assert.deepEqual(
    first.events.map((event) => event.seq),
    [1, 2],
  );
  assert.equal(first.has_more, true);
  const rest = await laptop.events(2, 100);
  assert.deepEqual(
    rest.events.map((event) => event.seq),
    [3, 4],
  );
  assert.equal(rest.head, 4);
  assert.equal(rest.has_more, false);
});

test("the customer's devices, profile and timeline span every channel used", async () => {
  const laptop = await openDevice(server, "web", "laptop");
  const phone = await openDevice(server, "mobile", "phone");
  await phone.handoff.claim((await laptop.handoff.create()).code);
  await phone.cart.add("JACKET-RAIN");
  const devices = await laptop.sessions.list();
  assert.deepEqual(devices.map((session) => session.device).sort(), ["laptop", "phone"]);
  const profile = await laptop.customer();
  assert.equal(profile.customer_id, laptop.customerId);
  assert.deepEqual([...profile.channels].sort(), ["mobile", "web"]);
  const kinds = (await phone.timeline()).entries.map((entry) => entry.kind);
  assert.ok(kinds.includes("handoff.claimed") && kinds.includes("cart.updated"), kinds.join(", "));
});
