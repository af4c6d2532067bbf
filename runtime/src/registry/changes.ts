/** Who is told of a store's changes: a service's instances changed, and why. */
export class Changes {
  readonly #listeners = new Set<(service: string, why: string) => void>();

  /** Adds a listener; returns the way to remove it. */
  add(listener: (service: string, why: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(service: string, why: string): void {
    for (const listener of this.#listeners) listener(service, why);
  }
}
