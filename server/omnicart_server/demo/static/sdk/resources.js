/**
 * The namespaces of a client (`client.cart`, `client.sessions`, `client.handoff`, `client.transactions`), as
 * sdk_python's _resources.py: each method only builds its Call (calls.ts) and hands it to the client to run.
 */
import * as calls from "./calls.js";
/** The customer's cart; every method answers the cart as the server holds it after the call. */
export class CartApi {
    run;
    constructor(run) {
        this.run = run;
    }
    get() {
        return this.run(calls.getCart());
    }
    /** Add `qty` of a SKU (a SKU already in the cart raises its line); the price comes from the catalog. */
    add(sku, qty = 1, options = {}) {
        return this.apply([{ op: "add_item", sku, qty }], options);
    }
    setQuantity(lineId, qty, options = {}) {
        return this.apply([{ op: "set_quantity", line_id: lineId, qty }], options);
    }
    remove(lineId, options = {}) {
        return this.apply([{ op: "remove_item", line_id: lineId }], options);
    }
    clear(options = {}) {
        return this.apply([{ op: "clear" }], options);
    }
    /** Several ops as one atomic batch: all of them apply, or none. */
    apply(ops, options = {}) {
        return this.run(calls.cartOps(ops, options.expectedVersion));
    }
    /** Agents only: override a line's price, with the reason written to the customer's log. */
    setPrice(lineId, unitPrice, reason) {
        return this.apply([{ op: "set_price", line_id: lineId, unit_price: unitPrice, reason }]);
    }
}
/** The customer's devices. */
export class SessionsApi {
    run;
    constructor(run) {
        this.run = run;
    }
    list() {
        return this.run(calls.listSessions());
    }
    /** Revoke a device: its token stops working at once. */
    revoke(sessionId) {
        return this.run(calls.revokeSession(sessionId));
    }
}
/** Moving the customer to another device by a short code or its QR. */
export class HandoffApi {
    run;
    device;
    adopt;
    constructor(run, device, adopt) {
        this.run = run;
        this.device = device;
        this.adopt = adopt;
    }
    /** A single-use code (and QR) for another device to continue as this customer. */
    create() {
        return this.run(calls.offerHandoff());
    }
    /** Make this device continue as the customer who offered `code` (its credentials go to the token store). */
    async claim(code) {
        const { channel, device } = this.device();
        await this.adopt(await this.run(calls.claimHandoff(code, channel, device)));
    }
}
/** Resumable transactions (checkout, booking, return, support_case) any of the customer's devices can drive. */
export class TransactionsApi {
    run;
    constructor(run) {
        this.run = run;
    }
    start(kind, data = {}) {
        return this.run(calls.startTransaction(kind, data));
    }
    get(transactionId) {
        return this.run(calls.getTransaction(transactionId));
    }
    list() {
        return this.run(calls.listTransactions());
    }
    /** As the driving device: update fields and/or move state; a retry carries the same Idempotency-Key. */
    step(transactionId, options = {}) {
        return this.run(calls.stepTransaction(transactionId, options.to, options.data ?? {}, options.expectedVersion));
    }
    /** Drive it from this device; the previous driver sees `transaction.taken_over` live. */
    takeOver(transactionId) {
        return this.run(calls.takeOverTransaction(transactionId));
    }
}
