/**
 * Omnicart JavaScript/TypeScript SDK: one customer, one cart, one journey across browser, mobile and kiosk.
 *
 * ```ts
 * const client = await Client.start("http://127.0.0.1:8000", { channel: "web", device: "laptop" });
 * await client.cart.add("JACKET-RAIN", 2);
 * ```
 */
export { applyOps, type CartContents, type CartLimits, OpRejected, type PriceList } from "./cart-ops.js";
export { type AgentOptions, Client, type ClientOptions, type ConnectionOptions } from "./client.js";
export {
  AuthError,
  ConflictError,
  ForbiddenError,
  InvalidRequestError,
  NotFoundError,
  OmnicartError,
  ProblemError,
  RateLimitedError,
  ServerError,
  StreamError,
  TransportError,
} from "./errors.js";
export type { Call, Fetch } from "./http.js";
export { type Change, ConnectionState } from "./live-state.js";
export {
  LiveConnection,
  type LiveEvents,
  type LiveOptions,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./live.js";
export { type LocalCart, OfflineCart, type OfflineEvents, type OfflineOptions, type Rejection } from "./offline.js";
export * from "./protocol.js";
export {
  IndexedDbQueueStore,
  LocalStorageQueueStore,
  MemoryQueueStore,
  type PendingWrite,
  type QueueContents,
  type QueueStore,
} from "./queue-stores.js";
export type { StepOptions, WriteOptions } from "./resources.js";
export { CartApi, HandoffApi, SessionsApi, TransactionsApi } from "./resources.js";
export { type Credentials, LocalStorageStore, MemoryStore, type StorageLike, type TokenStore } from "./token-stores.js";
