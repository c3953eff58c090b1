/** Every API call as a Call value (as sdk_python's _calls.py): built here, run by a Client. */
import { emptyCall, jsonCall, writeCall } from "./http.js";
export function openSession(channel, device, customerToken) {
    const body = { channel, device, ...(customerToken ? { customer_token: customerToken } : {}) };
    return jsonCall("POST", "/v1/sessions", { body });
}
export function listSessions() {
    return jsonCall("GET", "/v1/sessions");
}
export function revokeSession(sessionId) {
    return emptyCall("DELETE", `/v1/sessions/${encodeURIComponent(sessionId)}`);
}
export function getCart() {
    return jsonCall("GET", "/v1/cart");
}
/** A batch of ops as one atomic write; `idempotencyKey` is given when resending a write queued earlier. */
export function cartOps(ops, expectedVersion, idempotencyKey) {
    const body = { ops, ...(expectedVersion === undefined ? {} : { expected_version: expectedVersion }) };
    return writeCall("/v1/cart/ops", body, idempotencyKey);
}
export function listEvents(since, limit) {
    return jsonCall("GET", "/v1/events", { query: { since, limit } });
}
export function timeline() {
    return jsonCall("GET", "/v1/timeline");
}
export function customer() {
    return jsonCall("GET", "/v1/customer");
}
export function searchCatalog(query) {
    return jsonCall("GET", "/v1/catalog", { query: { q: query } });
}
export function catalogItem(sku) {
    return jsonCall("GET", `/v1/catalog/${encodeURIComponent(sku)}`);
}
export function offerHandoff() {
    return jsonCall("POST", "/v1/handoff");
}
export function claimHandoff(code, channel, device) {
    const body = { code, channel, device };
    return jsonCall("POST", "/v1/handoff/claim", { body });
}
export function offerAssist() {
    return jsonCall("POST", "/v1/assist");
}
export function revokeAssist(consentId) {
    return emptyCall("DELETE", `/v1/assist/${encodeURIComponent(consentId)}`);
}
export function agentPickup(apiKey, agentId, device, pin) {
    const body = { agent_id: agentId, device, pin };
    return jsonCall("POST", "/v1/agent/sessions", { body, credential: apiKey });
}
export function startTransaction(kind, data) {
    const body = { kind, data };
    return jsonCall("POST", "/v1/transactions", { body });
}
export function listTransactions() {
    return jsonCall("GET", "/v1/transactions");
}
export function getTransaction(transactionId) {
    return jsonCall("GET", `/v1/transactions/${encodeURIComponent(transactionId)}`);
}
export function stepTransaction(transactionId, to, data, expectedVersion) {
    const body = {
        data,
        ...(to === undefined ? {} : { to }),
        ...(expectedVersion === undefined ? {} : { expected_version: expectedVersion }),
    };
    return writeCall(`/v1/transactions/${encodeURIComponent(transactionId)}/step`, body);
}
export function takeOverTransaction(transactionId) {
    return jsonCall("POST", `/v1/transactions/${encodeURIComponent(transactionId)}/takeover`);
}
