/** Waiting between attempts: full-jitter backoff (AWS Architecture Blog, "Exponential Backoff And Jitter"). */
/** Endless delays in ms: random in [0, min(cap, first × 2^n)), so reconnecting clients never move in step. */
export function* backoff(firstMs, capMs) {
    for (let attempt = 0;; attempt++) {
        yield Math.random() * Math.min(capMs, firstMs * 2 ** attempt);
    }
}
/** The next delay of an endless backoff. */
export function nextDelay(delays) {
    return delays.next().value;
}
/** Resolve after `ms`, or as soon as `wake` is called (a reconnect the network told us about, a close). */
export function sleep(ms) {
    let wake = () => { };
    const done = new Promise((resolve) => {
        const timer = setTimeout(resolve, ms);
        wake = () => {
            clearTimeout(timer);
            resolve();
        };
    });
    return { done, wake };
}
