// Devices for the tests: clients on a test server with `ws` as their WebSocket, and waits on conditions
// (never a fixed sleep: every wait has a deadline and says what it waited for).
import WebSocket from "ws";
import { Client } from "../dist/index.js";

/** A shopper's device on `server`, with `ws` injected for live(). */
export function openDevice(server, channel = "web", device = "laptop", options = {}) {
  return Client.start(server.url, { channel, device, WebSocket, ...options });
}

/** Resolve once `predicate()` is truthy (polled), or fail after `timeoutMs` saying what was awaited. */
export async function waitFor(predicate, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((wait) => setTimeout(wait, 20));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Resolve with the first change of `live` that `predicate` accepts (checked as changes arrive). */
export function nextChange(live, predicate, what, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const stop = live.on("change", (change) => {
      if (!predicate(change, live)) return;
      clearTimeout(timer);
      stop();
      resolve(change);
    });
  });
}

/** A cart's lines as {sku: qty}. */
export function quantities(cart) {
  return Object.fromEntries((cart?.lines ?? []).map((line) => [line.sku, line.qty]));
}

/** A Web Storage stand-in (Node has no localStorage): what survives a "reload" is what is in `items`. */
export class MemoryStorage {
  items = new Map();

  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }

  setItem(key, value) {
    this.items.set(key, String(value));
  }
}
