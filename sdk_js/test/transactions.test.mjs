import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ConflictError } from "../dist/index.js";
import { nextChange, openDevice } from "./devices.mjs";
import { startServer } from "./server.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(() => server.dispose());

test("a transaction started on one device is taken over on another; the first sees it live", async () => {
  const laptop = await openDevice(server, "web", "laptop");
  const phone = await openDevice(server, "mobile", "phone", { customerToken: laptop.credentials.customerToken });
  const live = laptop.live();
  try {
    await live.ready();
    const started = await laptop.transactions.start("support_case", { topic: "late delivery" });
    assert.equal(started.driver_session_id, laptop.sessionId);
    const stepped = await laptop.transactions.step(started.transaction_id, {
      to: "in_progress",
      expectedVersion: started.version,
    });
    assert.equal(stepped.state, "in_progress");

    const takenOver = nextChange(live, (change) => change.kind === "transaction.taken_over", "transaction.taken_over");
    const taken = await phone.transactions.takeOver(started.transaction_id);
    assert.equal(taken.driver_session_id, phone.sessionId);
    const change = await takenOver;
    assert.equal(change.event.data.transaction_id, started.transaction_id);
    assert.equal(change.event.data.from_session, laptop.sessionId);
    assert.equal(change.event.data.to_session, phone.sessionId);
    assert.equal(live.transactions[started.transaction_id].to_session, phone.sessionId);

    const refused = await laptop.transactions.step(started.transaction_id, { to: "resolved" }).catch((e) => e);
    assert.ok(refused instanceof ConflictError);
    assert.equal(refused.code, "transaction_lease_held");
    const resolved = await phone.transactions.step(started.transaction_id, { to: "resolved" });
    assert.equal(resolved.state, "resolved");
    assert.deepEqual(
      (await laptop.transactions.list()).transactions.map((transaction) => transaction.state),
      ["resolved"],
    );
    assert.equal((await laptop.transactions.get(started.transaction_id)).driver_session_id, phone.sessionId);
  } finally {
    live.close();
  }
});

test("a step with a stale expectedVersion is a ConflictError", async () => {
  const laptop = await openDevice(server, "web", "laptop");
  const started = await laptop.transactions.start("booking");
  await laptop.transactions.step(started.transaction_id, { data: { service: "fitting" } });
  const error = await laptop.transactions
    .step(started.transaction_id, { data: { slot: "10:00" }, expectedVersion: started.version })
    .catch((caught) => caught);
  assert.ok(error instanceof ConflictError, `${error}`);
  assert.equal(error.code, "version_conflict");
  assert.equal(error.currentVersion, started.version + 1);
});
