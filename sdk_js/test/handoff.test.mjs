import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import { Client, ConflictError, LocalStorageStore } from "../dist/index.js";
import { MemoryStorage, nextChange, openDevice, quantities } from "./devices.mjs";
import { startServer } from "./server.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(() => server.dispose());

test("a code created on one device and claimed on another gives the same customer and cart", async () => {
  const laptop = await openDevice(server, "web", "laptop");
  await laptop.cart.add("JEANS-SLIM-32", 1);
  const offer = await laptop.handoff.create();
  assert.match(offer.code, /^[2-9A-Z]{4}-[2-9A-Z]{4}$/);
  assert.ok(offer.url.includes("#") && offer.qr_svg.startsWith("<"));

  const storage = new MemoryStorage();
  const phone = await openDevice(server, "mobile", "phone", { store: new LocalStorageStore("phone", storage) });
  assert.notEqual(phone.customerId, laptop.customerId);
  await phone.handoff.claim(offer.code);
  assert.equal(phone.customerId, laptop.customerId);
  assert.equal(JSON.parse(storage.getItem("phone")).sessionId, phone.sessionId);
  assert.deepEqual(quantities(await phone.cart.get()), { "JEANS-SLIM-32": 1 });
});

test("a live view open during the claim follows the new customer", async () => {
  const laptop = await openDevice(server, "web", "laptop");
  await laptop.cart.add("BACKPACK-20L", 2);
  const phone = await openDevice(server, "mobile", "phone");
  const live = phone.live();
  try {
    await live.ready();
    const switched = nextChange(
      live,
      (_change, connection) => connection.cart?.lines.some((line) => line.sku === "BACKPACK-20L"),
      "the phone's live cart to show the laptop's customer",
    );
    await phone.handoff.claim((await laptop.handoff.create()).code);
    await switched;
    assert.deepEqual(quantities(live.cart), { "BACKPACK-20L": 2 });
  } finally {
    live.close();
  }
});

test("a code claimed once cannot be claimed again", async () => {
  const laptop = await openDevice(server, "web", "laptop");
  const { code } = await laptop.handoff.create();
  await (await openDevice(server, "mobile", "phone")).handoff.claim(code);
  const tablet = await openDevice(server, "mobile", "tablet");
  const error = await tablet.handoff.claim(code).catch((caught) => caught);
  assert.ok(error instanceof ConflictError, `${error}`);
  assert.equal(error.code, "handoff_code_used");
});

test("Client.claim starts a device on the offering customer without a session of its own first", async () => {
  const laptop = await openDevice(server, "web", "laptop");
  await laptop.cart.add("SOCKS-3PK", 2);
  const saved = [];
  const store = { load: () => null, save: (credentials) => void saved.push(credentials) };
  const phone = await Client.claim(server.url, (await laptop.handoff.create()).code, {
    channel: "mobile",
    device: "phone",
    store,
    WebSocket,
  });
  assert.equal(phone.customerId, laptop.customerId);
  assert.deepEqual(
    saved.map((credentials) => credentials.customerId),
    [laptop.customerId],
    "the only session it kept is the claimed one",
  );
  assert.deepEqual(quantities(await phone.cart.get()), { "SOCKS-3PK": 2 });
  const sessions = await laptop.sessions.list();
  assert.ok(sessions.some((session) => session.session_id === phone.sessionId));
});
