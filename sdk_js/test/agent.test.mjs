import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import { AuthError, Client } from "../dist/index.js";
import { nextChange, openDevice, quantities, waitFor } from "./devices.mjs";
import { startServer } from "./server.mjs";

let server;
let apiKey;
before(async () => {
  server = await startServer();
  apiKey = await server.createApiKey("agent");
});
after(() => server.dispose());

function pickUp(pin, agentId = "agent-ana") {
  return Client.agent(server.url, { apiKey, agentId, pin, WebSocket });
}

test("an agent picks the shopper up by PIN, edits the cart and sets a price with a reason, seen live", async () => {
  const shopper = await openDevice(server, "web", "laptop");
  await shopper.cart.add("HEADPHONES-BT", 1);
  const live = shopper.live();
  try {
    await live.ready();
    const { pin } = await shopper.askForHelp();
    assert.match(pin, /^\d{6}$/);
    const agent = await pickUp(pin);
    assert.equal(agent.customerId, shopper.customerId);
    assert.equal(agent.agentId, "agent-ana");
    assert.equal(agent.credentials.customerToken, undefined);

    const added = nextChange(
      live,
      (change) => change.kind === "cart.updated",
      "the agent's add on the shopper's stream",
    );
    const cart = await agent.cart.add("SOCKS-3PK", 2);
    assert.equal((await added).event.data.agent_id, "agent-ana");
    assert.deepEqual(quantities(live.cart), { "HEADPHONES-BT": 1, "SOCKS-3PK": 2 });

    const headphones = cart.lines.find((line) => line.sku === "HEADPHONES-BT");
    await agent.cart.setPrice(headphones.line_id, 5990, "price match");
    await waitFor(
      () => live.cart.lines.find((line) => line.sku === "HEADPHONES-BT")?.price_reason === "price match",
      "the shopper's live cart to show the agent's price",
    );
    const priced = live.cart.lines.find((line) => line.sku === "HEADPHONES-BT");
    assert.equal(priced.unit_price, 5990);
    assert.equal(priced.line_total, 5990);
  } finally {
    live.close();
  }
});

test("the agent's live view shows the shopper's cart, and the shopper sees the agent present", async () => {
  const shopper = await openDevice(server, "web", "laptop");
  await shopper.cart.add("WATCH-SPORT");
  const onShopper = shopper.live();
  const agent = await pickUp((await shopper.askForHelp()).pin, "agent-bo");
  const onAgent = agent.live();
  try {
    await Promise.all([onShopper.ready(), onAgent.ready()]);
    assert.deepEqual(quantities(onAgent.cart), { "WATCH-SPORT": 1 });
    await waitFor(
      () => onShopper.presence.some((session) => session.role === "agent" && session.agent_id === "agent-bo"),
      "the agent in the shopper's presence",
    );
  } finally {
    onShopper.close();
    onAgent.close();
  }
});

test("withdrawn consent ends the agent's session", async () => {
  const shopper = await openDevice(server, "web", "laptop");
  const offer = await shopper.askForHelp();
  const agent = await pickUp(offer.pin, "agent-cy");
  await shopper.withdrawHelp(offer.consent_id);
  await assert.rejects(agent.cart.get(), (error) => error instanceof AuthError);
  await assert.rejects(agent.resume(), (error) => error instanceof AuthError);
});
