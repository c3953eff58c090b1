/**
 * Every error the SDK throws, mirroring the server's problem+json codes (as sdk_python/omnicart/errors.py).
 *
 * ```
 * OmnicartError
 *   TransportError          network or timeout; retryable (writes keep their Idempotency-Key)
 *   ProblemError            the server answered with problem+json: .problem, .code, .status, .detail
 *     AuthError             401 token_missing, token_invalid, token_expired, session_revoked
 *     ForbiddenError        403 (a shopper setting a price, an API key without the scope)
 *     NotFoundError         404
 *     ConflictError         409 version_conflict (.currentVersion), cart_locked, lease held, ...
 *     InvalidRequestError   400, 410, 413, 422
 *     RateLimitedError      429: .retryAfter
 *     ServerError           5xx after the retries ran out
 *   StreamError             the live stream was refused or closed for good
 * ```
 */
import type { Problem } from "./protocol.js";

/** Base of every SDK error. */
export class OmnicartError extends Error {
  override name = "OmnicartError";
}

/** The server could not be reached or did not answer in time. */
export class TransportError extends OmnicartError {
  override name = "TransportError";
}

/** The server refused the request; `detail` says what to do, `code` is stable enough to branch on. */
export class ProblemError extends OmnicartError {
  override name = "ProblemError";
  /** The HTTP status of the answer. */
  readonly status: number;
  /** The server's ErrorCode (`unknown_sku`, `version_conflict` ...), or "unknown" for a body that is no problem. */
  readonly code: string;
  /** A sentence a person can act on. */
  readonly detail: string;

  constructor(readonly problem: Problem) {
    super(`${problem.status} ${problem.code}: ${problem.detail}`);
    this.status = problem.status;
    this.code = problem.code;
    this.detail = problem.detail;
  }
}

/** The credential is missing, invalid, expired or revoked: start or refresh the session. */
export class AuthError extends ProblemError {
  override name = "AuthError";
}

/** Authenticated, but not allowed. */
export class ForbiddenError extends ProblemError {
  override name = "ForbiddenError";
}

/** No such resource for this customer. */
export class NotFoundError extends ProblemError {
  override name = "NotFoundError";
}

/** The state moved on (a stale version, a locked cart, another driver); fetch and decide again. */
export class ConflictError extends ProblemError {
  override name = "ConflictError";

  /** The cart's version now, on a `version_conflict`. */
  get currentVersion(): number | null {
    return this.problem.current_version;
  }
}

/** The request itself is wrong; sending it again will not help. */
export class InvalidRequestError extends ProblemError {
  override name = "InvalidRequestError";
}

/** Too many attempts; wait `retryAfter` seconds. */
export class RateLimitedError extends ProblemError {
  override name = "RateLimitedError";

  /** Seconds to wait, from the problem body or else the Retry-After header. */
  get retryAfter(): number | null {
    return this.problem.retry_after;
  }
}

/** The server failed, also after the retries. */
export class ServerError extends ProblemError {
  override name = "ServerError";
}

/** The live stream cannot go on (its token was rejected for good, or it closed with a code that forbids retrying). */
export class StreamError extends OmnicartError {
  override name = "StreamError";

  constructor(
    /** The WebSocket close code (omnicart.protocol CloseCode). */
    readonly closeCode: number,
    /** The server's reason, or what the SDK found. */
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`stream closed ${closeCode}: ${reason}`, options);
  }
}

type ProblemErrorClass = new (problem: Problem) => ProblemError;

const BY_STATUS: ReadonlyMap<number, ProblemErrorClass> = new Map([
  [400, InvalidRequestError],
  [401, AuthError],
  [403, ForbiddenError],
  [404, NotFoundError],
  [409, ConflictError],
  [410, InvalidRequestError],
  [413, InvalidRequestError],
  [422, InvalidRequestError],
  [429, RateLimitedError],
]);

/** The error for an answer that is not 2xx; an unknown code still maps by status (old SDK, newer server). */
export function fromProblem(status: number, body: string, retryAfterHeader: string | null = null): ProblemError {
  const problem = parseProblem(status, body);
  const retryAfter = problem.retry_after ?? secondsOf(retryAfterHeader);
  const withRetry = { ...problem, retry_after: retryAfter };
  const errorClass = status >= 500 ? ServerError : (BY_STATUS.get(status) ?? ProblemError);
  return new errorClass(withRetry);
}

function parseProblem(status: number, body: string): Problem {
  const unreadable: Problem = {
    type: "about:blank",
    title: "Error",
    status,
    detail: body.slice(0, 300),
    code: "unknown",
    current_version: null,
    pruned_seq: null,
    retry_after: null,
    allowed_next: null,
    missing: null,
  };
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed === "object" && parsed !== null && "code" in parsed && "detail" in parsed) {
      return { ...unreadable, title: "", ...(parsed as Partial<Problem>), status };
    }
  } catch {
    // Not JSON (a proxy's HTML page, say): keep its start as the detail.
  }
  return unreadable;
}

function secondsOf(header: string | null): number | null {
  const seconds = header === null ? Number.NaN : Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : null;
}
