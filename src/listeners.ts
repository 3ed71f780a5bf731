/** Removes a listener. */
export type Unsubscribe = () => void;

/**
 * A typed set of listeners for one kind of message, for the places that hand
 * a stream on to several readers (the overlay's frames, alerts, inspections).
 * A listener that throws is the caller's bug and propagates.
 */
export class Listeners<A extends unknown[]> {
  private readonly set = new Set<(...args: A) => void>();

  add(fn: (...args: A) => void): Unsubscribe {
    this.set.add(fn);
    return () => {
      this.set.delete(fn);
    };
  }

  /** Listeners subscribed now. */
  get size(): number {
    return this.set.size;
  }

  emit(...args: A): void {
    for (const fn of this.set) fn(...args);
  }
}
