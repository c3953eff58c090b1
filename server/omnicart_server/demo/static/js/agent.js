// The agent console at /demo/agent: a call-center agent picks a customer up with the PIN the customer reads out,
// then sees and edits the cart live, next to the customer's own devices (presence). Agents may set a line's price,
// always with a reason, which the customer sees.
//
// The API key is kept in sessionStorage (this tab only) and sent in a header by the SDK, never in a URL.

import { Client } from "/demo/sdk/index.js";
import { itemCount, renderLines, subtotal } from "./cart-view.js";
import { $, act, h, money, parseMoney, plainMoney, reportUnhandledErrors, showProblem } from "./dom.js";

const KEY_STORAGE = "omnicart.agent.apiKey";
const ID_STORAGE = "omnicart.agent.id";
const STATE_TEXT = { connecting: "connecting…", live: "live", offline: "offline", resyncing: "catching up…", closed: "no customer" };

class Console {
  constructor() {
    this.agent = null;
    this.live = null;
    this.catalog = new Map();
    this.editing = null;
  }

  async pickUp(apiKey, agentId, pin) {
    sessionStorage.setItem(KEY_STORAGE, apiKey);
    sessionStorage.setItem(ID_STORAGE, agentId);
    const agent = await Client.agent(location.origin, { apiKey, agentId, pin });
    this.release();
    this.agent = agent;
    this.agentId = agentId;
    const live = agent.live();
    this.live = live;
    live.on("change", (change) => {
      if (live !== this.live) return; // a connection released meanwhile
      if (change.kind === "state" && change.state === "closed") this.ended(live);
      else this.render();
    });
    await Promise.all([this.live.ready(), this.loadCatalog()]);
    $("#pin").value = "";
    this.render();
  }

  /** The stream stopped for good: the customer withdrew consent, or the agent session ran out. */
  async ended(live) {
    this.release();
    const why = await live.ready().then(
      () => "",
      (error) => error.reason ?? error.message, // the server's close reason (a StreamError)
    );
    showProblem({
      problem: {
        title: "The help session ended",
        detail: `${why ? `${why[0].toUpperCase()}${why.slice(1)}. ` : ""}Ask the customer for a new PIN to help them again.`,
        code: "session_ended",
      },
    });
  }

  release() {
    const live = this.live;
    this.live = null;
    live?.close();
    this.agent = null;
    this.editing = null;
    this.render();
  }

  async loadCatalog() {
    if (this.catalog.size) return;
    const page = await this.agent.catalog();
    for (const item of page.items) this.catalog.set(item.sku, item);
    $("#add-sku").replaceChildren(
      ...page.items.map((item) =>
        h("option", { value: item.sku, text: `${item.title} · ${money(item.unit_price, item.currency)}` }),
      ),
    );
  }

  render() {
    const live = this.live;
    const cart = live?.cart ?? null;
    const badge = $("#connection");
    badge.dataset.state = live ? live.state : "closed";
    badge.textContent = STATE_TEXT[badge.dataset.state] ?? badge.dataset.state;
    $("#customer").hidden = !live;
    $("#add").hidden = !live;
    $("#totals").hidden = !live;
    $("#cart").dataset.version = cart?.version ?? "";
    const count = renderLines($("#cart-lines"), cart, {
      catalogPrice: (sku) => this.catalog.get(sku)?.unit_price,
      controls: (line) => this.lineControls(line, cart.currency),
    });
    $("#cart-empty").hidden = count > 0;
    $("#cart-empty").textContent = live
      ? "The cart is empty: add what the customer asks for below."
      : "Pick up a customer with the PIN they read out to see their cart.";
    $("#cart-count").textContent = cart ? `· ${itemCount(cart)}` : "";
    $("#subtotal").textContent = subtotal(cart);
    if (!live) return;
    $("#customer-id").textContent = this.agent.customerId ?? "";
    $("#customer-agent").textContent = this.agentId;
    $("#presence").replaceChildren(
      ...(live.presence ?? []).map((session) =>
        h(
          "li",
          { "data-session-id": session.session_id, "data-role": session.role },
          h("span", { text: session.role === "agent" ? `agent ${session.agent_id ?? ""}` : session.device }),
          h("span", { class: "role", text: session.role === "agent" ? "agent" : session.channel }),
        ),
      ),
    );
  }

  lineControls(line, currency) {
    const cart = this.agent.cart;
    const controls = [
      h("button", {
        type: "button",
        "aria-label": `One less ${line.title}`,
        text: "−",
        disabled: line.qty <= 1,
        onclick: (event) => act(event.currentTarget, () => cart.setQuantity(line.line_id, line.qty - 1)),
      }),
      h("span", { class: "qty", text: String(line.qty) }),
      h("button", {
        type: "button",
        "aria-label": `One more ${line.title}`,
        text: "+",
        onclick: (event) => act(event.currentTarget, () => cart.setQuantity(line.line_id, line.qty + 1)),
      }),
      h("button", {
        type: "button",
        class: "link",
        "data-action": "price",
        text: "Change price",
        onclick: () => {
          this.editing = { lineId: line.line_id, price: plainMoney(line.unit_price, currency), reason: "" };
          this.render();
          $(`[data-line-id="${line.line_id}"] input[name="price"]`).focus();
        },
      }),
      h("button", {
        type: "button",
        class: "link remove",
        text: "Remove",
        onclick: (event) => act(event.currentTarget, () => cart.remove(line.line_id)),
      }),
    ];
    if (this.editing?.lineId === line.line_id) controls.push(this.priceEditor(line, currency));
    return controls;
  }

  /**
   * A new unit price for a line, with the reason the customer will read: the server refuses one without.
   * What is typed lives in `this.editing`, so a live update redrawing the cart does not lose it.
   */
  priceEditor(line, currency) {
    const editing = this.editing;
    const price = h("input", {
      name: "price",
      required: true,
      inputmode: "decimal",
      "aria-label": `New unit price in ${currency}`,
      value: editing.price,
      oninput: (event) => (editing.price = event.target.value),
    });
    const reason = h("input", {
      name: "reason",
      required: true,
      maxlength: 500,
      placeholder: "Reason, e.g. price match",
      "aria-label": "Reason for the new price",
      value: editing.reason,
      oninput: (event) => (editing.reason = event.target.value),
    });
    const form = h(
      "form",
      { class: "price-editor" },
      price,
      reason,
      h("button", { type: "submit", class: "primary", text: "Save" }),
      h("button", { type: "button", text: "Cancel", onclick: () => ((this.editing = null), this.render()) }),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(event.submitter, async () => {
        const unitPrice = parseMoney(price.value, currency);
        if (unitPrice === null) throw new Error(`"${price.value}" is not a price: type it like 12.50.`);
        await this.agent.cart.setPrice(line.line_id, unitPrice, reason.value.trim());
        this.editing = null;
        this.render();
      });
    });
    return form;
  }

  wire() {
    const pickup = $("#pickup");
    $("#api-key").value = sessionStorage.getItem(KEY_STORAGE) ?? "";
    $("#agent-id").value = sessionStorage.getItem(ID_STORAGE) ?? "";
    pickup.addEventListener("submit", (event) => {
      event.preventDefault();
      const form = new FormData(pickup);
      act(event.submitter, () => this.pickUp(form.get("api_key").trim(), form.get("agent_id").trim(), form.get("pin").trim()));
    });
    $("#release").addEventListener("click", () => this.release());
    $("#add").addEventListener("submit", (event) => {
      event.preventDefault();
      const form = new FormData(event.currentTarget);
      act(event.submitter, () => this.agent.cart.add(form.get("sku"), Number(form.get("qty"))));
    });
  }
}

function main() {
  reportUnhandledErrors();
  const agentConsole = new Console();
  agentConsole.wire();
  agentConsole.render();
  document.body.dataset.ready = "true";
}

main();
