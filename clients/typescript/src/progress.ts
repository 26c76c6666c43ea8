/** One progress update of a request. */
export interface Progress {
  /** 0 to 100; never goes down within a call. */
  percentage: number;
  /** What the handler says it is doing. */
  message: string;
  /** What the handler attached, e.g. {"items_processed": 42}. */
  metadata?: Record<string, unknown>;
  /** When the server sent it (RFC 3339), or when the client learned it from a status answer. */
  timestamp: string;
}

/** How many updates an iterator that lags holds before it drops the oldest. */
const ITERATOR_BUFFER = 16;

interface Subscriber {
  queue: Progress[];
  wake: (() => void) | undefined;
}

/**
 * The progress updates of one call as an async iterable: every iterator starts with the
 * latest update so far (if any), then gets each later one, and ends when the call ends.
 * An iterator that lags drops its oldest updates, never the latest.
 */
export class ProgressFeed implements AsyncIterable<Progress> {
  #latest: Progress | undefined;
  #ended = false;
  readonly #subscribers = new Set<Subscriber>();

  /** Passes an update to every iterator. */
  push(p: Progress): void {
    this.#latest = p;
    for (const s of this.#subscribers) {
      s.queue.push(p);
      if (s.queue.length > ITERATOR_BUFFER) {
        s.queue.shift();
      }
      s.wake?.();
    }
  }

  /** Ends every iterator once it has taken what it holds. */
  end(): void {
    this.#ended = true;
    for (const s of this.#subscribers) {
      s.wake?.();
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Progress> {
    const sub: Subscriber = { queue: this.#latest ? [this.#latest] : [], wake: undefined };
    this.#subscribers.add(sub);
    const finish = (): IteratorResult<Progress> => {
      this.#subscribers.delete(sub);
      return { done: true, value: undefined };
    };
    return {
      next: async () => {
        while (sub.queue.length === 0 && !this.#ended) {
          await new Promise<void>((resolve) => {
            sub.wake = resolve;
          });
          sub.wake = undefined;
        }
        const value = sub.queue.shift();
        return value ? { done: false, value } : finish();
      },
      return: async () => finish(),
    };
  }
}
