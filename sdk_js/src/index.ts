/**
 * Omnicart JavaScript/TypeScript SDK: one customer, one cart, one journey across browser, mobile and kiosk.
 */
export * from "./protocol.js";
