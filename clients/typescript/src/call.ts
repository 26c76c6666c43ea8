import { ErrorCode, StreamerError } from "./errors.js";
import { ProgressFeed, type Progress } from "./progress.js";
import type { RequestStatus } from "./protocol.js";

/** Options of one call. */
export interface CallOptions {
  /**
   * The request id: 1 to 128 characters of `[A-Za-z0-9._:-]`. Sending an id again never
   * runs async work twice (the server answers with the request's state), which is what
   * makes resuming safe. Default: a random id.
   */
  id?: string;
  /**
   * Cancels the request when aborted (streamer.cancel). The call then ends with a
   * CANCELLED StreamerError, unless it finished first. Aborted before the call was sent,
   * it is never sent.
   */
  signal?: AbortSignal;
  /** Called with each progress update, in order; percentages never go down. */
  onProgress?: (progress: Progress) => void;
  /** Called when the request's known status changes (PENDING on the ack of an async request, ...). */
  onStatus?: (status: RequestStatus) => void;
}

/** What a successful call returns besides its data. */
export interface CallResponse<T> {
  /** The request id. */
  requestId: string;
  /** The action called. */
  action: string;
  /** The result's data, reassembled when the server split it. */
  data: T;
  /** The result's metadata, when the handler set some. */
  metadata?: Record<string, unknown>;
  /** How long the handler ran, when the result says (a status answer does not). */
  durationMs?: number;
}

/**
 * One request in flight: its progress, acknowledgement and outcome. It ends exactly
 * once, whatever the server sends twice (a resumed call may hear its result again).
 */
export interface StreamerCall<T = unknown> {
  /** The request id. */
  readonly id: string;
  /** The action called. */
  readonly action: string;
  /**
   * The result's data. Rejects with a StreamerError (the server's code), or a
   * ConnectionError when the client closed or gave up reconnecting first. A rejection
   * nobody awaits is not reported as unhandled.
   */
  readonly result: Promise<T>;
  /** The whole successful response: data, metadata, duration. Rejects as result does. */
  readonly response: Promise<CallResponse<T>>;
  /**
   * The progress updates: `for await (const p of call.progress)`. Each iterator starts
   * with the latest update so far, and ends when the call ends, whatever the outcome.
   */
  readonly progress: AsyncIterable<Progress>;
  /** The request's last known status; undefined until the server has said anything. */
  readonly status: RequestStatus | undefined;
  /** Whether the server queued the request (an async action): it can be cancelled and resumed. */
  readonly acknowledged: boolean;
  /** Whether the call has ended. */
  readonly settled: boolean;
  /**
   * Asks the server to cancel the request (streamer.cancel); the call then ends with a
   * CANCELLED StreamerError, unless it finished first. A request not yet acknowledged is
   * cancelled as soon as it is; a synchronous action cannot be cancelled and ends with
   * its result.
   */
  cancel(): void;
}

/** What a Call needs from its client. */
export interface CallHost {
  /** Sends streamer.cancel for the call now, or once the socket is back. */
  requestCancel(call: Call<unknown>): void;
}

/** A call's outcome: the response, or the error. */
export type Outcome = { ok: true; response: CallResponse<unknown> } | { ok: false; error: Error };

/** The client's side of a StreamerCall. */
export class Call<T> implements StreamerCall<T> {
  readonly id: string;
  readonly action: string;
  readonly result: Promise<T>;
  readonly response: Promise<CallResponse<T>>;
  readonly progress: ProgressFeed;
  /** The frame to send again until the request is acknowledged; undefined for a resume. */
  readonly frame: string | undefined;
  /** Whether the frame went out on some socket (a call never sent can be dropped locally). */
  sent = false;
  /** Whether cancel was asked for. */
  cancelRequested = false;

  #status: RequestStatus | undefined;
  #acknowledged: boolean;
  #settled = false;
  #lastPercentage = -1;
  // Typed for any T, so that a Call<T> is a Call<unknown> to the client that settles it.
  #resolve!: (r: CallResponse<unknown>) => void;
  #reject!: (e: Error) => void;
  readonly #host: CallHost;
  readonly #options: CallOptions;
  readonly #onAbort: () => void;

  constructor(host: CallHost, id: string, action: string, frame: string | undefined, options: CallOptions) {
    this.#host = host;
    this.id = id;
    this.action = action;
    this.frame = frame;
    this.#options = options;
    this.#acknowledged = frame === undefined;
    this.progress = new ProgressFeed();
    this.response = new Promise<CallResponse<T>>((resolve, reject) => {
      this.#resolve = resolve as (r: CallResponse<unknown>) => void;
      this.#reject = reject;
    });
    this.result = this.response.then((r) => r.data);
    // The outcome may be observed through either promise, or neither (onProgress only).
    this.response.catch(() => {});
    this.result.catch(() => {});
    this.#onAbort = () => this.cancel();
    options.signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  get status(): RequestStatus | undefined {
    return this.#status;
  }

  get acknowledged(): boolean {
    return this.#acknowledged;
  }

  get settled(): boolean {
    return this.#settled;
  }

  cancel(): void {
    if (this.#settled) {
      return;
    }
    this.cancelRequested = true;
    this.#host.requestCancel(this);
  }

  /** Records that the server holds the request, with its status. */
  acknowledge(status: RequestStatus): void {
    this.#acknowledged = true;
    this.setStatus(status);
  }

  /** Records the request's status and tells onStatus when it changed. */
  setStatus(status: RequestStatus): void {
    if (this.#settled || status === this.#status) {
      return;
    }
    this.#status = status;
    callback(this.#options.onStatus, status);
  }

  /**
   * Passes a progress update on, unless the call has ended or it is older than one
   * already passed on. With onlyNewer, an update that does not advance the percentage is
   * dropped too (a status answer repeating known progress).
   */
  deliver(p: Progress, onlyNewer: boolean): void {
    if (this.#settled || p.percentage < this.#lastPercentage || (onlyNewer && p.percentage === this.#lastPercentage)) {
      return;
    }
    this.#lastPercentage = p.percentage;
    this.setStatus("PROCESSING");
    this.progress.push(p);
    callback(this.#options.onProgress, p);
  }

  /** Ends the call once; later outcomes are ignored. */
  settle(outcome: Outcome): void {
    if (this.#settled) {
      return;
    }
    if (outcome.ok) {
      this.setStatus("COMPLETED");
    } else if (outcome.error instanceof StreamerError) {
      this.setStatus(outcome.error.code === ErrorCode.Cancelled ? "CANCELLED" : "FAILED");
    }
    this.#settled = true;
    this.#options.signal?.removeEventListener("abort", this.#onAbort);
    this.progress.end();
    if (outcome.ok) {
      this.#resolve(outcome.response);
    } else {
      this.#reject(outcome.error);
    }
  }
}

/**
 * Runs a user's callback; an exception it throws is reported as uncaught (as an event
 * listener's would be) instead of breaking the client's handling of the socket.
 */
function callback<A>(f: ((arg: A) => void) | undefined, arg: A): void {
  if (!f) {
    return;
  }
  try {
    f(arg);
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}
