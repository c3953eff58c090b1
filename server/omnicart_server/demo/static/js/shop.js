// The demo shop at /demo: catalog, a live cart shared by every device of the customer, handoff, help and checkout.
//
// Cart writes go through the SDK's OfflineCart: applied locally at once, queued while the network is down, sent in
// order when it is back. The cart shown is the live stream's (every device's changes) unless writes are pending,
// then the offline view (server state plus the pending writes).

import { OfflineCart } from "/demo/sdk/index.js";
import { itemCount, pendingMarks, renderLines, subtotal } from "./cart-view.js";
import { CheckoutPanel } from "./checkout.js";
import { $, act, clock, h, money, reportUnhandledErrors, showProblem } from "./dom.js";
import { openShopper } from "./session.js";

const RETRY_SYNC_MS = 3000;
const STATE_TEXT = { connecting: "connecting…", live: "live", offline: "offline", resyncing: "catching up…", closed: "closed" };

class Shop {
  constructor(client) {
    this.client = client;
    this.catalog = new Map();
    this.live = null;
    this.offline = null;
    this.retryTimer = null;
    this.checkout = new CheckoutPanel(
      client,
      (sessionId) => this.deviceName(sessionId),
      () => this.live && this.render(),
    );
  }

  /** Follow the customer live, and queue cart writes so they survive a lost network (and a reload). */
  async connect() {
    this.live = this.client.live();
    this.live.on("change", (change) => this.onChange(change));
    this.offline = new OfflineCart(this.client);
    this.offline.on("change", () => this.render());
    this.offline.on("rejected", (rejection) => this.reportRejection(rejection));
    // A stream that is slow to catch up is not fatal: the badge says how it stands, the cart shows the last answer.
    await Promise.all([this.live.ready().catch(showProblem), this.offline.ready()]);
    this.render();
    await Promise.all([this.checkout.refresh(), this.sync()]);
  }

  /** After a handoff claim: the live stream follows the new customer by itself; the cart and checkout are re-read. */
  async switchedCustomer() {
    await Promise.all([this.offline.refresh(), this.checkout.refresh()]);
    this.render();
  }

  onChange(change) {
    this.render();
    const kind = change.kind;
    if (kind === "cart.updated" || kind === "snapshot") this.keepOfflineBaseCurrent();
    if (kind === "handoff.claimed") $("#handoff").hidden = true; // codes are single use: this one is spent
    if (kind.startsWith("transaction.") || kind === "order.created" || kind === "snapshot") {
      this.checkout.refresh().catch(showProblem);
    }
  }

  /** The live cart is the offline view's base: writes made offline then show on top of other devices' changes. */
  keepOfflineBaseCurrent() {
    if (this.live.cart) this.offline.rebase(this.live.cart).catch(showProblem);
  }

  /**
   * What to show: the offline view while writes wait; otherwise the live cart, or the last answer to this device's
   * own write when that is newer (the stream may not have brought it yet).
   */
  view() {
    const { cart: local, pending } = this.offline.view();
    const live = this.live.cart;
    if (pending.length > 0 || !live) return { cart: local, pending, base: local };
    const newer = local.cart_id === live.cart_id && local.version > live.version;
    return { cart: newer ? local : live, pending, base: local };
  }

  render() {
    const { cart, pending, base } = this.view();
    const marks = pendingMarks(pending);
    const count = renderLines($("#cart-lines"), cart, {
      pending: marks,
      catalogPrice: (sku) => this.catalog.get(sku)?.unit_price,
      controls: (line) => this.lineControls(line),
    });
    $("#cart").dataset.version = cart?.version ?? "";
    $("#cart").dataset.offlineBase = base.version; // the cart version offline writes would be shown on
    $("#cart-empty").hidden = count > 0;
    $("#cart-count").textContent = cart ? `· ${itemCount(cart)}` : "";
    $("#subtotal").textContent = subtotal(cart);
    const note = $("#pending-note");
    note.hidden = pending.length === 0;
    note.textContent = `${pending.length === 1 ? "1 change" : `${pending.length} changes`} waiting to be sent: they go out as soon as you are back online.`;
    const start = $("#checkout-start");
    start.disabled = count === 0 && !this.checkout.active;
    start.textContent = this.checkout.active ? "Checkout in progress" : "Checkout";
    this.renderConnection(pending.length);
    this.renderPresence();
    this.scheduleRetry(pending.length);
  }

  lineControls(line) {
    return [
      h("button", {
        type: "button",
        "aria-label": `One less ${line.title}`,
        text: "−",
        disabled: line.qty <= 1,
        onclick: (event) => act(event.currentTarget, () => this.offline.setQuantity(line.line_id, line.qty - 1)),
      }),
      h("span", { class: "qty", "aria-label": "Quantity", text: String(line.qty) }),
      h("button", {
        type: "button",
        "aria-label": `One more ${line.title}`,
        text: "+",
        onclick: (event) => act(event.currentTarget, () => this.offline.setQuantity(line.line_id, line.qty + 1)),
      }),
      h("button", {
        type: "button",
        class: "link remove",
        text: "Remove",
        onclick: (event) => act(event.currentTarget, () => this.offline.remove(line.line_id)),
      }),
    ];
  }

  renderConnection(pendingCount) {
    const badge = $("#connection");
    const state = navigator.onLine ? this.live.state : "offline";
    badge.dataset.state = state;
    badge.textContent = STATE_TEXT[state] ?? state;
    badge.title = pendingCount ? `${pendingCount} change(s) waiting to be sent` : "";
  }

  deviceName(sessionId) {
    const session = (this.live?.presence ?? []).find((each) => each.session_id === sessionId);
    if (!session) return null;
    return session.role === "agent" ? `agent ${session.agent_id ?? ""}`.trim() : session.device;
  }

  renderPresence() {
    // Presence is only as fresh as the stream: offline, the last list would be a guess.
    const sessions = this.live.state === "live" && navigator.onLine ? this.live.presence : [];
    $("#presence").replaceChildren(
      ...sessions.map((session) => {
        const me = session.session_id === this.client.sessionId;
        const agent = session.role === "agent";
        const text = me ? "this device" : agent ? `agent ${session.agent_id ?? ""} is helping` : session.device;
        return h("span", {
          class: `device${me ? " me" : ""}${agent ? " agent" : ""}`,
          "data-session-id": session.session_id,
          "data-role": session.role,
          text,
        });
      }),
    );
  }

  /** A queued write the server refused (a cart locked by checkout, a SKU gone) was dropped: say why. */
  reportRejection(rejection) {
    showProblem({ problem: { title: "A change to your cart was not applied", detail: rejection.detail, code: rejection.code } });
  }

  /** While writes wait, try again now and then: an `online` event is a hint, not a promise. */
  scheduleRetry(pendingCount) {
    if (pendingCount === 0 || this.retryTimer !== null) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.sync();
    }, RETRY_SYNC_MS);
  }

  sync() {
    if (!navigator.onLine) return this.render();
    return this.offline
      .sync()
      .catch(() => undefined) // still unreachable: the writes stay queued and the next retry tries again
      .finally(() => this.render());
  }

  async loadCatalog(query = "") {
    const page = await this.client.catalog(query);
    for (const item of page.items) this.catalog.set(item.sku, item);
    $("#catalog").replaceChildren(...page.items.map((item) => this.product(item)));
    if (page.items.length === 0) $("#catalog").append(h("li", { class: "empty", text: "Nothing matches that search." }));
  }

  product(item) {
    const initials = item.title.split(/[\s,]+/).filter(Boolean).slice(0, 2).map((word) => word[0].toUpperCase()).join("");
    const hue = [...item.sku].reduce((sum, char) => sum + char.charCodeAt(0), 0) % 6;
    return h(
      "li",
      { class: "product", "data-sku": item.sku },
      h("div", { class: `tile tile-${hue}`, "aria-hidden": "true", text: initials }),
      h("div", { class: "body" }, h("h3", { text: item.title }), h("span", { class: "sku", text: item.sku })),
      h(
        "div",
        { class: "buy" },
        h("span", { class: "price", text: money(item.unit_price, item.currency) }),
        h("button", {
          type: "button",
          class: "primary",
          "aria-label": `Add ${item.title} to the cart`,
          text: "Add",
          onclick: (event) => act(event.currentTarget, () => this.offline.add(item.sku, 1)),
        }),
      ),
    );
  }

  wire() {
    $("#search").addEventListener("submit", (event) => {
      event.preventDefault();
      act(null, () => this.loadCatalog(new FormData(event.currentTarget).get("q")));
    });
    // The field's clear button fires only "search": show everything again.
    $("#search").addEventListener("search", (event) => event.target.value === "" && act(null, () => this.loadCatalog()));
    $("#checkout-start").addEventListener("click", (event) => {
      if (this.checkout.active) return $("#checkout").scrollIntoView({ behavior: "smooth" });
      return act(event.currentTarget, async () => {
        await this.checkout.start();
        this.render();
      });
    });
    $("#handoff-create").addEventListener("click", (event) =>
      act(event.currentTarget, async () => {
        const offer = await this.client.handoff.create();
        $("#handoff-qr").src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(offer.qr_svg)}`;
        $("#handoff-code").textContent = offer.code;
        $("#handoff-expires").textContent = clock(offer.expires_at);
        $("#handoff-expires").dateTime = offer.expires_at;
        $("#handoff-url").textContent = offer.url;
        $("#handoff-url").href = offer.url;
        $("#handoff").hidden = false;
      }),
    );
    $("#claim").addEventListener("submit", (event) => {
      event.preventDefault();
      const form = event.currentTarget;
      act(event.submitter, async () => {
        await this.client.handoff.claim(new FormData(form).get("code"));
        form.reset();
        $("#handoff").hidden = true;
        await this.switchedCustomer();
      });
    });
    $("#help-ask").addEventListener("click", (event) =>
      act(event.currentTarget, async () => {
        const offer = await this.client.askForHelp();
        this.consentId = offer.consent_id;
        $("#help-pin").textContent = offer.pin;
        $("#help-expires").textContent = clock(offer.expires_at);
        $("#help").hidden = false;
      }),
    );
    $("#help-withdraw").addEventListener("click", (event) =>
      act(event.currentTarget, async () => {
        await this.client.withdrawHelp(this.consentId); // every agent session opened with it ends at once
        $("#help").hidden = true;
      }),
    );
    window.addEventListener("online", () => this.sync());
    window.addEventListener("offline", () => this.render());
  }
}

async function main() {
  reportUnhandledErrors();
  const client = await openShopper();
  const shop = new Shop(client);
  shop.wire();
  await Promise.all([shop.loadCatalog(), shop.connect()]);
  document.body.dataset.ready = "true";
}

main().catch(showProblem);
