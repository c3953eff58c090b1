// Checkout as a server transaction (transactions/machines.json):
//
//   open ──► details ──► payment_pending ──► completed   (entered by the payment backend, not by the shop)
//    ▲  ◄──    │   ◄──        │
//    └─────────┴──────────────┴──► cancelled
//
// One device drives it at a time (`driver_session_id`); another device may take it over. The buttons offered are
// the moves the server lists in `allowed_next`, so the page never offers what the machine would refuse.

import { $, act, h, money } from "./dom.js";

const ORDER = ["open", "details", "payment_pending", "completed"];
const FORWARD = { details: "Continue", payment_pending: "Pay" };
const BACK = { open: "Back to review", details: "Back to details" };
const FULFILMENT = { delivery: "Home delivery", pickup: "Pick up in store" };

export class CheckoutPanel {
  /**
   * @param client the shopper's Client
   * @param deviceName maps a session id to the label of that device (from presence), or null
   * @param onShow called after the panel changed (the cart's Checkout button follows it)
   */
  constructor(client, deviceName, onShow) {
    this.client = client;
    this.deviceName = deviceName;
    this.onShow = onShow;
    this.current = null;
    this.shown = "";
    this.draft = {};
    this.dismissed = new Set();
    this.panel = $("#checkout");
    this.body = $("#checkout-body");
    $("#checkout-takeover").addEventListener("click", (event) =>
      act(event.currentTarget, async () => this.show(await this.client.transactions.takeOver(this.current.transaction_id))),
    );
  }

  /** True while a checkout is under way (the cart's Checkout button then points here). */
  get active() {
    return this.current !== null && !this.current.terminal;
  }

  /** Start a checkout of the cart as it is now, driven by this device. */
  async start() {
    this.show(await this.client.transactions.start("checkout"));
  }

  /** Read the customer's newest checkout again (after a transaction event, a reconnect or a handoff). */
  async refresh() {
    const { transactions } = await this.client.transactions.list(); // newest first
    const newest = transactions.find((transaction) => transaction.kind === "checkout") ?? null;
    this.show(newest);
  }

  show(transaction) {
    const visible =
      transaction !== null &&
      transaction.state !== "cancelled" &&
      !this.dismissed.has(transaction.transaction_id) &&
      (!transaction.terminal || this.current?.transaction_id === transaction.transaction_id);
    this.current = visible ? transaction : null;
    if (!visible) this.shown = "";
    this.panel.hidden = !visible;
    this.panel.dataset.state = visible ? transaction.state : "";
    this.onShow();
    if (!visible) return;
    this.panel.dataset.transactionId = transaction.transaction_id;
    const mine = transaction.driver_session_id === null || transaction.driver_session_id === this.client.sessionId;
    const elsewhere = !mine && !transaction.terminal;
    this.panel.dataset.driver = elsewhere ? "elsewhere" : "here";
    $("#checkout-elsewhere").hidden = !elsewhere;
    $("#checkout-driver").textContent = this.deviceName(transaction.driver_session_id) ?? "another device";
    const reached = ORDER.indexOf(transaction.state);
    for (const step of $("#checkout-steps").children) {
      const index = ORDER.indexOf(step.dataset.state);
      step.className = index === reached ? "current" : index < reached ? "done" : "";
    }
    // Redraw only what changed: a live event that repeats what this device already shows must not wipe a field
    // being typed in.
    const shown = [transaction.transaction_id, transaction.version, elsewhere].join();
    if (shown === this.shown) return;
    if (!this.shown.startsWith(`${transaction.transaction_id},`)) this.draft = {};
    this.shown = shown;
    this.body.replaceChildren(...this.render(transaction, !elsewhere));
  }

  render(transaction, canDrive) {
    const cart = transaction.frozen_cart;
    const total = cart ? money(cart.subtotal, cart.currency) : "";
    const summary = h(
      "dl",
      { class: "summary" },
      h("dt", { text: "Items" }),
      h("dd", { text: cart ? String(cart.item_count) : "–" }),
      h("dt", { text: "Total" }),
      h("dd", { text: total }),
      transaction.data.contact ? [h("dt", { text: "Contact" }), h("dd", { text: transaction.data.contact })] : null,
      transaction.data.fulfilment
        ? [h("dt", { text: "Fulfilment" }), h("dd", { text: FULFILMENT[transaction.data.fulfilment] ?? transaction.data.fulfilment })]
        : null,
    );
    if (transaction.state === "completed") {
      return [
        summary,
        h("p", { class: "success", text: `Thank you! Order ${transaction.order?.order_id ?? ""} is placed.` }),
        h("button", { type: "button", text: "Close", onclick: () => this.dismiss(transaction) }),
      ];
    }
    const parts = [summary];
    if (transaction.state === "open") parts.push(this.detailsForm(transaction, canDrive));
    if (transaction.state === "payment_pending") {
      parts.push(h("p", { class: "muted", text: "Waiting for the payment provider to confirm your payment…" }));
    }
    parts.push(this.moves(transaction, canDrive));
    return parts;
  }

  /**
   * Contact and fulfilment: the fields `details` requires before the machine lets the checkout in. What is typed
   * is kept in `this.draft` until sent, so a redraw (another device taking over, say) does not lose it.
   */
  detailsForm(transaction, canDrive) {
    const draft = this.draft;
    const contact = h("input", {
      id: "checkout-contact",
      name: "contact",
      type: "email",
      required: true,
      autocomplete: "email",
      placeholder: "you@example.com",
      value: draft.contact ?? transaction.data.contact ?? "",
      oninput: (event) => (draft.contact = event.target.value),
    });
    const fulfilment = h(
      "select",
      { id: "checkout-fulfilment", name: "fulfilment", onchange: (event) => (draft.fulfilment = event.target.value) },
      ...Object.entries(FULFILMENT).map(([value, text]) =>
        h("option", { value, text, selected: (draft.fulfilment ?? transaction.data.fulfilment) === value }),
      ),
    );
    const form = h(
      "form",
      { id: "checkout-details", class: "stack" },
      h("fieldset", { class: "stack", disabled: !canDrive },
        h("div", { class: "field" }, h("label", { for: "checkout-contact", text: "Email for the receipt" }), contact),
        h("div", { class: "field" }, h("label", { for: "checkout-fulfilment", text: "How you get it" }), fulfilment),
      ),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.move(event.submitter, "details", { contact: contact.value.trim(), fulfilment: fulfilment.value });
    });
    return form;
  }

  moves(transaction, canDrive) {
    const cart = transaction.frozen_cart;
    const buttons = transaction.allowed_next
      .filter((state) => state !== "completed")
      .map((state) => {
        const forward = ORDER.indexOf(state) > ORDER.indexOf(transaction.state);
        let text = (forward ? FORWARD : BACK)[state] ?? state;
        if (state === "cancelled") text = "Cancel checkout";
        if (state === "payment_pending" && cart) text = `Pay ${money(cart.subtotal, cart.currency)}`;
        const submits = state === "details" && transaction.state === "open";
        const button = h("button", {
          type: submits ? "submit" : "button",
          class: state === "cancelled" ? "danger" : forward ? "primary" : "",
          "data-move": state,
          disabled: !canDrive,
          text,
        });
        if (submits) button.setAttribute("form", "checkout-details");
        else button.addEventListener("click", () => this.move(button, state));
        return button;
      });
    return h("div", { class: "actions" }, ...buttons);
  }

  move(button, to, data) {
    const transaction = this.current;
    return act(button, async () => {
      const options = { to, expectedVersion: transaction.version };
      if (data) options.data = data;
      this.show(await this.client.transactions.step(transaction.transaction_id, options));
    });
  }

  dismiss(transaction) {
    this.dismissed.add(transaction.transaction_id);
    this.show(null);
  }
}
