/**
 * The live stream as local state, without I/O (as LiveState in sdk_python's live.py): a copy of the cart,
 * transactions and presence, and the last seq it reflects. Applying a frame returns what changed; an event older
 * than the last seq is a duplicate and dropped, one beyond the next seq is a gap (GapDetected).
 */
import { EventKind } from "./protocol.js";
/** How the connection stands. */
export const ConnectionState = {
    /** Opening the socket, or waiting for the replay to finish. */
    CONNECTING: "connecting",
    /** Caught up: every change reaches the local copy as it happens. */
    LIVE: "live",
    /** Disconnected; reconnecting after a backoff delay. */
    OFFLINE: "offline",
    /** A gap was found in the seqs: reconnecting from the last seq held. */
    RESYNCING: "resyncing",
    /** Closed by `close()`, or stopped for good (see `ready()`'s StreamError). */
    CLOSED: "closed",
};
/** An event arrived with a seq beyond the next one: reconnect from the last seq held. */
export class GapDetected extends Error {
    name = "GapDetected";
}
/** The local copy of one customer's state, kept by applying stream frames in order. */
export class LiveState {
    /** The seq of the last event applied; the next hello resumes after it. */
    lastSeq = 0;
    /** The log the seqs belong to (`welcome.epoch`); another epoch means the server sends a snapshot. */
    epoch = null;
    cart = null;
    presence = [];
    /** Each transaction's latest event data merged together, by transaction id. */
    transactions = {};
    /** Set when the customer was merged into another: the next connection starts over. */
    mergedInto = null;
    apply(frame) {
        switch (frame.type) {
            case "welcome":
                this.epoch = frame.epoch;
                return [];
            case "snapshot":
                this.lastSeq = frame.head;
                this.epoch = frame.epoch;
                this.cart = frame.cart;
                return [{ kind: "snapshot" }];
            case "presence":
                this.presence = frame.sessions;
                return [{ kind: "presence" }];
            case "event":
                return this.applyEvent(frame);
            case "refreshed":
            case "pong":
                return [];
        }
    }
    /** Forget everything held: a new copy follows (also when the customer was merged into another log). */
    startOver() {
        this.lastSeq = 0;
        this.epoch = null;
        this.cart = null;
        this.presence = [];
        this.transactions = {};
        this.mergedInto = null;
    }
    applyEvent(event) {
        if (event.seq <= this.lastSeq)
            return []; // already held: a duplicate after a reconnect
        if (event.seq > this.lastSeq + 1)
            throw new GapDetected(`got seq ${event.seq} holding ${this.lastSeq}`);
        this.lastSeq = event.seq;
        const data = event.data;
        if (event.kind === EventKind.CART_UPDATED && data["cart"] !== undefined) {
            this.cart = data["cart"];
        }
        else if (event.kind.startsWith("transaction.") && typeof data["transaction_id"] === "string") {
            const id = data["transaction_id"];
            this.transactions = { ...this.transactions, [id]: { ...this.transactions[id], ...data } };
        }
        else if (event.kind === EventKind.CUSTOMER_MERGED && typeof data["into"] === "string") {
            this.mergedInto = data["into"];
        }
        return [{ kind: event.kind, event }];
    }
}
