import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  AuthError,
  ConflictError,
  ForbiddenError,
  InvalidRequestError,
  NotFoundError,
  OmnicartError,
  ProblemError,
  TransportError,
} from "../dist/index.js";
import { openDevice, quantities } from "./devices.mjs";
import { freePort, startServer } from "./server.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(() => server.dispose());

test("an unknown SKU is an InvalidRequestError carrying the server's code and detail", async () => {
  const laptop = await openDevice(server);
  const error = await laptop.cart.add("NOT-IN-THE-CATALOG").catch((caught) => caught);
  assert.ok(error instanceof InvalidRequestError);
  assert.ok(error instanceof ProblemError && error instanceof OmnicartError);
  assert.equal(error.status, 422);
  assert.equal(error.code, "unknown_sku");
  assert.match(error.detail, /NOT-IN-THE-CATALOG/);
  assert.equal(error.problem.detail, error.detail);
});

test("a stale expectedVersion is a ConflictError with the cart's current version, and changes nothing", async () => {
  const laptop = await openDevice(server);
  const cart = await laptop.cart.add("SOCKS-3PK");
  const error = await laptop.cart
    .setQuantity(cart.lines[0].line_id, 5, { expectedVersion: cart.version - 1 })
    .catch((caught) => caught);
  assert.ok(error instanceof ConflictError);
  assert.equal(error.code, "version_conflict");
  assert.equal(error.currentVersion, cart.version);
  assert.deepEqual(quantities(await laptop.cart.get()), { "SOCKS-3PK": 1 });
});

test("a revoked session's calls fail with AuthError", async () => {
  const laptop = await openDevice(server);
  const phone = await openDevice(server, "mobile", "phone", { customerToken: laptop.credentials.customerToken });
  await laptop.sessions.revoke(phone.sessionId);
  const error = await phone.cart.get().catch((caught) => caught);
  assert.ok(error instanceof AuthError);
  assert.equal(error.status, 401);
  assert.equal(error.code, "session_revoked");
});

test("a shopper setting a price is a ForbiddenError", async () => {
  const laptop = await openDevice(server);
  const cart = await laptop.cart.add("JACKET-RAIN");
  const error = await laptop.cart.setPrice(cart.lines[0].line_id, 1, "friends and family").catch((caught) => caught);
  assert.ok(error instanceof ForbiddenError);
  assert.equal(error.code, "price_not_allowed");
});

test("an unknown transaction is a NotFoundError", async () => {
  const laptop = await openDevice(server);
  await assert.rejects(laptop.transactions.get("txn_nope"), (error) => error instanceof NotFoundError);
});

test("a server nobody listens on is a TransportError once the retries run out", async () => {
  const nowhere = `http://127.0.0.1:${await freePort()}`;
  const started = openDevice({ url: nowhere }, "web", "laptop", { maxRetries: 1 });
  await assert.rejects(started, (error) => error instanceof TransportError && /ECONNREFUSED/.test(error.message));
});
