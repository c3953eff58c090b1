/**
 * The request layer: what a call sends, how its answer is read, and when it is sent again (as sdk_python's _http.py).
 *
 * Transport errors, 5xx and 429 are retried with full-jitter backoff (429 honours Retry-After); other 4xx never.
 * A write carries an Idempotency-Key made once per call and reused on every retry, so it applies once. A call that
 * is not repeatable (opening a session, claiming a handoff code ...) is resent after a network error only if the
 * error proves the request never reached the server (the connection was refused or the name did not resolve).
 */
import { backoff, nextDelay, sleep } from "./backoff.js";
import { ProblemError, RateLimitedError, ServerError, TransportError, fromProblem } from "./errors.js";

/** The `fetch` the SDK calls: the global one by default; inject another for React Native or tests. */
export type Fetch = (input: string, init: RequestInit) => Promise<Response>;

/** One API call before any I/O. `T` is what a 2xx answer decodes to. */
export interface Call<T> {
  readonly method: "GET" | "POST" | "DELETE";
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number>>;
  readonly body?: unknown;
  /** Set on writes: made once when the call is built, reused on every retry so the server applies it once. */
  readonly idempotencyKey?: string;
  /** Sent instead of the session token: an agent app's API key when it picks a customer up. */
  readonly credential?: string;
  /** The decoded 2xx answer. */
  readonly read: (text: string) => T;
}

const RETRY_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);
/** Error codes (Node's, undici's) that prove the request never left: resending cannot apply it twice. */
const NEVER_SENT_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** A call whose 2xx answer is JSON of type T (trusted: the types are generated from the server's own Structs). */
export function jsonCall<T>(
  method: Call<T>["method"],
  path: string,
  options: Omit<Call<T>, "method" | "path" | "read"> = {},
): Call<T> {
  return { method, path, ...options, read: (text) => JSON.parse(text) as T };
}

/** A call answered with 204 No Content. */
export function emptyCall(method: Call<void>["method"], path: string): Call<void> {
  return { method, path, read: () => undefined };
}

/** A write: it carries a fresh Idempotency-Key (or the one given, for a write queued earlier). */
export function writeCall<T>(path: string, body: unknown, idempotencyKey: string = newIdempotencyKey()): Call<T> {
  return jsonCall<T>("POST", path, { body, idempotencyKey });
}

/**
 * A random UUID v4. Not crypto.randomUUID: browsers offer it only in secure contexts, and a phone opening the demo
 * at http://<laptop's address> is not one; getRandomValues works everywhere.
 */
export function newIdempotencyKey(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Whether sending it twice is safe: reads, deletes, and writes that carry an Idempotency-Key. */
function isRepeatable(call: Call<unknown>): boolean {
  return call.idempotencyKey !== undefined || call.method === "GET" || call.method === "DELETE";
}

/** After a network failure: resend a repeatable call, or any call that provably never reached the server. */
function mayResend(call: Call<unknown>, error: unknown): boolean {
  return isRepeatable(call) || neverSent(error);
}

/** How long to wait before retrying after this answer (ms), or null when it must not be retried. */
function retryDelay(call: Call<unknown>, error: ProblemError, fallbackMs: number): number | null {
  if (!RETRY_STATUSES.has(error.status) && !(error instanceof ServerError)) return null;
  // A call that is not repeatable is retried only on 429, which the server answers before doing anything.
  if (!isRepeatable(call) && error.status !== 429) return null;
  if (error instanceof RateLimitedError && error.retryAfter) return error.retryAfter * 1000;
  return fallbackMs;
}

function neverSent(error: unknown): boolean {
  const seen = new Set<unknown>();
  const pending = [error];
  while (pending.length > 0) {
    const current = pending.pop();
    if (typeof current !== "object" || current === null || seen.has(current)) continue;
    seen.add(current);
    if ("code" in current && typeof current.code === "string" && NEVER_SENT_CODES.has(current.code)) return true;
    if ("cause" in current) pending.push(current.cause);
    if (current instanceof AggregateError) pending.push(...(current.errors as unknown[]));
  }
  return false;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : "";
  return `${error.message}${cause}`;
}

/** How an HttpTransport sends: the fetch to use, how long one attempt may take, how often to retry. */
export interface TransportOptions {
  readonly fetch: Fetch;
  readonly timeoutMs: number;
  readonly maxRetries: number;
}

/** Sends calls to one server with retries; the session token is read anew for each attempt (it may be refreshed). */
export class HttpTransport {
  constructor(
    readonly baseUrl: string,
    private readonly options: TransportOptions,
  ) {}

  /** Send a call; retry transport errors, 5xx and 429 with backoff (writes keep their Idempotency-Key). */
  async run<T>(call: Call<T>, token: () => string | undefined, retries = this.options.maxRetries): Promise<T> {
    const delays = backoff(200, 5000);
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= retries;
      let answer: { status: number; text: string; retryAfter: string | null };
      try {
        answer = await this.send(call, token());
      } catch (error) {
        if (last || !mayResend(call, error)) {
          throw new TransportError(`${call.method} ${call.path}: ${describe(error)}`, { cause: error });
        }
        await sleep(nextDelay(delays)).done;
        continue;
      }
      if (answer.status >= 200 && answer.status < 300) return call.read(answer.text);
      const error = fromProblem(answer.status, answer.text, answer.retryAfter);
      const delay = last ? null : retryDelay(call, error, nextDelay(delays));
      if (delay === null) throw error;
      await sleep(delay).done;
    }
  }

  private async send(
    call: Call<unknown>,
    token: string | undefined,
  ): Promise<{ status: number; text: string; retryAfter: string | null }> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (call.body !== undefined) headers["content-type"] = "application/json";
    const bearer = call.credential ?? token;
    if (bearer) headers["authorization"] = `Bearer ${bearer}`;
    if (call.idempotencyKey !== undefined) headers["idempotency-key"] = call.idempotencyKey;
    const query = call.query
      ? `?${new URLSearchParams(Object.entries(call.query).map(([k, v]) => [k, String(v)]))}`
      : "";
    const aborter = new AbortController();
    const timer = setTimeout(
      () => aborter.abort(new TransportError(`no answer within ${this.options.timeoutMs} ms`)),
      this.options.timeoutMs,
    );
    try {
      const response = await this.options.fetch(`${this.baseUrl}${call.path}${query}`, {
        method: call.method,
        headers,
        body: call.body === undefined ? null : JSON.stringify(call.body),
        signal: aborter.signal,
      });
      // Reading the body is part of the attempt: a connection dropped mid-answer is a transport error too.
      return { status: response.status, text: await response.text(), retryAfter: response.headers.get("retry-after") };
    } finally {
      clearTimeout(timer);
    }
  }
}
