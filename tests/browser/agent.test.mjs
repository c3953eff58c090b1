// The call-center journey: the shopper asks for help and reads out a PIN; the agent console picks the customer up,
// sees who is online, and its edits (quantity, an added item, a price override with its reason) appear live on the
// shopper's page.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  addToCart,
  assertClean,
  finish,
  launchBrowser,
  LIMIT,
  linesOf,
  openDevice,
  screenshot,
  shownProblem,
  startServer,
  waitForCart,
  waitUntil,
} from "./support.mjs";

let server;
let browser;
let apiKey;

before(async () => {
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
  apiKey = await server.createKey("agent");
}, LIMIT);

after(async () => {
  await browser?.close();
  await server?.stop();
}, LIMIT);

async function pickUp(agent, agentId, pin) {
  await agent.page.fill("#api-key", apiKey);
  await agent.page.fill("#agent-id", agentId);
  await agent.page.fill("#pin", pin);
  await agent.page.click('#pickup button[type="submit"]');
}

async function askForHelp(shopper) {
  await shopper.page.click("#help-ask");
  return waitUntil(() => shopper.page.textContent("#help-pin").then((pin) => /^\d{6}$/.test(pin.trim()) && pin.trim()));
}

test("the agent's quantity, added item and price override with a reason appear live on the shopper's page", LIMIT, async () => {
  const shopper = await openDevice(browser, server);
  await addToCart(shopper.page, "JACKET-RAIN");
  await waitForCart(shopper.page, { "JACKET-RAIN": 1 });
  await addToCart(shopper.page, "SOCKS-3PK");
  await waitForCart(shopper.page, { "JACKET-RAIN": 1, "SOCKS-3PK": 1 });
  const pin = await askForHelp(shopper);
  await screenshot(shopper.page, "agent-1-shopper-pin");

  const agent = await openDevice(browser, server, "/demo/agent");
  await pickUp(agent, "maria", pin);
  await waitForCart(agent.page, { "JACKET-RAIN": 1, "SOCKS-3PK": 1 });
  await waitUntil(() => agent.page.$$eval('#presence [data-role="shopper"]', (rows) => rows.length === 1), {
    describe: () => agent.page.textContent("#presence"),
  });
  await waitUntil(() => shopper.page.$$eval('#presence [data-role="agent"]', (chips) => chips.length === 1), {
    describe: () => shopper.page.textContent("#presence"),
  });

  await agent.page.click('#cart-lines [data-sku="SOCKS-3PK"] button[aria-label^="One more"]');
  await waitForCart(shopper.page, { "JACKET-RAIN": 1, "SOCKS-3PK": 2 });

  await agent.page.selectOption("#add-sku", "BOTTLE-STEEL");
  await agent.page.fill("#add-qty", "2");
  await agent.page.click('#add button[type="submit"]');
  await waitForCart(shopper.page, { "JACKET-RAIN": 1, "SOCKS-3PK": 2, "BOTTLE-STEEL": 2 });

  await agent.page.click('#cart-lines [data-sku="JACKET-RAIN"] [data-action="price"]');
  await agent.page.fill('#cart-lines [data-sku="JACKET-RAIN"] input[name="price"]', "99.00");
  await agent.page.fill('#cart-lines [data-sku="JACKET-RAIN"] input[name="reason"]', "Price match with the store");
  await agent.page.click('#cart-lines [data-sku="JACKET-RAIN"] .price-editor button[type="submit"]');
  await waitUntil(
    async () => (await linesOf(shopper.page)).find((line) => line.sku === "JACKET-RAIN")?.unitPrice === 9900,
    { describe: async () => JSON.stringify(await linesOf(shopper.page)) },
  );
  const reason = await shopper.page.textContent('#cart-lines [data-sku="JACKET-RAIN"] .reason');
  assert.match(reason, /Price match with the store/);
  assert.equal(await shopper.page.textContent("#subtotal"), await agent.page.textContent("#subtotal"));

  await screenshot(agent.page, "agent-2-console");
  await screenshot(shopper.page, "agent-3-shopper-sees-agent-price");
  await finish(shopper, agent);
});

test("the API key stays in the tab's sessionStorage and never reaches the address bar", LIMIT, async () => {
  const shopper = await openDevice(browser, server);
  const pin = await askForHelp(shopper);
  const agent = await openDevice(browser, server, "/demo/agent");
  await pickUp(agent, "li.wei", pin);
  await waitUntil(() => agent.page.$eval("#customer", (panel) => !panel.hidden));
  assert.ok(!agent.page.url().includes(apiKey), agent.page.url());
  const stored = await agent.page.evaluate(() => ({
    session: sessionStorage.getItem("omnicart.agent.apiKey"),
    local: Object.values({ ...localStorage }).join(" "),
  }));
  assert.equal(stored.session, apiKey);
  assert.ok(!stored.local.includes(apiKey), "the key was written to localStorage");

  // The same tab, reloaded, offers the key again (sessionStorage), but the PIN is spent: the server says so.
  await agent.page.reload();
  await agent.page.waitForSelector('body[data-ready="true"]');
  assert.equal(await agent.page.inputValue("#api-key"), apiKey);
  await agent.page.fill("#pin", pin);
  await agent.page.click('#pickup button[type="submit"]');
  const problem = await waitUntil(() => shownProblem(agent.page));
  assert.equal(problem.code, "not_found", JSON.stringify(problem));
  assert.match(problem.text, /ask the shopper to read the PIN/);
  await screenshot(agent.page, "agent-4-spent-pin");
  await Promise.all([shopper.context.close(), agent.context.close()]);
});

test("when the shopper stops sharing, the agent's console lets go of the cart at once", LIMIT, async () => {
  const shopper = await openDevice(browser, server);
  await addToCart(shopper.page, "HEADPHONES-BT");
  await waitForCart(shopper.page, { "HEADPHONES-BT": 1 });
  const pin = await askForHelp(shopper);
  const agent = await openDevice(browser, server, "/demo/agent");
  await pickUp(agent, "maria", pin);
  await waitForCart(agent.page, { "HEADPHONES-BT": 1 });

  await shopper.page.click("#help-withdraw");
  const problem = await waitUntil(() => shownProblem(agent.page));
  assert.equal(problem.code, "session_ended");
  assert.equal(await agent.page.isHidden("#customer"), true);
  await waitForCart(agent.page, {});
  assert.equal(await shopper.page.isHidden("#help"), true);
  await screenshot(agent.page, "agent-5-consent-withdrawn");
  await assertClean(shopper);
  await Promise.all([shopper.context.close(), agent.context.close()]);
});
