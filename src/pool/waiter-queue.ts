/**
 * A FIFO queue whose entries can leave from anywhere (timeout, abort) in O(1): a doubly linked list.
 */
export class WaiterQueue<T> {
  #head: Node<T> | undefined;
  #tail: Node<T> | undefined;
  #size = 0;

  /** Entries in the queue. */
  get size(): number {
    return this.#size;
  }

  /** Appends a value; the returned node removes it with {@link remove}. */
  push(value: T): Node<T> {
    const node: Node<T> = { value, prev: this.#tail, next: undefined, queued: true };
    if (this.#tail) this.#tail.next = node;
    else this.#head = node;
    this.#tail = node;
    this.#size++;
    return node;
  }

  /** The oldest entry, left in the queue. */
  peek(): T | undefined {
    return this.#head?.value;
  }

  /** The newest entry, left in the queue. */
  last(): T | undefined {
    return this.#tail?.value;
  }

  /** The entries, oldest first (the queue must not change while this runs). */
  *values(): IterableIterator<T> {
    for (let node = this.#head; node; node = node.next) yield node.value;
  }

  /** Takes the oldest entry. */
  shift(): T | undefined {
    const node = this.#head;
    if (!node) return undefined;
    this.remove(node);
    return node.value;
  }

  /** Removes a node; a node already removed is ignored. */
  remove(node: Node<T>): void {
    if (!node.queued) return;
    node.queued = false;
    if (node.prev) node.prev.next = node.next;
    else this.#head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.#tail = node.prev;
    node.prev = node.next = undefined;
    this.#size--;
  }
}

/** A queue entry. */
export interface Node<T> {
  readonly value: T;
  prev: Node<T> | undefined;
  next: Node<T> | undefined;
  queued: boolean;
}
