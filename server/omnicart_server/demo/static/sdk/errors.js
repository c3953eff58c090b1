/** Base of every SDK error. */
export class OmnicartError extends Error {
    name = "OmnicartError";
}
/** The server could not be reached or did not answer in time. */
export class TransportError extends OmnicartError {
    name = "TransportError";
}
/** The server refused the request; `detail` says what to do, `code` is stable enough to branch on. */
export class ProblemError extends OmnicartError {
    problem;
    name = "ProblemError";
    /** The HTTP status of the answer. */
    status;
    /** The server's ErrorCode (`unknown_sku`, `version_conflict` ...), or "unknown" for a body that is no problem. */
    code;
    /** A sentence a person can act on. */
    detail;
    constructor(problem) {
        super(`${problem.status} ${problem.code}: ${problem.detail}`);
        this.problem = problem;
        this.status = problem.status;
        this.code = problem.code;
        this.detail = problem.detail;
    }
}
/** The credential is missing, invalid, expired or revoked: start or refresh the session. */
export class AuthError extends ProblemError {
    name = "AuthError";
}
/** Authenticated, but not allowed. */
export class ForbiddenError extends ProblemError {
    name = "ForbiddenError";
}
/** No such resource for this customer. */
export class NotFoundError extends ProblemError {
    name = "NotFoundError";
}
/** The state moved on (a stale version, a locked cart, another driver); fetch and decide again. */
export class ConflictError extends ProblemError {
    name = "ConflictError";
    /** The cart's version now, on a `version_conflict`. */
    get currentVersion() {
        return this.problem.current_version;
    }
}
/** The request itself is wrong; sending it again will not help. */
export class InvalidRequestError extends ProblemError {
    name = "InvalidRequestError";
}
/** Too many attempts; wait `retryAfter` seconds. */
export class RateLimitedError extends ProblemError {
    name = "RateLimitedError";
    /** Seconds to wait, from the problem body or else the Retry-After header. */
    get retryAfter() {
        return this.problem.retry_after;
    }
}
/** The server failed, also after the retries. */
export class ServerError extends ProblemError {
    name = "ServerError";
}
/** The live stream cannot go on (its token was rejected for good, or it closed with a code that forbids retrying). */
export class StreamError extends OmnicartError {
    closeCode;
    reason;
    name = "StreamError";
    constructor(
    /** The WebSocket close code (omnicart.protocol CloseCode). */
    closeCode, 
    /** The server's reason, or what the SDK found. */
    reason, options) {
        super(`stream closed ${closeCode}: ${reason}`, options);
        this.closeCode = closeCode;
        this.reason = reason;
    }
}
const BY_STATUS = new Map([
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
export function fromProblem(status, body, retryAfterHeader = null) {
    const problem = parseProblem(status, body);
    const retryAfter = problem.retry_after ?? secondsOf(retryAfterHeader);
    const withRetry = { ...problem, retry_after: retryAfter };
    const errorClass = status >= 500 ? ServerError : (BY_STATUS.get(status) ?? ProblemError);
    return new errorClass(withRetry);
}
function parseProblem(status, body) {
    const unreadable = {
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
        const parsed = JSON.parse(body);
        if (typeof parsed === "object" && parsed !== null && "code" in parsed && "detail" in parsed) {
            return { ...unreadable, title: "", ...parsed, status };
        }
    }
    catch {
        // Not JSON (a proxy's HTML page, say): keep its start as the detail.
    }
    return unreadable;
}
function secondsOf(header) {
    const seconds = header === null ? Number.NaN : Number(header);
    return Number.isFinite(seconds) && seconds >= 0 ? seconds : null;
}
