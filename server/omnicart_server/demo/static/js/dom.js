// Small DOM helpers shared by the demo pages: build elements (text only, never HTML), format money, show problems.

/**
 * Build an element. `props` sets attributes (`class`, `data-*`, `aria-*` ...), `text` sets textContent and `on*`
 * functions become listeners; children are nodes or strings (inserted as text).
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") element.textContent = String(value);
    else if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (name in element && !name.includes("-") && name !== "list") element[name] = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

/** `$("#id")`, failing loudly when the page lacks the element (a typo, not a runtime condition). */
export function $(selector, root = document) {
  const found = root.querySelector(selector);
  if (!found) throw new Error(`missing element ${selector}`);
  return found;
}

const formatters = new Map();

function formatter(currency) {
  if (!formatters.has(currency)) {
    formatters.set(currency, new Intl.NumberFormat("en", { style: "currency", currency }));
  }
  return formatters.get(currency);
}

/** How many minor units a currency has after the point: 2 for EUR, 0 for JPY. */
export function minorDigits(currency) {
  return formatter(currency).resolvedOptions().maximumFractionDigits;
}

/** Minor units (what the server sends) as a price in `currency`, e.g. 12900 EUR -> "€129.00". */
export function money(minor, currency) {
  if (!/^[A-Z]{3}$/.test(currency ?? "")) return (minor / 100).toFixed(2); // an empty cart before any answer
  return formatter(currency).format(minor / 10 ** minorDigits(currency));
}

/** Minor units as a person types a price: 12900 EUR -> "129.00". */
export function plainMoney(minor, currency) {
  const digits = minorDigits(currency);
  return (minor / 10 ** digits).toFixed(digits);
}

/** A price a person typed ("12.5", "12,50") in minor units, or null when it is not a price. */
export function parseMoney(typed, currency) {
  const text = typed.trim().replace(",", ".");
  if (!/^\d+(\.\d+)?$/.test(text)) return null;
  return Math.round(Number(text) * 10 ** minorDigits(currency));
}

/** A time for people: "14:05". */
export function clock(iso) {
  return new Date(iso).toLocaleTimeString("en", { hour: "2-digit", minute: "2-digit" });
}

/**
 * What went wrong, as the person should read it: the server's problem (title, detail, code) when there is one,
 * otherwise a short sentence. Never a stack trace.
 */
export function problemOf(error) {
  const problem = error?.problem;
  if (problem && typeof problem.detail === "string") {
    return { title: problem.title, detail: problem.detail, code: problem.code ?? error.code, status: problem.status };
  }
  if (error?.name === "TransportError" || error instanceof TypeError) {
    return {
      title: "The shop cannot be reached",
      detail: "Check your connection and try again. Cart changes wait and are sent once you are back online.",
      code: "offline",
    };
  }
  return { title: "Something went wrong", detail: String(error?.message ?? error), code: error?.code };
}

/** Show `error` in the page's alert region (#notice) until dismissed or replaced. */
export function showProblem(error) {
  const { title, detail, code, status } = problemOf(error);
  const notice = $("#notice");
  notice.replaceChildren(
    h(
      "div",
      {},
      h("strong", { text: title }),
      h("p", { text: detail }),
      code ? h("code", { text: status ? `${status} ${code}` : code }) : null,
    ),
    h("button", { type: "button", class: "link close", text: "Dismiss", onclick: () => (notice.hidden = true) }),
  );
  notice.dataset.code = code ?? "";
  notice.hidden = false;
}

export function clearProblem() {
  $("#notice").hidden = true;
}

/**
 * Run an action a person started (a click, a submit): the last problem goes, `button` is disabled while it runs,
 * and its error is shown as a problem (so is one reported meanwhile, e.g. a queued write the server refused).
 * Returns the action's result, or undefined when it failed.
 */
export async function act(button, action) {
  clearProblem();
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (error) {
    showProblem(error);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

/** Anything that escapes a handler still reaches the person as a problem, not only the console. */
export function reportUnhandledErrors() {
  window.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    showProblem(event.reason);
  });
  window.addEventListener("error", (event) => showProblem(event.error ?? event.message));
}
