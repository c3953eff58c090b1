// Shared by the browser tests: a real `omnicart serve` on a free port with a throwaway SQLite file, headless
// Chromium (Debian's, driven by playwright-core), devices as browser contexts, and waiting on conditions with a
// deadline (never sleeping, never asserting a timing).

import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "../..");
const HOST = "127.0.0.1";
const STARTUP_MS = 30_000;
const STOP_MS = 10_000;
const LOG_LINES = 80;

/** Screenshots of every scenario land here (gitignored). */
export const ARTIFACTS = path.join(HERE, "artifacts");
/** How long a page may take to show what another device did. */
export const SETTLE_MS = 15_000;
/**
 * Options for every test and hook: node:test waits forever by default, and a page call without a deadline of its
 * own (evaluate) would hang the run instead of failing it.
 */
export const LIMIT = { timeout: 90_000 };

/** The `omnicart` command: OMNICART_BIN, else the script in the repository's .venv. */
export function omnicartBin() {
  return process.env.OMNICART_BIN || path.join(REPO, ".venv", "bin", "omnicart");
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, HOST, () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** This process's environment without OMNICART_* settings: the server sees only what a test gives it. */
function serverEnv() {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("OMNICART_")));
  return { ...env, PYTHONUNBUFFERED: "1" };
}

/** Poll `probe` until it returns something truthy; fail with `describe()` of the last state after `timeout` ms. */
export async function waitUntil(probe, { timeout = SETTLE_MS, interval = 50, describe = () => "" } = {}) {
  const deadline = Date.now() + timeout;
  let lastError;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const seen = await Promise.resolve(describe()).catch((error) => `(could not describe: ${error})`);
      throw new Error(`condition not met within ${timeout} ms. ${seen}${lastError ? `\nlast error: ${lastError}` : ""}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/**
 * Start `omnicart serve --dev` on a free port with a SQLite file of its own; resolves once it runs on that port
 * and /health answers. Another process may take the port between the OS offering it and the server binding it:
 * then the server exits at once and another port is tried.
 */
export async function startServer() {
  const dir = await mkdtemp(path.join(tmpdir(), "omnicart-browser-"));
  const db = `sqlite+aiosqlite:///${path.join(dir, "omnicart.db")}`;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await serveOn(await freePort(), db, dir);
    } catch (error) {
      if (!(error instanceof PortTaken) || attempt === 3) {
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
}

class PortTaken extends Error {}

async function serveOn(port, db, dir) {
  const bin = omnicartBin();
  const args = ["serve", "--dev", "--host", HOST, "--port", String(port), "--db", db];
  const child = spawn(bin, args, { env: serverEnv(), stdio: ["ignore", "pipe", "pipe"] });
  const lines = [];
  const keep = (chunk) => {
    lines.push(...chunk.toString().split("\n").filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - LOG_LINES));
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  let exited = null;
  const exit = new Promise((resolve) => child.once("exit", (code, signal) => resolve((exited = code ?? signal))));
  // A test run that ends without stop() (an uncaught error) must not leave a server behind.
  const orphan = () => exited === null && child.kill("SIGKILL");
  process.once("exit", orphan);
  const url = `http://${HOST}:${port}`;
  const log = () => `--- omnicart serve (${url}), last ${LOG_LINES} lines ---\n${lines.join("\n")}`;

  // Ours is up once it says it runs on this port (so a stranger answering there is never taken for it) and
  // /health answers; each probe has a deadline of its own, so a listener that never answers cannot hang us.
  const running = `running on ${url}`;
  const state = await waitUntil(
    async () => {
      if (exited !== null) return "exited";
      if (!lines.some((line) => line.includes(running))) return false;
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) }).catch(() => null);
      return response?.ok && "up";
    },
    { timeout: STARTUP_MS, describe: () => `${bin} did not answer /health\n${log()}` },
  ).catch((error) => {
    child.kill("SIGKILL");
    process.off("exit", orphan);
    throw error;
  });
  if (state === "exited") {
    process.off("exit", orphan);
    const Failure = /address already in use/i.test(lines.join("\n")) ? PortTaken : Error;
    throw new Failure(`omnicart serve exited with ${exited} during start-up\n${log()}`);
  }

  return {
    url,
    log,
    /** An API key with `scope` (agent, payments ...), as `omnicart keys create` prints it. */
    async createKey(scope) {
      const { stdout } = await promisify(execFile)(
        bin,
        ["keys", "create", "--name", `browser-${scope}`, "--scope", scope, "--db", db],
        { env: serverEnv(), timeout: STARTUP_MS },
      );
      return stdout.trim().split("\n").at(-1);
    },
    async stop() {
      if (exited === null) {
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), STOP_MS);
        await exit;
        clearTimeout(killer);
      }
      process.off("exit", orphan);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Headless Chromium: CHROMIUM, else Debian's /usr/bin/chromium (no sandbox: tests may run as root). */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox"],
    headless: true,
  });
}

/**
 * A device: a browser context of its own (its own localStorage, so its own customer until it claims a code; its
 * viewport and the like from `contextOptions`, e.g. PHONE),
 * with a page at `pagePath` (or a full URL) once the page says it is ready. `errors` collects uncaught page
 * errors and Content-Security-Policy violations.
 */
export async function openDevice(browser, server, pagePath = "/demo", contextOptions = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, ...contextOptions });
  context.setDefaultTimeout(SETTLE_MS);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => {
    if (/Content.Security.Policy/i.test(message.text())) errors.push(`CSP: ${message.text()}`);
  });
  const missing = [];
  page.on("response", (response) => response.status() >= 400 && missing.push(`${response.status()} ${response.url()}`));
  await page.goto(pagePath.startsWith("http") ? pagePath : server.url + pagePath);
  await ready(page).catch((error) => {
    // Say why the page never started: a file it imports is missing (the SDK's build?), or it threw.
    throw new Error(`${pagePath} never became ready; failed loads: ${missing.join(", ") || "none"}; errors: ${errors}`, {
      cause: error,
    });
  });
  return { context, page, errors };
}

/** Browser context options of a phone: a narrow touch screen (the shop puts the cart above the catalog there). */
export const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

/** Wait for the page's `body[data-ready=true]` (its module finished starting). */
export async function ready(page) {
  await page.waitForSelector('body[data-ready="true"]', { timeout: SETTLE_MS });
}

/** The cart lines a page shows, sorted by SKU: {sku, qty, unitPrice, pending}. */
export function linesOf(page) {
  return page.$$eval("#cart-lines .line", (items) =>
    items
      .map((item) => ({
        sku: item.dataset.sku,
        qty: Number(item.dataset.qty),
        unitPrice: Number(item.dataset.unitPrice),
        pending: item.dataset.pending === "true",
      }))
      .sort((a, b) => a.sku.localeCompare(b.sku)),
  );
}

/** Wait until the page's cart shows exactly `expected` ({SKU: qty}), nothing pending. */
export async function waitForCart(page, expected, { timeout = SETTLE_MS } = {}) {
  const want = Object.entries(expected).sort(([a], [b]) => a.localeCompare(b));
  const matches = (lines) =>
    lines.length === want.length &&
    lines.every((line, index) => line.sku === want[index][0] && line.qty === want[index][1] && !line.pending);
  await waitUntil(async () => matches(await linesOf(page)), {
    timeout,
    describe: async () => `wanted ${JSON.stringify(expected)}, the page shows ${JSON.stringify(await linesOf(page))}`,
  });
}

/** Click a catalog item's Add button. */
export async function addToCart(page, sku) {
  await page.click(`#catalog [data-sku="${sku}"] button`);
}

/** The problem the page shows, or null: {code, text}. */
export async function shownProblem(page) {
  return page.$eval("#notice", (notice) => (notice.hidden ? null : { code: notice.dataset.code, text: notice.innerText }));
}

/** No problem shown and no uncaught error: the scenario ran clean. */
export async function assertClean(device) {
  assert.equal(await shownProblem(device.page), null, "the page shows a problem");
  assert.deepEqual(device.errors, [], "uncaught errors in the page");
}

/** The end of a scenario that went well: no device shows a problem or logged an error; all of them close. */
export async function finish(...devices) {
  for (const device of devices) await assertClean(device);
  await Promise.all(devices.map((device) => device.context.close()));
}

/** Save a full-page screenshot as artifacts/<name>.png. */
export async function screenshot(page, name) {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.evaluate(() => window.scrollTo(0, 0)); // else the sticky top bar lands mid-page in a full-page shot
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/**
 * Make `second` continue as `first`'s customer the way a person does: `first` shows a code, `second` types it.
 * Returns the code.
 */
export async function handOff(first, second) {
  const before = (await first.page.textContent("#handoff-code")).trim();
  await first.page.click("#handoff-create");
  const code = await waitUntil(async () => {
    const shown = (await first.page.textContent("#handoff-code")).trim();
    return shown !== before && shown;
  });
  await second.page.fill("#claim-code", code);
  await second.page.click('#claim button[type="submit"]');
  return code;
}
