/** Every API call as a Call value (as sdk_python's _calls.py): built here, run by a Client. */
import { type Call, emptyCall, jsonCall, writeCall } from "./http.js";
import type {
  AgentPickup,
  AgentSession,
  AssistOffer,
  Cart,
  CartOp,
  CartOpsRequest,
  CatalogItem,
  CatalogPage,
  ClaimHandoff,
  CreateSession,
  CustomerProfile,
  DeviceSession,
  EventPage,
  HandoffOffer,
  SessionCreated,
  StartTransaction,
  Step,
  Timeline,
  Transaction,
  TransactionList,
} from "./protocol.js";

export function openSession(channel: string, device: string, customerToken?: string): Call<SessionCreated> {
  const body: CreateSession = { channel, device, ...(customerToken ? { customer_token: customerToken } : {}) };
  return jsonCall("POST", "/v1/sessions", { body });
}

export function listSessions(): Call<DeviceSession[]> {
  return jsonCall("GET", "/v1/sessions");
}

export function revokeSession(sessionId: string): Call<void> {
  return emptyCall("DELETE", `/v1/sessions/${encodeURIComponent(sessionId)}`);
}

export function getCart(): Call<Cart> {
  return jsonCall("GET", "/v1/cart");
}

/** A batch of ops as one atomic write; `idempotencyKey` is given when resending a write queued earlier. */
export function cartOps(ops: CartOp[], expectedVersion?: number, idempotencyKey?: string): Call<Cart> {
  const body: CartOpsRequest = { ops, ...(expectedVersion === undefined ? {} : { expected_version: expectedVersion }) };
  return writeCall("/v1/cart/ops", body, idempotencyKey);
}

export function listEvents(since: number, limit: number): Call<EventPage> {
  return jsonCall("GET", "/v1/events", { query: { since, limit } });
}

export function timeline(): Call<Timeline> {
  return jsonCall("GET", "/v1/timeline");
}

export function customer(): Call<CustomerProfile> {
  return jsonCall("GET", "/v1/customer");
}

export function searchCatalog(query: string): Call<CatalogPage> {
  return jsonCall("GET", "/v1/catalog", { query: { q: query } });
}

export function catalogItem(sku: string): Call<CatalogItem> {
  return jsonCall("GET", `/v1/catalog/${encodeURIComponent(sku)}`);
}

export function offerHandoff(): Call<HandoffOffer> {
  return jsonCall("POST", "/v1/handoff");
}

export function claimHandoff(code: string, channel: string, device: string): Call<SessionCreated> {
  const body: ClaimHandoff = { code, channel, device };
  return jsonCall("POST", "/v1/handoff/claim", { body });
}

export function offerAssist(): Call<AssistOffer> {
  return jsonCall("POST", "/v1/assist");
}

export function revokeAssist(consentId: string): Call<void> {
  return emptyCall("DELETE", `/v1/assist/${encodeURIComponent(consentId)}`);
}

export function agentPickup(apiKey: string, agentId: string, device: string, pin: string): Call<AgentSession> {
  const body: AgentPickup = { agent_id: agentId, device, pin };
  return jsonCall("POST", "/v1/agent/sessions", { body, credential: apiKey });
}

export function startTransaction(kind: string, data: Record<string, unknown>): Call<Transaction> {
  const body: StartTransaction = { kind, data };
  return jsonCall("POST", "/v1/transactions", { body });
}

export function listTransactions(): Call<TransactionList> {
  return jsonCall("GET", "/v1/transactions");
}

export function getTransaction(transactionId: string): Call<Transaction> {
  return jsonCall("GET", `/v1/transactions/${encodeURIComponent(transactionId)}`);
}

export function stepTransaction(
  transactionId: string,
  to: string | undefined,
  data: Record<string, unknown>,
  expectedVersion: number | undefined,
): Call<Transaction> {
  const body: Step = {
    data,
    ...(to === undefined ? {} : { to }),
    ...(expectedVersion === undefined ? {} : { expected_version: expectedVersion }),
  };
  return writeCall(`/v1/transactions/${encodeURIComponent(transactionId)}/step`, body);
}

export function takeOverTransaction(transactionId: string): Call<Transaction> {
  return jsonCall("POST", `/v1/transactions/${encodeURIComponent(transactionId)}/takeover`);
}
