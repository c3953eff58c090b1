/** Client: a device's connection to Omnicart, its credentials and the calls it can make (as sdk_python's client.py). */
import * as calls from "./calls.js";
import { AuthError, OmnicartError } from "./errors.js";
import { type Call, type Fetch, HttpTransport } from "./http.js";
import { LiveConnection, type LiveOptions, type StreamOwner, type WebSocketConstructor } from "./live.js";
import type {
  AgentSession,
  AssistOffer,
  CatalogItem,
  CatalogPage,
  CustomerProfile,
  EventPage,
  SessionCreated,
  Timeline,
} from "./protocol.js";
import { CartApi, HandoffApi, SessionsApi, TransactionsApi } from "./resources.js";
import { type Credentials, MemoryStore, type TokenStore } from "./token-stores.js";

/** How a client reaches the server, shared by shoppers' devices and agent apps. */
export interface ConnectionOptions {
  /** Where the credentials live. Default: a MemoryStore (forgotten on reload). */
  store?: TokenStore;
  /** The fetch to call. Default: globalThis.fetch. */
  fetch?: Fetch;
  /** The WebSocket constructor for `live()`. Default: globalThis.WebSocket (on Node 20, pass the `ws` package's). */
  WebSocket?: WebSocketConstructor;
  /** Retries after a network error, 5xx or 429 (with full-jitter backoff). Default: 4. */
  maxRetries?: number;
  /** How long one attempt may wait for its answer, in ms. Default: 10000. */
  timeoutMs?: number;
}

export interface ClientOptions extends ConnectionOptions {
  /** Where the device is: web, mobile, kiosk, pos, call_center ... (lowercase). */
  channel: string;
  /** A label a person recognises, e.g. "laptop" or "kiosk-7". */
  device: string;
  /** Continue as this customer (a customer token handed over from another device) instead of the stored one. */
  customerToken?: string;
}

export interface AgentOptions extends ConnectionOptions {
  /** An API key with scope `agent`. */
  apiKey: string;
  /** Who acts: written to the customer's log with every write. */
  agentId: string;
  /** The six digits the shopper read out (`askForHelp()` on their device). */
  pin: string;
  /** Default: "agent-console". */
  device?: string;
}

interface Identity {
  channel: string;
  device: string;
  agentId?: string;
}

/** A device's connection to Omnicart: `await Client.start(url, {channel, device})`, then `client.cart.add(sku)`. */
export class Client {
  /** The customer's cart. */
  readonly cart: CartApi;
  /** The customer's devices. */
  readonly sessions: SessionsApi;
  /** Continue on another device with a code or QR. */
  readonly handoff: HandoffApi;
  /** Checkout, booking, return and support-case journeys. */
  readonly transactions: TransactionsApi;
  readonly baseUrl: string;
  readonly channel: string;
  readonly device: string;
  /** Set on an agent app's client: its session cannot be reopened alone, only picked up again by PIN. */
  readonly agentId: string | undefined;
  private current: Credentials;
  private readonly store: TokenStore;
  private readonly http: HttpTransport;
  private readonly WebSocket: WebSocketConstructor | undefined;
  private readonly liveConnections = new Set<LiveConnection>();
  private readonly seenPrices = new Map<string, CatalogItem>();

  private constructor(baseUrl: string, identity: Identity, options: ConnectionOptions, credentials: Credentials) {
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
    this.WebSocket = options.WebSocket ?? (globalThis.WebSocket as WebSocketConstructor | undefined);
    const run = <T>(call: Call<T>): Promise<T> => this.run(call);
    this.cart = new CartApi(run);
    this.sessions = new SessionsApi(run);
    this.handoff = new HandoffApi(
      run,
      () => this,
      (created) => this.adopt(created),
    );
    this.transactions = new TransactionsApi(run);
  }

  /** Resume the stored session, or open one (for `customerToken`'s customer, else the stored or a new one). */
  static async start(baseUrl: string, options: ClientOptions): Promise<Client> {
    const store = options.store ?? new MemoryStore();
    const client = new Client(baseUrl, options, { ...options, store }, (await store.load()) ?? {});
    await client.resume(options.customerToken);
    return client;
  }

  /**
   * A device that starts by claiming a handoff code (a scanned QR, a typed code): it becomes the offering
   * customer's device without opening a session of its own first, so no stray anonymous customer is left behind.
   */
  static async claim(baseUrl: string, code: string, options: ClientOptions): Promise<Client> {
    const store = options.store ?? new MemoryStore();
    const client = new Client(baseUrl, options, { ...options, store }, {});
    await client.handoff.claim(code);
    return client;
  }

  /** A contact-center agent on the customer who read out `pin` (POST /v1/agent/sessions with the API key). */
  static async agent(baseUrl: string, options: AgentOptions): Promise<Client> {
    const device = options.device ?? "agent-console";
    const client = new Client(baseUrl, { channel: "agent", device, agentId: options.agentId }, options, {});
    await client.adoptAgent(await client.run(calls.agentPickup(options.apiKey, options.agentId, device, options.pin)));
    return client;
  }

  /** A copy of what this device holds (and its token store keeps). */
  get credentials(): Credentials {
    return { ...this.current };
  }

  /** The customer this device acts for. */
  get customerId(): string {
    return this.current.customerId ?? "";
  }

  /** This device's session. */
  get sessionId(): string {
    return this.current.sessionId ?? "";
  }

  /** Catalog items this client has fetched, by SKU: the prices an OfflineCart shows pending adds with. */
  get prices(): ReadonlyMap<string, CatalogItem> {
    return this.seenPrices;
  }

  /**
   * Check the stored session (GET /v1/cart); if it is gone, open one for `customerToken`'s customer, else the
   * stored customer's, else a new customer. An agent's session cannot be reopened: AuthError once it ended.
   */
  async resume(customerToken?: string): Promise<void> {
    if (this.agentId !== undefined) {
      await this.run(calls.getCart());
      return;
    }
    if (customerToken === undefined && this.current.sessionToken) {
      try {
        await this.run(calls.getCart());
        return;
      } catch (error) {
        if (!(error instanceof AuthError)) throw error;
      }
    }
    const token = customerToken ?? this.current.customerToken;
    try {
      await this.adopt(await this.run(calls.openSession(this.channel, this.device, token)));
    } catch (error) {
      if (!(error instanceof AuthError) || customerToken !== undefined) throw error;
      await this.adopt(await this.run(calls.openSession(this.channel, this.device))); // the stored customer is gone
    }
  }

  /** Send a call with this device's token; retry network errors, 5xx and 429 (writes keep their Idempotency-Key). */
  run<T>(call: Call<T>, options: { retries?: number } = {}): Promise<T> {
    return this.http.run(call, () => this.current.sessionToken, options.retries);
  }

  /** The customer's events after seq `since`, in order. */
  events(since = 0, limit = 100): Promise<EventPage> {
    return this.run(calls.listEvents(since, limit));
  }

  /** The journey across channels, in order. */
  timeline(): Promise<Timeline> {
    return this.run(calls.timeline());
  }

  /** Who the customer is across channels: identities, channels used, history. */
  customer(): Promise<CustomerProfile> {
    return this.run(calls.customer());
  }

  /** Catalog items matching `query` (all for ""). */
  async catalog(query = ""): Promise<CatalogPage> {
    const page = await this.run(calls.searchCatalog(query));
    for (const item of page.items) this.seenPrices.set(item.sku, item);
    return page;
  }

  async catalogItem(sku: string): Promise<CatalogItem> {
    const item = await this.run(calls.catalogItem(sku));
    this.seenPrices.set(item.sku, item);
    return item;
  }

  /** A PIN to read out to the contact center: consent for an agent to work on this cart. */
  askForHelp(): Promise<AssistOffer> {
    return this.run(calls.offerAssist());
  }

  /** End the consent: every agent session opened with its PIN stops at once. */
  withdrawHelp(consentId: string): Promise<void> {
    return this.run(calls.revokeAssist(consentId));
  }

  /** A local copy of the customer's cart, transactions and presence, kept live; it starts connecting at once. */
  live(options: LiveOptions = {}): LiveConnection {
    const WebSocket = this.WebSocket;
    if (WebSocket === undefined) {
      throw new OmnicartError("No WebSocket here: pass the WebSocket option (on Node 20, the `ws` package's).");
    }
    const owner: StreamOwner = {
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
  private async adopt(created: SessionCreated): Promise<void> {
    await this.save({
      customerId: created.customer_id,
      customerToken: created.customer_token,
      sessionId: created.session_id,
      sessionToken: created.session_token,
    });
    for (const connection of this.liveConnections) connection.reconnect();
  }

  private async adoptAgent(session: AgentSession): Promise<void> {
    await this.save({
      customerId: session.customer_id,
      sessionId: session.session_id,
      sessionToken: session.session_token,
    });
  }

  private async save(credentials: Credentials): Promise<void> {
    this.current = credentials;
    await this.store.save({ ...credentials });
  }
}
