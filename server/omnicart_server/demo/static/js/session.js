// The shopper's client, shared by the shop and the claim page: one customer per browser, kept in localStorage.

import { Client, LocalStorageStore } from "/demo/sdk/index.js";

const STORE_KEY = "omnicart.demo";
const LABEL_KEY = "omnicart.demo.device";

/** A label a person recognises among their devices: "Linux browser · K3F" (the suffix tells two apart). */
export function deviceLabel() {
  let label = localStorage.getItem(LABEL_KEY);
  if (!label) {
    const platform = navigator.userAgentData?.platform || /\(([^;)]+)/.exec(navigator.userAgent)?.[1] || "Web";
    const kind = /Mobi|Android|iPhone/.test(navigator.userAgent) ? "phone" : "browser";
    const suffix = Array.from(crypto.getRandomValues(new Uint8Array(3)), (byte) => "ABCDEFGHJKMNPQRSTUVWXYZ23456789"[byte % 31]);
    label = `${platform.replace(/^X11$/, "Linux")} ${kind} · ${suffix.join("")}`;
    localStorage.setItem(LABEL_KEY, label);
  }
  return label;
}

/** How this browser appears among the customer's devices, and where it keeps its session. */
export function shopperOptions() {
  return { channel: "web", device: deviceLabel(), store: new LocalStorageStore(STORE_KEY) };
}

/** This browser's session: the one in localStorage, or a new anonymous customer's. */
export function openShopper() {
  return Client.start(location.origin, shopperOptions());
}

/** The handoff code in a claim link (`/demo/claim#code=K7QM4XTR`), or null. */
export function codeInFragment() {
  const code = new URLSearchParams(location.hash.slice(1)).get("code");
  return code && code.trim() ? code.trim() : null;
}
