// Checkout is a server transaction: started on the laptop, seen live on the phone as "being completed on another
// device", taken over there and driven to payment; the payment backend's confirmation completes it on both.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  addToCart,
  finish,
  handOff,
  launchBrowser,
  LIMIT,
  openDevice,
  screenshot,
  shownProblem,
  startServer,
  waitForCart,
  waitUntil,
} from "./support.mjs";

let server;
let browser;
let paymentsKey;

before(async () => {
  [server, browser] = await Promise.all([startServer(), launchBrowser()]);
  paymentsKey = await server.createKey("payments");
}, LIMIT);

after(async () => {
  await browser?.close();
  await server?.stop();
}, LIMIT);

/** The checkout panel as a page shows it: {state, driver: "here" | "elsewhere"}, or null when hidden. */
function checkoutOf(page) {
  return page.$eval("#checkout", (panel) =>
    panel.hidden ? null : { state: panel.dataset.state, driver: panel.dataset.driver, id: panel.dataset.transactionId },
  );
}

async function waitForCheckout(page, state, driver) {
  return waitUntil(
    async () => {
      const shown = await checkoutOf(page);
      return shown?.state === state && shown.driver === driver && shown;
    },
    { describe: async () => `wanted ${state}/${driver}, the page shows ${JSON.stringify(await checkoutOf(page))}` },
  );
}

test("a checkout started on one device is taken over on the other and completed by the payment", LIMIT, async () => {
  const laptop = await openDevice(browser, server);
  const phone = await openDevice(browser, server);
  await addToCart(laptop.page, "SNEAKER-RUN-42");
  await waitForCart(laptop.page, { "SNEAKER-RUN-42": 1 });
  await handOff(laptop, phone);
  await waitForCart(phone.page, { "SNEAKER-RUN-42": 1 });

  await laptop.page.click("#checkout-start");
  await waitForCheckout(laptop.page, "open", "here");
  await laptop.page.fill("#checkout-contact", "ana@example.com");
  const started = await waitForCheckout(phone.page, "open", "elsewhere");
  assert.equal(await phone.page.isDisabled('#checkout [data-move="cancelled"]'), true);
  await screenshot(phone.page, "checkout-1-phone-sees-it-elsewhere");

  await phone.page.click("#checkout-takeover");
  await waitForCheckout(phone.page, "open", "here");
  await waitForCheckout(laptop.page, "open", "elsewhere");

  await phone.page.fill("#checkout-contact", "ana@example.com");
  await phone.page.selectOption("#checkout-fulfilment", "pickup");
  await phone.page.click('#checkout [data-move="details"]');
  await waitForCheckout(phone.page, "details", "here");
  await phone.page.click('#checkout [data-move="payment_pending"]');
  await waitForCheckout(phone.page, "payment_pending", "here");
  await waitForCheckout(laptop.page, "payment_pending", "elsewhere");
  await screenshot(laptop.page, "checkout-2-laptop-after-takeover");

  const paid = await fetch(`${server.url}/v1/transactions/${started.id}/payment`, {
    method: "POST",
    headers: { Authorization: `Bearer ${paymentsKey}`, "Content-Type": "application/json" },
    body: JSON.stringify({ status: "succeeded", reference: "psp_browser_1" }),
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(paid.status, 200, await paid.text());
  for (const device of [phone, laptop]) {
    await waitUntil(() => device.page.$eval("#checkout", (panel) => panel.dataset.state === "completed"));
  }
  assert.match(await phone.page.textContent("#checkout .success"), /Order ord_\w+ is placed/);
  await waitForCart(laptop.page, {});
  await screenshot(phone.page, "checkout-3-completed");
  await finish(laptop, phone);
});

test("an add while the payment is pending is refused: the page says why and drops it", LIMIT, async () => {
  const shopper = await openDevice(browser, server);
  await addToCart(shopper.page, "JACKET-RAIN");
  await waitForCart(shopper.page, { "JACKET-RAIN": 1 });
  await shopper.page.click("#checkout-start");
  await waitForCheckout(shopper.page, "open", "here");
  await shopper.page.fill("#checkout-contact", "li@example.com");
  await shopper.page.click('#checkout [data-move="details"]');
  await waitForCheckout(shopper.page, "details", "here");
  await shopper.page.click('#checkout [data-move="payment_pending"]');
  await waitForCheckout(shopper.page, "payment_pending", "here");

  await addToCart(shopper.page, "SOCKS-3PK");
  const problem = await waitUntil(() => shownProblem(shopper.page));
  assert.equal(problem.code, "cart_locked");
  assert.match(problem.text, /checkout is completing/);
  await waitForCart(shopper.page, { "JACKET-RAIN": 1 });
  await screenshot(shopper.page, "checkout-4-cart-locked");

  await shopper.page.click('#checkout [data-move="cancelled"]');
  await waitUntil(() => shopper.page.isHidden("#checkout"));
  await addToCart(shopper.page, "SOCKS-3PK");
  await waitForCart(shopper.page, { "JACKET-RAIN": 1, "SOCKS-3PK": 1 });
  await finish(shopper);
});
