// Two browsers, one customer: a handoff code (typed, or opened from the QR's link) moves the cart to another
// device, and from then on each device's changes appear on the other without a reload. Also the shop's basics:
// problems shown as the server words them, search, and the Content-Security-Policy.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import {
  addToCart,
  assertClean,
  finish,
  handOff,
  launchBrowser,
  LIMIT,
  openDevice,
  PHONE,
  screenshot,
  shownProblem,
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

test("a code typed on another device opens the same cart, then changes flow both ways live", LIMIT, async () => {
  const laptop = await openDevice(browser, server);
  const phone = await openDevice(browser, server, "/demo", PHONE);
  await addToCart(laptop.page, "JACKET-RAIN");
  await waitForCart(laptop.page, { "JACKET-RAIN": 1 });

  await handOff(laptop, phone);
  await waitForCart(phone.page, { "JACKET-RAIN": 1 });
  await waitUntil(() => laptop.page.isHidden("#handoff")); // the code is spent: the laptop stops showing it

  await addToCart(laptop.page, "SOCKS-3PK");
  await waitForCart(phone.page, { "JACKET-RAIN": 1, "SOCKS-3PK": 1 });

  await phone.page.click('#cart-lines [data-sku="JACKET-RAIN"] button[aria-label^="One more"]');
  await waitForCart(laptop.page, { "JACKET-RAIN": 2, "SOCKS-3PK": 1 });
  await phone.page.click('#cart-lines [data-sku="SOCKS-3PK"] .remove');
  await waitForCart(laptop.page, { "JACKET-RAIN": 2 });
  await waitUntil(() => laptop.page.$$eval("#presence .device", (chips) => chips.length === 2), {
    describe: () => laptop.page.textContent("#presence"),
  });
  assert.equal(await laptop.page.textContent("#subtotal"), await phone.page.textContent("#subtotal"));
  await screenshot(phone.page, "handoff-2-phone-live");
  await finish(laptop, phone);
});

test("the claim link of the QR code opens the same cart and leaves no code in the address bar", LIMIT, async () => {
  const laptop = await openDevice(browser, server);
  await addToCart(laptop.page, "BOTTLE-STEEL");
  await waitForCart(laptop.page, { "BOTTLE-STEEL": 1 });
  await laptop.page.click("#handoff-create");
  const link = await waitUntil(() => laptop.page.getAttribute("#handoff-url", "href").then((href) => href !== "/demo" && href));
  assert.match(link, /\/demo\/claim#code=[0-9A-Z]{8}$/);
  assert.match(await laptop.page.getAttribute("#handoff-qr", "src"), /^data:image\/svg\+xml/);
  await screenshot(laptop.page, "handoff-1-laptop-shows-code");

  const phone = await openDevice(browser, server, link);
  assert.equal(new URL(phone.page.url()).pathname, "/demo");
  await waitForCart(phone.page, { "BOTTLE-STEEL": 1 });
  assert.equal(new URL(phone.page.url()).hash, "");
  await screenshot(phone.page, "handoff-3-claim-link");
  await assertClean(phone);

  // Codes are single use: the same link on a third device says so and offers to type a new code.
  const tablet = await openDevice(browser, server, link);
  assert.equal(new URL(tablet.page.url()).pathname, "/demo/claim");
  assert.equal((await shownProblem(tablet.page))?.code, "handoff_code_used");
  assert.equal(await tablet.page.isVisible("#claim-code"), true);
  await screenshot(tablet.page, "handoff-4-used-link");
  await Promise.all([laptop.context.close(), phone.context.close(), tablet.context.close()]);
});

test("a wrong code shows the server's problem detail, not a stack trace", LIMIT, async () => {
  const phone = await openDevice(browser, server);
  await phone.page.fill("#claim-code", "ZZZZ-2222");
  await phone.page.click('#claim button[type="submit"]');
  const problem = await waitUntil(() => shownProblem(phone.page));
  assert.equal(problem.code, "handoff_code_unknown");
  assert.match(problem.text, /code/i);
  assert.doesNotMatch(problem.text, /at \w+ \(|\.js:\d+/, "a stack trace reached the page");
  await screenshot(phone.page, "handoff-5-wrong-code");
  await phone.context.close();
});

test("searching narrows the catalog to what the server finds", LIMIT, async () => {
  const shopper = await openDevice(browser, server);
  const shown = () => shopper.page.$$eval("#catalog .product", (items) => items.map((item) => item.dataset.sku).join());
  await shopper.page.fill('#search input[name="q"]', "jacket");
  await shopper.page.press('#search input[name="q"]', "Enter");
  await waitUntil(async () => (await shown()) === "JACKET-RAIN", { describe: shown });
  await finish(shopper);
});

test("the shop runs under its Content-Security-Policy: an injected inline script does not run", LIMIT, async () => {
  const shopper = await openDevice(browser, server);
  await shopper.page.evaluate(() => {
    const script = document.createElement("script");
    script.textContent = "window.injected = true";
    document.body.append(script);
  });
  assert.equal(await shopper.page.evaluate(() => window.injected), undefined);
  assert.match(shopper.errors.join(), /CSP: .*script-src/);
  await shopper.context.close();
});
