// The cart as a list of lines, for the shop and the agent console: server prices, pending marks, agent prices.

import { h, money } from "./dom.js";

/** Which lines the writes still waiting to be sent (OfflineCart's PendingWrite) touch: by SKU and by line id. */
export function pendingMarks(pendingWrites) {
  const skus = new Set();
  const lineIds = new Set();
  for (const write of pendingWrites ?? []) {
    for (const op of write.request.ops) {
      if (op.sku) skus.add(op.sku);
      if (op.line_id) lineIds.add(op.line_id);
    }
  }
  return { has: (line) => skus.has(line.sku) || lineIds.has(line.line_id) };
}

const NOTHING_PENDING = { has: () => false };

/**
 * Fill `list` with the cart's lines. `controls(line)` returns the buttons a page offers on a line;
 * `catalogPrice(sku)` lets a line whose price an agent changed show the catalog price struck through.
 */
export function renderLines(list, cart, { pending = NOTHING_PENDING, controls = () => [], catalogPrice } = {}) {
  const lines = cart?.lines ?? [];
  list.replaceChildren(
    ...lines.map((line) => {
      const isPending = pending.has(line);
      const listed = catalogPrice?.(line.sku);
      const overridden = line.price_reason != null;
      return h(
        "li",
        {
          class: "line",
          "data-line-id": line.line_id,
          "data-sku": line.sku,
          "data-qty": line.qty,
          "data-unit-price": line.unit_price,
          "data-pending": isPending ? "true" : "false",
        },
        h(
          "div",
          {},
          h("span", { class: "title", text: line.title }),
          isPending ? h("span", { class: "tag pending", text: "pending" }) : null,
          overridden ? h("span", { class: "tag override", text: "agent price" }) : null,
          h(
            "div",
            { class: "unit" },
            overridden && listed !== undefined && listed !== line.unit_price
              ? h("span", { class: "was", text: money(listed, cart.currency) })
              : null,
            `${money(line.unit_price, cart.currency)} each`,
          ),
        ),
        h("div", { class: "total", text: money(line.line_total, cart.currency) }),
        overridden ? h("div", { class: "reason", text: `Price changed by your agent: ${line.price_reason}` }) : null,
        h("div", { class: "controls" }, ...controls(line, isPending)),
      );
    }),
  );
  return lines.length;
}

/** "3 items" for a cart header. */
export function itemCount(cart) {
  const count = cart?.item_count ?? (cart?.lines ?? []).reduce((sum, line) => sum + line.qty, 0);
  return count === 1 ? "1 item" : `${count} items`;
}

/** The cart's subtotal, or a dash before the first answer. */
export function subtotal(cart) {
  return cart ? money(cart.subtotal, cart.currency) : "–";
}
