import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import { nextChange, openDevice, quantities, waitFor } from "./devices.mjs";
import { startProxy } from "./proxy.mjs";
import { startServer } from "./server.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(() => server.dispose());

test("an add on one device shows in the other's live cart without polling", async () => {
  const laptop = await openDevice(server, "web", "laptop");
  const phone = await openDevice(server, "mobile", "phone", { customerToken: laptop.credentials.customerToken });
  const live = phone.live();
  try {
    await live.ready();
    assert.equal(live.state, "live");
    const updated = nextChange(live, (change) => change.kind === "cart.updated", "cart.updated on the phone");
    const cart = await laptop.cart.add("JACKET-RAIN", 2);
    const change = await updated;
    assert.equal(change.event.channel, "web");
    assert.deepEqual(quantities(live.cart), { "JACKET-RAIN": 2 });
    assert.equal(live.cart.version, cart.version);
    assert.equal(live.lastSeq, change.event.seq);
  } finally {
    live.close();
  }
});

test("presence lists both devices while both are live", async () => {
  const laptop = await openDevice(server, "web", "laptop");
  const phone = await openDevice(server, "mobile", "phone", { customerToken: laptop.credentials.customerToken });
  const onLaptop = laptop.live();
  const onPhone = phone.live();
  try {
    await Promise.all([onLaptop.ready(), onPhone.ready()]);
    await waitFor(() => onLaptop.presence.length === 2, "the laptop to see two devices");
    assert.deepEqual(onLaptop.presence.map((session) => session.channel).sort(), ["mobile", "web"]);
  } finally {
    onLaptop.close();
    onPhone.close();
  }
});

test("the stream refreshes its token in-band, and the new token works over HTTP", async () => {
  const kiosk = await openDevice(server, "kiosk", "kiosk-7");
  const first = kiosk.credentials.sessionToken;
  const live = kiosk.live({ refreshEveryMs: 200 });
  try {
    await live.ready();
    await waitFor(() => kiosk.credentials.sessionToken !== first, "a refreshed token");
    const response = await fetch(`${server.url}/v1/cart`, {
      headers: { authorization: `Bearer ${kiosk.credentials.sessionToken}` },
    });
    assert.equal(response.status, 200);
    await kiosk.cart.add("SOCKS-3PK");
    assert.deepEqual(quantities(await kiosk.cart.get()), { "SOCKS-3PK": 1 });
  } finally {
    live.close();
  }
});

test("close() ends the stream: state closed, and ready() rejects", async () => {
  const laptop = await openDevice(server);
  const live = laptop.live();
  await live.ready();
  const states = [];
  live.on("change", (change) => change.kind === "state" && states.push(change.state));
  live.close();
  assert.deepEqual(states, ["closed"]);
  await assert.rejects(live.ready(), { name: "StreamError" });
});

test("after a server restart the stream reconnects and resumes from the last seq it holds", async () => {
  const laptop = await openDevice(server, "web", "laptop");
  const phone = await openDevice(server, "mobile", "phone", { customerToken: laptop.credentials.customerToken });
  const live = phone.live();
  const states = [];
  live.on("change", (change) => change.kind === "state" && states.push(change.state));
  try {
    await live.ready();
    await laptop.cart.add("SOCKS-3PK");
    await waitFor(() => live.cart?.item_count === 1, "the first add on the phone");

    await server.stop();
    await waitFor(() => live.state === "offline", "the phone to notice the server is gone");
    await server.start();
    await laptop.cart.add("SOCKS-3PK", 2);
    // The add may arrive in the replay, before the presence frame that makes the stream live again: wait for both.
    await waitFor(
      () => live.cart?.item_count === 3 && live.state === "live",
      "the add made after the restart, live on the phone",
    );
    assert.equal(live.lastSeq, (await phone.events()).head);
    assert.deepEqual(states.slice(0, 2), ["live", "offline"]);
    assert.equal(states.at(-1), "live");
  } finally {
    live.close();
  }
});

test("a connection whose network went silent is dropped and resumed, and nothing is missed", async () => {
  const proxy = await startProxy(server);
  const laptop = await openDevice(server, "web", "laptop");
  const phone = await openDevice(proxy, "mobile", "phone", { customerToken: laptop.credentials.customerToken });
  const live = phone.live({ probeAfterMs: 200, deadAfterMs: 300 });
  const states = [];
  live.on("change", (change) => change.kind === "state" && states.push(change.state));
  try {
    await live.ready();
    proxy.silenceOpenConnections();
    await laptop.cart.add("JACKET-RAIN", 1);
    // As after a restart, the add may arrive in the replay before the presence frame that makes the stream live.
    await waitFor(
      () => quantities(live.cart)["JACKET-RAIN"] === 1 && live.state === "live",
      "the add to reach the phone on a new connection, live again",
    );
    assert.deepEqual(states, ["live", "offline", "connecting", "live"]);
  } finally {
    live.close();
    proxy.close();
  }
});

test("a quiet but healthy connection answers its pings and stays live", async () => {
  let pongs = 0;
  class CountingWebSocket extends WebSocket {
    constructor(url) {
      super(url);
      this.addEventListener("message", (message) => JSON.parse(String(message.data)).type === "pong" && pongs++);
    }
  }
  const kiosk = await openDevice(server, "kiosk", "kiosk-9", { WebSocket: CountingWebSocket });
  const live = kiosk.live({ probeAfterMs: 50, deadAfterMs: 5_000 });
  const states = [];
  live.on("change", (change) => change.kind === "state" && states.push(change.state));
  try {
    await live.ready();
    await waitFor(() => pongs >= 5, "five pongs");
    assert.deepEqual(states, ["live"]);
  } finally {
    live.close();
  }
});

test("against a server whose welcome does not offer pongs, the stream never sends a ping", async () => {
  let pings = 0;
  class OlderServerWebSocket extends WebSocket {
    set onmessage(handler) {
      super.onmessage = (message) => {
        const frame = JSON.parse(String(message.data));
        if (frame.type === "welcome") delete frame.answers_ping; // as a server from before the field answers
        handler({ data: JSON.stringify(frame) });
      };
    }
    send(data) {
      if (JSON.parse(data).type === "ping") pings++;
      super.send(data);
    }
  }
  const kiosk = await openDevice(server, "kiosk", "kiosk-old", { WebSocket: OlderServerWebSocket });
  const first = kiosk.credentials.sessionToken;
  const live = kiosk.live({ probeAfterMs: 20, refreshEveryMs: 300 });
  try {
    await live.ready();
    await waitFor(() => kiosk.credentials.sessionToken !== first, "a refreshed token, long after a probe was due");
    assert.equal(pings, 0);
    assert.equal(live.state, "live");
  } finally {
    live.close();
  }
});

test("probe delays setTimeout cannot keep are refused", async () => {
  const kiosk = await openDevice(server, "kiosk", "kiosk-10");
  assert.throws(() => kiosk.live({ probeAfterMs: Infinity }), RangeError);
  assert.throws(() => kiosk.live({ deadAfterMs: 0 }), RangeError);
  kiosk.live({ probeAfterMs: 0 }).close(); // 0: never probe
});
