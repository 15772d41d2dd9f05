import type { Lease } from './lease.js';

/** The leases lent out now, oldest first, and how many were ever lent (`PoolStats.acquired`). */
export class LentLeases implements Iterable<Lease> {
  readonly #leases = new Set<Lease>();
  #acquired = 0;

  /** Leases lent out now (`PoolStats.borrowed`). */
  get size(): number {
    return this.#leases.size;
  }

  /** Leases lent since the pool was made. */
  get acquired(): number {
    return this.#acquired;
  }

  /** Records a lease as it is lent. */
  add(lease: Lease): void {
    this.#leases.add(lease);
    this.#acquired++;
  }

  /** Records a lease as given back. */
  delete(lease: Lease): void {
    this.#leases.delete(lease);
  }

  /** The lease lent longest ago: leases enter as they are lent, so it is the first one. */
  oldest(): Lease | undefined {
    return this.#leases.values().next().value;
  }

  /** The leases lent out now, oldest first. */
  [Symbol.iterator](): Iterator<Lease> {
    return this.#leases.values();
  }
}
