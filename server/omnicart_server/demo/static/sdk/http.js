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
const RETRY_STATUSES = new Set([429, 502, 503, 504]);
/** Error codes (Node's, undici's) that prove the request never left: resending cannot apply it twice. */
const NEVER_SENT_CODES = new Set([
    "ECONNREFUSED",
    "ENOTFOUND",
    "EAI_AGAIN",
    "EHOSTUNREACH",
    "ENETUNREACH",
    "UND_ERR_CONNECT_TIMEOUT",
]);
/** A call whose 2xx answer is JSON of type T (trusted: the types are generated from the server's own Structs). */
export function jsonCall(method, path, options = {}) {
    return { method, path, ...options, read: (text) => JSON.parse(text) };
}
/** A call answered with 204 No Content. */
export function emptyCall(method, path) {
    return { method, path, read: () => undefined };
}
/** A write: it carries a fresh Idempotency-Key (or the one given, for a write queued earlier). */
export function writeCall(path, body, idempotencyKey = newIdempotencyKey()) {
    return jsonCall("POST", path, { body, idempotencyKey });
}
/**
 * A random UUID v4. Not crypto.randomUUID: browsers offer it only in secure contexts, and a phone opening the demo
 * at http://<laptop's address> is not one; getRandomValues works everywhere.
 */
export function newIdempotencyKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
    bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
    const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
/** Whether sending it twice is safe: reads, deletes, and writes that carry an Idempotency-Key. */
function isRepeatable(call) {
    return call.idempotencyKey !== undefined || call.method === "GET" || call.method === "DELETE";
}
/** After a network failure: resend a repeatable call, or any call that provably never reached the server. */
function mayResend(call, error) {
    return isRepeatable(call) || neverSent(error);
}
/** How long to wait before retrying after this answer (ms), or null when it must not be retried. */
function retryDelay(call, error, fallbackMs) {
    if (!RETRY_STATUSES.has(error.status) && !(error instanceof ServerError))
        return null;
    // A call that is not repeatable is retried only on 429, which the server answers before doing anything.
    if (!isRepeatable(call) && error.status !== 429)
        return null;
    if (error instanceof RateLimitedError && error.retryAfter)
        return error.retryAfter * 1000;
    return fallbackMs;
}
function neverSent(error) {
    const seen = new Set();
    const pending = [error];
    while (pending.length > 0) {
        const current = pending.pop();
        if (typeof current !== "object" || current === null || seen.has(current))
            continue;
        seen.add(current);
        if ("code" in current && typeof current.code === "string" && NEVER_SENT_CODES.has(current.code))
            return true;
        if ("cause" in current)
            pending.push(current.cause);
        if (current instanceof AggregateError)
            pending.push(...current.errors);
    }
    return false;
}
function describe(error) {
    if (!(error instanceof Error))
        return String(error);
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : "";
    return `${error.message}${cause}`;
}
/** Sends calls to one server with retries; the session token is read anew for each attempt (it may be refreshed). */
export class HttpTransport {
    baseUrl;
    options;
    constructor(baseUrl, options) {
        this.baseUrl = baseUrl;
        this.options = options;
    }
    /** Send a call; retry transport errors, 5xx and 429 with backoff (writes keep their Idempotency-Key). */
    async run(call, token, retries = this.options.maxRetries) {
        const delays = backoff(200, 5000);
        for (let attempt = 0;; attempt++) {
            const last = attempt >= retries;
            let answer;
            try {
                answer = await this.send(call, token());
            }
            catch (error) {
                if (last || !mayResend(call, error)) {
                    throw new TransportError(`${call.method} ${call.path}: ${describe(error)}`, { cause: error });
                }
                await sleep(nextDelay(delays)).done;
                continue;
            }
            if (answer.status >= 200 && answer.status < 300)
                return call.read(answer.text);
            const error = fromProblem(answer.status, answer.text, answer.retryAfter);
            const delay = last ? null : retryDelay(call, error, nextDelay(delays));
            if (delay === null)
                throw error;
            await sleep(delay).done;
        }
    }
    async send(call, token) {
        const headers = { accept: "application/json" };
        if (call.body !== undefined)
            headers["content-type"] = "application/json";
        const bearer = call.credential ?? token;
        if (bearer)
            headers["authorization"] = `Bearer ${bearer}`;
        if (call.idempotencyKey !== undefined)
            headers["idempotency-key"] = call.idempotencyKey;
        const query = call.query
            ? `?${new URLSearchParams(Object.entries(call.query).map(([k, v]) => [k, String(v)]))}`
            : "";
        const aborter = new AbortController();
        const timer = setTimeout(() => aborter.abort(new TransportError(`no answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
        try {
            const response = await this.options.fetch(`${this.baseUrl}${call.path}${query}`, {
                method: call.method,
                headers,
                body: call.body === undefined ? null : JSON.stringify(call.body),
                signal: aborter.signal,
            });
            // Reading the body is part of the attempt: a connection dropped mid-answer is a transport error too.
            return { status: response.status, text: await response.text(), retryAfter: response.headers.get("retry-after") };
        }
        finally {
            clearTimeout(timer);
        }
    }
}
