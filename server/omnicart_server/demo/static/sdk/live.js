/**
 * LiveConnection: the WebSocket loop around LiveState (as LiveConnection in sdk_python's live.py).
 *
 *     connecting ──presence──► live ──drop──► offline ──backoff──► connecting
 *         ▲                     │ gap                                   │
 *         └───── resyncing ◄────┘ (reconnect from the last seq held) ◄──┘
 *
 * Each connection first sends `hello` {token, since: lastSeq, epoch}: the token never travels in the URL. The
 * server answers welcome, a snapshot if the log cannot bring us up to date, the events after `since`, then presence:
 * from there the copy is live. On a close (omnicart.protocol CloseCode): TOKEN_REJECTED reopens the session through
 * the customer token and reconnects; CUSTOMER_MERGED starts over; BAD_FRAME stops for good (StreamError); anything
 * else backs off (full jitter, 0.5 s to 20 s, as centrifuge-js) and resumes from the last seq held.
 *
 * A browser never shows the app the WebSocket protocol's pings, and a connection whose network went away without a
 * close (a phone leaving Wi-Fi, a NAT forgetting the mapping) stays open as long as the app sends nothing. So after
 * `probeAfterMs` without a frame the stream sends `ping`; if nothing arrives within `deadAfterMs` it drops the
 * connection and resumes on a new one like after any drop.
 */
import { backoff, nextDelay, sleep } from "./backoff.js";
import { Emitter } from "./emitter.js";
import { AuthError, StreamError, TransportError } from "./errors.js";
import { ConnectionState, GapDetected, LiveState } from "./live-state.js";
import { CloseCode, } from "./protocol.js";
const OPEN = 1;
const PING = { type: "ping" };
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 20_000;
/** A local copy of the customer's cart, transactions and presence, kept live until `close()`. */
export class LiveConnection {
    owner;
    currentState = ConnectionState.CONNECTING;
    local = new LiveState();
    emitter = new Emitter();
    waiters = new Set();
    refreshEveryMs;
    probeAfterMs;
    deadAfterMs;
    socket = null;
    /** Ends the current connection attempt and its timers at once (see `drop`). */
    endAttempt = null;
    wake = null;
    stopped = false;
    restartRequested = false;
    wentLive = false;
    failure = null;
    followedCustomer;
    onOnline = () => this.wake?.();
    constructor(owner, options = {}) {
        this.owner = owner;
        this.refreshEveryMs = options.refreshEveryMs ?? 600_000;
        this.probeAfterMs = positiveDelay(options.probeAfterMs ?? 25_000, "probeAfterMs", true);
        this.deadAfterMs = positiveDelay(options.deadAfterMs ?? 10_000, "deadAfterMs", false);
        if (typeof globalThis.addEventListener === "function")
            globalThis.addEventListener("online", this.onOnline);
        this.run().catch((error) => {
            // Not a drop the loop knows how to recover from (a malformed base URL, say): stop and say why.
            this.stop(new StreamError(1006, `the live stream failed: ${String(error)}`, { cause: error }));
        });
    }
    /** How the connection stands. */
    get state() {
        return this.currentState;
    }
    /** The customer's cart as of `lastSeq`, once the stream sent it (an event or a snapshot). */
    get cart() {
        return this.local.cart;
    }
    /** The customer's devices connected now. */
    get presence() {
        return this.local.presence;
    }
    /** Each transaction's latest event data merged together, by transaction id. */
    get transactions() {
        return this.local.transactions;
    }
    /** The seq of the last event applied. */
    get lastSeq() {
        return this.local.lastSeq;
    }
    /** Listen for changes; returns the function that stops listening. */
    on(event, listener) {
        return this.emitter.on(event, listener);
    }
    /**
     * Resolve once connected and caught up (the first presence frame after the replay); reject with the StreamError
     * that stopped the stream for good, or a TransportError after `timeoutMs` (default 10000).
     */
    ready(timeoutMs = 10_000) {
        if (this.failure !== null)
            return Promise.reject(this.failure);
        if (this.state === ConnectionState.LIVE)
            return Promise.resolve();
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                this.waiters.delete(waiter);
                reject(new TransportError(`the live stream was not caught up within ${timeoutMs} ms (state: ${this.state})`));
            }, timeoutMs);
            const waiter = {
                resolve: () => {
                    clearTimeout(timer);
                    resolve();
                },
                reject: (error) => {
                    clearTimeout(timer);
                    reject(error);
                },
            };
            this.waiters.add(waiter);
        });
    }
    /** Drop the socket and connect again now, starting over if the client now follows another customer. */
    reconnect() {
        this.restartRequested = true;
        this.wake?.();
        this.drop("reconnecting");
    }
    /** Stop for good: the socket is closed and no reconnect follows. */
    close() {
        if (this.stopped)
            return;
        this.stopped = true;
        this.wake?.();
        this.drop("closed by the app");
        this.stop(new StreamError(1000, "closed by the app"));
    }
    async run() {
        let delays = backoff(FIRST_DELAY_MS, MAX_DELAY_MS);
        let resumedSinceLive = false;
        while (!this.stopped) {
            this.wentLive = false;
            if (this.currentState === ConnectionState.LIVE)
                this.setState(ConnectionState.CONNECTING); // not caught up now
            const ending = await this.connectOnce();
            if (this.stopped)
                return;
            if (this.wentLive) {
                delays = backoff(FIRST_DELAY_MS, MAX_DELAY_MS); // a connection that worked starts the backoff afresh
                resumedSinceLive = false;
            }
            if (ending.kind === "restart")
                continue;
            if (ending.kind === "gap") {
                this.setState(ConnectionState.RESYNCING);
                await this.pause(nextDelay(delays));
                continue;
            }
            if (ending.code === CloseCode.CUSTOMER_MERGED) {
                this.local.startOver(); // the session now belongs to another customer's log
                continue;
            }
            if (ending.code === CloseCode.BAD_FRAME)
                return this.stop(new StreamError(ending.code, ending.reason));
            if (ending.code === CloseCode.TOKEN_REJECTED) {
                // An expired or revoked token: open the session again through the customer token, once per outage.
                if (resumedSinceLive)
                    return this.stop(new StreamError(ending.code, ending.reason));
                try {
                    await this.owner.resume();
                    resumedSinceLive = true;
                    continue;
                }
                catch (error) {
                    if (error instanceof AuthError)
                        return this.stop(new StreamError(ending.code, ending.reason, { cause: error }));
                    // The server cannot be reached to resume: back off like any drop.
                }
            }
            this.setState(ConnectionState.OFFLINE);
            await this.pause(nextDelay(delays));
            if (!this.stopped)
                this.setState(ConnectionState.CONNECTING);
        }
    }
    /** One socket, from hello to its close. */
    connectOnce() {
        const customer = this.owner.customerId();
        if (this.followedCustomer !== undefined && customer !== this.followedCustomer)
            this.local.startOver();
        this.followedCustomer = customer;
        this.restartRequested = false;
        return new Promise((resolve) => {
            const socket = new this.owner.WebSocket(`${this.owner.baseUrl.replace(/^http/, "ws")}/v1/stream`);
            this.socket = socket;
            let refresher;
            let silence;
            let ended = false;
            const end = (ending) => {
                if (ended)
                    return;
                ended = true;
                clearInterval(refresher);
                clearTimeout(silence);
                this.socket = null;
                this.endAttempt = null;
                resolve(this.restartRequested ? { kind: "restart" } : ending);
            };
            this.endAttempt = end;
            let probing = false; // once the welcome says the server answers pings (older servers close on one)
            const heard = () => {
                clearTimeout(silence);
                if (!probing)
                    return;
                silence = setTimeout(() => {
                    if (socket.readyState === OPEN)
                        socket.send(JSON.stringify(PING));
                    silence = setTimeout(() => {
                        this.drop(`nothing from the server for ${this.probeAfterMs + this.deadAfterMs} ms, even asked`, 1006);
                    }, this.deadAfterMs);
                }, this.probeAfterMs);
            };
            socket.onopen = () => {
                const hello = {
                    type: "hello",
                    token: this.owner.token() ?? "",
                    since: this.lastSeq,
                    epoch: this.local.epoch,
                };
                socket.send(JSON.stringify(hello));
                refresher = setInterval(() => this.askForToken(socket), this.refreshEveryMs);
            };
            socket.onmessage = (message) => {
                if (ended)
                    return;
                try {
                    const frame = JSON.parse(textOf(message.data));
                    if (frame.type === "welcome")
                        probing = frame.answers_ping === true && this.probeAfterMs > 0;
                    heard();
                    this.onFrame(frame);
                }
                catch (error) {
                    // A gap resyncs from the last seq; a frame that is not JSON is a broken connection: back off and resume.
                    end(error instanceof GapDetected ? { kind: "gap" } : { kind: "closed", code: 1007, reason: String(error) });
                    socket.close(1000, "resuming from the last seq");
                }
            };
            socket.onclose = (event) => end({ kind: "closed", code: event.code, reason: event.reason });
            socket.onerror = () => { }; // a close event follows with the code; `ws` would throw on an unheard error
        });
    }
    onFrame(frame) {
        if (frame.type === "refreshed") {
            this.owner.adoptToken(frame.token).catch((error) => {
                console.error("omnicart: the refreshed token could not be saved", error);
            });
            return;
        }
        for (const change of this.local.apply(frame))
            this.emitter.emit("change", change);
        if (frame.type === "presence" && this.state !== ConnectionState.LIVE) {
            // The server sends presence right after the replay: from here on the copy is current.
            this.wentLive = true;
            this.setState(ConnectionState.LIVE);
            for (const waiter of this.waiters)
                waiter.resolve();
            this.waiters.clear();
        }
    }
    /**
     * Close the socket and end its attempt now, as closed with `code`: on a dead network the close event may come much
     * later, or never.
     */
    drop(reason, code = 1000) {
        this.socket?.close(1000, reason);
        this.endAttempt?.({ kind: "closed", code, reason });
    }
    askForToken(socket) {
        if (socket.readyState !== OPEN)
            return;
        const refresh = { type: "refresh" };
        socket.send(JSON.stringify(refresh));
    }
    async pause(ms) {
        const { done, wake } = sleep(ms);
        this.wake = wake;
        await done;
        this.wake = null;
    }
    setState(state) {
        if (state === this.currentState)
            return;
        this.currentState = state;
        this.emitter.emit("change", { kind: "state", state });
    }
    /** Stop for good: waiters learn why, the client forgets this connection. */
    stop(reason) {
        this.stopped = true;
        this.failure = reason;
        if (typeof globalThis.removeEventListener === "function")
            globalThis.removeEventListener("online", this.onOnline);
        this.owner.detach(this);
        for (const waiter of this.waiters)
            waiter.reject(reason);
        this.waiters.clear();
        this.setState(ConnectionState.CLOSED);
    }
}
/** A delay setTimeout can keep (it turns anything over 2^31 - 1 ms, Infinity included, into 1 ms). */
function positiveDelay(ms, name, zeroAllowed) {
    if (Number.isFinite(ms) && ms <= 2_147_483_647 && (ms > 0 || (zeroAllowed && ms === 0)))
        return ms;
    throw new RangeError(`${name} must be ${zeroAllowed ? "0 or " : ""}a number of ms from 1 to 2147483647, not ${ms}`);
}
function textOf(data) {
    return typeof data === "string" ? data : new TextDecoder().decode(data);
}
