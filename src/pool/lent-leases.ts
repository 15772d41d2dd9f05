import type { Lease } from './lease.js';

/**
 * The leases lent out now, oldest first, and how many were ever lent (`PoolStats.acquired`). A doubly linked
 * list through the leases' own `lentPrev` / `lentNext` fields: lending and returning allocate nothing and hash
 * nothing (a `Set` of objects gives each lease an identity hash, a cost on every acquire).
 */
export class LentLeases implements Iterable<Lease> {
  #head: Lease | undefined;
  #tail: Lease | undefined;
  #size = 0;
  #acquired = 0;

  /** Leases lent out now (`PoolStats.borrowed`). */
  get size(): number {
    return this.#size;
  }

  /** Leases lent since the pool was made. */
  get acquired(): number {
    return this.#acquired;
  }

  /** Records a lease as it is lent; a lease already recorded is ignored. */
  add(lease: Lease): void {
    if (lease.lentListed) return;
    lease.lentListed = true;
    lease.lentPrev = this.#tail;
    lease.lentNext = undefined;
    if (this.#tail) this.#tail.lentNext = lease;
    else this.#head = lease;
    this.#tail = lease;
    this.#size++;
    this.#acquired++;
  }

  /** Records a lease as given back; a lease not lent now is ignored. */
  delete(lease: Lease): void {
    if (!lease.lentListed) return;
    lease.lentListed = false;
    const prev = lease.lentPrev;
    const next = lease.lentNext;
    if (prev) prev.lentNext = next;
    else this.#head = next;
    if (next) next.lentPrev = prev;
    else this.#tail = prev;
    lease.lentPrev = undefined;
    lease.lentNext = undefined;
    this.#size--;
  }

  /** The lease lent longest ago: leases enter as they are lent, so it is the first one. */
  oldest(): Lease | undefined {
    return this.#head;
  }

  /** The leases lent out now, oldest first: a snapshot, so the list may change while it is walked. */
  [Symbol.iterator](): Iterator<Lease> {
    const all: Lease[] = [];
    for (let lease = this.#head; lease; lease = lease.lentNext) all.push(lease);
    return all.values();
  }
}
