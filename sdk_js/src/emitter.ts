/** Typed listeners without EventTarget (missing in some React Native versions): `on` returns its own unsubscribe. */

// `never[]` parameters let any listener signature fit the constraint; each map entry keeps its exact type.
type ListenerMap<Events> = { [E in keyof Events]: (...args: never[]) => void };

export class Emitter<Events extends ListenerMap<Events>> {
  private readonly listeners = new Map<keyof Events, Set<Events[keyof Events]>>();

  /** Call `listener` on every `event` until the returned function is called. */
  on<E extends keyof Events>(event: E, listener: Events[E]): () => void {
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
  emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        (listener as (...values: Parameters<Events[E]>) => void)(...args);
      } catch (error) {
        console.error(`omnicart: a "${String(event)}" listener failed; the others still run`, error);
      }
    }
  }
}
