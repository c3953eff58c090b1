/** Client: a device's connection to Omnicart, its credentials and the calls it can make (as sdk_python's client.py). */
import * as calls from "./calls.js";
import { AuthError, OmnicartError } from "./errors.js";
import { HttpTransport } from "./http.js";
import { LiveConnection } from "./live.js";
import { CartApi, HandoffApi, SessionsApi, TransactionsApi } from "./resources.js";
import { MemoryStore } from "./token-stores.js";
/** A device's connection to Omnicart: `await Client.start(url, {channel, device})`, then `client.cart.add(sku)`. */
export class Client {
    /** The customer's cart. */
    cart;
    /** The customer's devices. */
    sessions;
    /** Continue on another device with a code or QR. */
    handoff;
    /** Checkout, booking, return and support-case journeys. */
    transactions;
    baseUrl;
    channel;
    device;
    /** Set on an agent app's client: its session cannot be reopened alone, only picked up again by PIN. */
    agentId;
    current;
    store;
    http;
    WebSocket;
    liveConnections = new Set();
    seenPrices = new Map();
    constructor(baseUrl, identity, options, credentials) {
        this.baseUrl = baseUrl.replace(/\/+$/, "");
        this.channel = identity.channel;
        this.device = identity.device;
        this.agentId = identity.agentId;
        this.store = options.store ?? new MemoryStore();
        this.current = { ...credentials };
        this.http = new HttpTransport(this.baseUrl, {
            // Called through a wrapper: a browser's fetch refuses to run with another `this` ("Illegal invocation").
            fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
            timeoutMs: options.timeoutMs ?? 10_000,
            maxRetries: options.maxRetries ?? 4,
        });
        this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
        const run = (call) => this.run(call);
        this.cart = new CartApi(run);
        this.sessions = new SessionsApi(run);
        this.handoff = new HandoffApi(run, () => this, (created) => this.adopt(created));
        this.transactions = new TransactionsApi(run);
    }
    /** Resume the stored session, or open one (for `customerToken`'s customer, else the stored or a new one). */
    static async start(baseUrl, options) {
        const store = options.store ?? new MemoryStore();
        const client = new Client(baseUrl, options, { ...options, store }, (await store.load()) ?? {});
        await client.resume(options.customerToken);
        return client;
    }
    /**
     * A device that starts by claiming a handoff code (a scanned QR, a typed code): it becomes the offering
     * customer's device without opening a session of its own first, so no stray anonymous customer is left behind.
     */
    static async claim(baseUrl, code, options) {
        const store = options.store ?? new MemoryStore();
        const client = new Client(baseUrl, options, { ...options, store }, {});
        await client.handoff.claim(code);
        return client;
    }
    /** A contact-center agent on the customer who read out `pin` (POST /v1/agent/sessions with the API key). */
    static async agent(baseUrl, options) {
        const device = options.device ?? "agent-console";
        const client = new Client(baseUrl, { channel: "agent", device, agentId: options.agentId }, options, {});
        await client.adoptAgent(await client.run(calls.agentPickup(options.apiKey, options.agentId, device, options.pin)));
        return client;
    }
    /** A copy of what this device holds (and its token store keeps). */
    get credentials() {
        return { ...this.current };
    }
    /** The customer this device acts for. */
    get customerId() {
        return this.current.customerId ?? "";
    }
    /** This device's session. */
    get sessionId() {
        return this.current.sessionId ?? "";
    }
    /** Catalog items this client has fetched, by SKU: the prices an OfflineCart shows pending adds with. */
    get prices() {
        return this.seenPrices;
    }
    /**
     * Check the stored session (GET /v1/cart); if it is gone, open one for `customerToken`'s customer, else the
     * stored customer's, else a new customer. An agent's session cannot be reopened: AuthError once it ended.
     */
    async resume(customerToken) {
        if (this.agentId !== undefined) {
            await this.run(calls.getCart());
            return;
        }
        if (customerToken === undefined && this.current.sessionToken) {
            try {
                await this.run(calls.getCart());
                return;
            }
            catch (error) {
                if (!(error instanceof AuthError))
                    throw error;
            }
        }
        const token = customerToken ?? this.current.customerToken;
        try {
            await this.adopt(await this.run(calls.openSession(this.channel, this.device, token)));
        }
        catch (error) {
            if (!(error instanceof AuthError) || customerToken !== undefined)
                throw error;
            await this.adopt(await this.run(calls.openSession(this.channel, this.device))); // the stored customer is gone
        }
    }
    /** Send a call with this device's token; retry network errors, 5xx and 429 (writes keep their Idempotency-Key). */
    run(call, options = {}) {
        return this.http.run(call, () => this.current.sessionToken, options.retries);
    }
    /** The customer's events after seq `since`, in order. */
    events(since = 0, limit = 100) {
        return this.run(calls.listEvents(since, limit));
    }
    /** The journey across channels, in order. */
    timeline() {
        return this.run(calls.timeline());
    }
    /** Who the customer is across channels: identities, channels used, history. */
    customer() {
        return this.run(calls.customer());
    }
    /** Catalog items matching `query` (all for ""). */
    async catalog(query = "") {
        const page = await this.run(calls.searchCatalog(query));
        for (const item of page.items)
            this.seenPrices.set(item.sku, item);
        return page;
    }
    async catalogItem(sku) {
        const item = await this.run(calls.catalogItem(sku));
        this.seenPrices.set(item.sku, item);
        return item;
    }
    /** A PIN to read out to the contact center: consent for an agent to work on this cart. */
    askForHelp() {
        return this.run(calls.offerAssist());
    }
    /** End the consent: every agent session opened with its PIN stops at once. */
    withdrawHelp(consentId) {
        return this.run(calls.revokeAssist(consentId));
    }
    /** A local copy of the customer's cart, transactions and presence, kept live; it starts connecting at once. */
    live(options = {}) {
        const WebSocket = this.WebSocket;
        if (WebSocket === undefined) {
            throw new OmnicartError("No WebSocket here: pass the WebSocket option (on Node 20, the `ws` package's).");
        }
        const owner = {
            baseUrl: this.baseUrl,
            WebSocket,
            token: () => this.current.sessionToken,
            customerId: () => this.current.customerId,
            adoptToken: (token) => this.save({ ...this.current, sessionToken: token }),
            resume: () => this.resume(),
            detach: (connection) => this.liveConnections.delete(connection),
        };
        const connection = new LiveConnection(owner, options);
        this.liveConnections.add(connection);
        return connection;
    }
    /** Take a new session as this device's; live connections follow it (and start over for another customer). */
    async adopt(created) {
        await this.save({
            customerId: created.customer_id,
            customerToken: created.customer_token,
            sessionId: created.session_id,
            sessionToken: created.session_token,
        });
        for (const connection of this.liveConnections)
            connection.reconnect();
    }
    async adoptAgent(session) {
        await this.save({
            customerId: session.customer_id,
            sessionId: session.session_id,
            sessionToken: session.session_token,
        });
    }
    async save(credentials) {
        this.current = credentials;
        await this.store.save({ ...credentials });
    }
}
