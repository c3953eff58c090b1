// A device loses its network: adds still work, shown as pending; the other device keeps shopping; when the network
// is back the pending writes are sent and both devices converge on the same cart.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  addToCart,
  finish,
  handOff,
  launchBrowser,
  LIMIT,
  linesOf,
  openDevice,
  screenshot,
  startServer,
  waitForCart,
  waitUntil,
} from "./support.mjs";

let server;
let browser;

before(async () => {
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
}, LIMIT);

after(async () => {
  await browser?.close();
  await server?.stop();
}, LIMIT);

test("adds made offline are shown pending, sent when back online, and both devices converge", LIMIT, async () => {
  const laptop = await openDevice(browser, server);
  const phone = await openDevice(browser, server);
  await addToCart(laptop.page, "JACKET-RAIN");
  await waitForCart(laptop.page, { "JACKET-RAIN": 1 });
  await handOff(laptop, phone);
  await waitForCart(phone.page, { "JACKET-RAIN": 1 });
  await addToCart(laptop.page, "SOCKS-3PK");
  await waitForCart(phone.page, { "JACKET-RAIN": 1, "SOCKS-3PK": 1 });
  // The phone has caught up (its offline cart holds the version it shows) before its network goes.
  await waitUntil(() => phone.page.$eval("#cart", (cart) => cart.dataset.offlineBase === cart.dataset.version));

  await phone.context.setOffline(true);
  await waitUntil(() => phone.page.getAttribute("#connection", "data-state").then((state) => state === "offline"));
  await addToCart(phone.page, "BOTTLE-STEEL");
  await addToCart(phone.page, "BACKPACK-20L");
  await addToCart(phone.page, "BOTTLE-STEEL");
  await waitUntil(
    async () => {
      const lines = await linesOf(phone.page);
      const shown = lines.map((line) => `${line.sku}:${line.qty}${line.pending ? " pending" : ""}`);
      // What the laptop added before the network went stays in view, under the pending adds.
      return shown.join() === "BACKPACK-20L:1 pending,BOTTLE-STEEL:2 pending,JACKET-RAIN:1,SOCKS-3PK:1";
    },
    { describe: async () => JSON.stringify(await linesOf(phone.page)) },
  );
  assert.equal(await phone.page.isVisible("#pending-note"), true);
  await screenshot(phone.page, "offline-1-pending");

  // Meanwhile the laptop, still online, changes the cart too.
  await addToCart(laptop.page, "SUNGLASSES-POL");
  await laptop.page.click('#cart-lines [data-sku="SOCKS-3PK"] button[aria-label^="One more"]');
  await waitForCart(laptop.page, { "JACKET-RAIN": 1, "SOCKS-3PK": 2, "SUNGLASSES-POL": 1 });

  await phone.context.setOffline(false);
  const converged = { "JACKET-RAIN": 1, "SOCKS-3PK": 2, "SUNGLASSES-POL": 1, "BOTTLE-STEEL": 2, "BACKPACK-20L": 1 };
  await waitForCart(phone.page, converged, { timeout: 30_000 });
  await waitForCart(laptop.page, converged);
  await waitUntil(() => phone.page.getAttribute("#connection", "data-state").then((state) => state === "live"));
  assert.equal(await phone.page.isVisible("#pending-note"), false);
  assert.equal(await phone.page.getAttribute("#cart", "data-version"), await laptop.page.getAttribute("#cart", "data-version"));
  await screenshot(phone.page, "offline-2-phone-converged");
  await screenshot(laptop.page, "offline-3-laptop-converged");
  await finish(phone, laptop);
});

test("an add made offline is sent once back online, exactly once, and stays after a reload", LIMIT, async () => {
  const till = await openDevice(browser, server);
  await till.context.setOffline(true);
  await addToCart(till.page, "GIFTCARD-50");
  await waitUntil(async () => (await linesOf(till.page)).some((line) => line.sku === "GIFTCARD-50" && line.pending));
  await till.context.setOffline(false);
  await waitForCart(till.page, { "GIFTCARD-50": 1 }, { timeout: 30_000 });
  await till.page.reload();
  await till.page.waitForSelector('body[data-ready="true"]');
  await waitForCart(till.page, { "GIFTCARD-50": 1 });
  await finish(till);
});
