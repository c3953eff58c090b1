/**
 * Omnicart JavaScript/TypeScript SDK: one customer, one cart, one journey across browser, mobile and kiosk.
 *
 * ```ts
 * const client = await Client.start("http://127.0.0.1:8000", { channel: "web", device: "laptop" });
 * await client.cart.add("JACKET-RAIN", 2);
 * ```
 */
export { applyOps, OpRejected } from "./cart-ops.js";
export { Client } from "./client.js";
export { AuthError, ConflictError, ForbiddenError, InvalidRequestError, NotFoundError, OmnicartError, ProblemError, RateLimitedError, ServerError, StreamError, TransportError, } from "./errors.js";
export { ConnectionState } from "./live-state.js";
export { LiveConnection, } from "./live.js";
export { OfflineCart } from "./offline.js";
export * from "./protocol.js";
export { IndexedDbQueueStore, LocalStorageQueueStore, MemoryQueueStore, } from "./queue-stores.js";
export { CartApi, HandoffApi, SessionsApi, TransactionsApi } from "./resources.js";
export { LocalStorageStore, MemoryStore } from "./token-stores.js";
