/**
 * A cart that keeps working when the network drops (as sdk_python's offline.py): writes wait in a persisted queue
 * and are sent in order.
 *
 * Each write gets its Idempotency-Key when it is made, so however often it is sent it applies once. The local view
 * is the last cart the server answered plus the pending writes applied with the server's own rules (cart-ops.ts):
 * when the server answers, its cart wins and the view is rebased on it. A write the server refuses is dropped from
 * the queue and reported (`rejected`, the "rejected" event); it is never retried forever and never blocks the
 * writes behind it (DESIGN.md §5).
 */
import * as calls from "./calls.js";
import { OpRejected, applyOps } from "./cart-ops.js";
import { Emitter } from "./emitter.js";
import { AuthError, ProblemError, RateLimitedError, ServerError, TransportError, } from "./errors.js";
import { newIdempotencyKey } from "./http.js";
import { defaultQueueStore } from "./queue-stores.js";
/** The server's defaults: the local view refuses what the server would (the server still has the last word). */
const LOCAL_LIMITS = { maxQtyPerLine: 999, maxLines: 200, maxOps: 100 };
const EMPTY = { pending: [], nextId: 1, cart: null, prices: [] };
/** `client.cart` for a device that may lose the network: every write is queued first, then sent when possible. */
export class OfflineCart {
    client;
    /** The writes the server refused, oldest first. */
    rejected = [];
    contents = EMPTY;
    store;
    loaded;
    emitter = new Emitter();
    /** Queue work runs one task at a time, in call order: writes are pushed and sent in the order they were made. */
    tail = Promise.resolve();
    constructor(client, options = {}) {
        this.client = client;
        this.store = options.store ?? defaultQueueStore();
        this.loaded = this.store.load().then((saved) => {
            if (saved !== undefined)
                this.contents = saved;
            this.emitter.emit("change", this.view());
        });
    }
    /** Resolve with the view once the persisted queue is loaded (writes made before a reload are pending again). */
    async ready() {
        await this.loaded;
        return this.view();
    }
    /** Listen for changes; returns the function that stops listening. */
    on(event, listener) {
        return this.emitter.on(event, listener);
    }
    add(sku, qty = 1) {
        return this.apply([{ op: "add_item", sku, qty }]);
    }
    setQuantity(lineId, qty) {
        return this.apply([{ op: "set_quantity", line_id: lineId, qty }]);
    }
    remove(lineId) {
        return this.apply([{ op: "remove_item", line_id: lineId }]);
    }
    clear() {
        return this.apply([{ op: "clear" }]);
    }
    /** Queue the write durably, try to send everything pending, return the local view; never throws for lost network. */
    async apply(ops) {
        await this.exclusive(() => this.push(ops));
        await this.sync();
        return this.view();
    }
    /** Send pending writes in order until done or offline; resolve with how many the server answered (or refused). */
    sync() {
        return this.exclusive(() => this.drain());
    }
    /** Take the server's cart and catalog prices as the base of the local view (when online). */
    refresh() {
        return this.exclusive(() => this.fetchBase());
    }
    /**
     * Take a cart the server sent elsewhere (the live stream's `live.cart`) as the base of the local view, when it is
     * newer than the one held: pending writes then show on top of what the customer's other devices did.
     */
    rebase(cart) {
        return this.exclusive(async () => {
            const held = this.contents.cart;
            if (held && held.cart_id === cart.cart_id && held.version >= cart.version)
                return;
            await this.update({ ...this.contents, cart });
        });
    }
    /** The last server cart with the pending writes applied by the same rules as the server. */
    view() {
        const base = this.contents.cart;
        const prices = new Map(this.contents.prices.map((item) => [item.sku, item]));
        for (const [sku, item] of this.client.prices)
            prices.set(sku, item);
        let contents = { lines: base?.lines ?? [], nextLineNo: nextLineNo(base?.lines ?? []) };
        for (const write of this.contents.pending) {
            try {
                contents = applyOps(contents, write.request.ops, prices, LOCAL_LIMITS);
            }
            catch (error) {
                if (!(error instanceof OpRejected))
                    throw error;
                // The server will refuse it too, and say why; the view skips it meanwhile.
            }
        }
        const cart = {
            cart_id: base?.cart_id ?? "",
            version: base?.version ?? 0,
            currency: base?.currency ?? prices.values().next().value?.currency ?? "",
            lines: contents.lines,
            subtotal: contents.lines.reduce((sum, line) => sum + line.line_total, 0),
            item_count: contents.lines.reduce((sum, line) => sum + line.qty, 0),
            updated_at: base?.updated_at ?? new Date().toISOString(),
        };
        return { cart, pending: [...this.contents.pending] };
    }
    exclusive(task) {
        const result = this.tail.then(() => this.loaded).then(task);
        this.tail = result.catch(() => undefined);
        return result;
    }
    async push(ops) {
        const write = {
            id: this.contents.nextId,
            idempotencyKey: newIdempotencyKey(),
            request: { ops },
            madeAt: Date.now(),
        };
        await this.update({ ...this.contents, pending: [...this.contents.pending, write], nextId: write.id + 1 });
    }
    async drain() {
        let answered = 0;
        let resumed = false;
        for (let write = this.contents.pending[0]; write !== undefined; write = this.contents.pending[0]) {
            const rest = this.contents.pending.slice(1);
            try {
                const call = calls.cartOps(write.request.ops, undefined, write.idempotencyKey);
                const cart = await this.client.run(call, { retries: 0 });
                await this.update({ ...this.contents, pending: rest, cart });
            }
            catch (error) {
                if (isUnreachable(error))
                    return answered; // keep it, and everything after it, for the next sync
                if (error instanceof AuthError) {
                    // The session expired or was revoked while offline: reopen it and send again; it is not the write's fault.
                    if (resumed)
                        throw error;
                    resumed = true;
                    if (!(await this.resumed()))
                        return answered;
                    continue;
                }
                if (!(error instanceof ProblemError))
                    throw error;
                const rejection = { write, code: error.code, detail: error.detail };
                this.rejected.push(rejection);
                this.emitter.emit("rejected", rejection);
                await this.update({ ...this.contents, pending: rest });
            }
            answered += 1;
        }
        if (answered === 0)
            await this.fetchBase();
        return answered;
    }
    /** Reopen the client's session; false when the server cannot be reached to do it. */
    async resumed() {
        try {
            await this.client.resume();
            return true;
        }
        catch (error) {
            if (isUnreachable(error))
                return false;
            throw error;
        }
    }
    async fetchBase() {
        try {
            const cart = await this.client.run(calls.getCart(), { retries: 0 });
            const page = await this.client.run(calls.searchCatalog(""), { retries: 0 });
            await this.update({ ...this.contents, cart, prices: page.items });
        }
        catch (error) {
            if (!isUnreachable(error))
                throw error;
        }
    }
    /** Persist first, then show: a write is pending only once the store holds it. */
    async update(contents) {
        await this.store.save(contents);
        this.contents = contents;
        this.emitter.emit("change", this.view());
    }
}
/** Errors that say "not now" rather than "not this write": the write stays queued. */
function isUnreachable(error) {
    return error instanceof TransportError || error instanceof ServerError || error instanceof RateLimitedError;
}
/** The number after the highest `L<n>` line id: what the server will number the next new line. */
function nextLineNo(lines) {
    const numbers = lines.map((line) => Number(line.line_id.slice(1))).filter(Number.isInteger);
    return 1 + Math.max(0, ...numbers);
}
