/** Typed listeners without EventTarget (missing in some React Native versions): `on` returns its own unsubscribe. */
export class Emitter {
    listeners = new Map();
    /** Call `listener` on every `event` until the returned function is called. */
    on(event, listener) {
        let set = this.listeners.get(event);
        if (set === undefined) {
            set = new Set();
            this.listeners.set(event, set);
        }
        set.add(listener);
        return () => {
            set.delete(listener);
        };
    }
    /** Call every listener of `event` in order; one that throws is reported and the others still run. */
    emit(event, ...args) {
        for (const listener of [...(this.listeners.get(event) ?? [])]) {
            try {
                listener(...args);
            }
            catch (error) {
                console.error(`omnicart: a "${String(event)}" listener failed; the others still run`, error);
            }
        }
    }
}
