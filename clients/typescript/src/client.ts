import { Call, type CallOptions, type CallHost, type CallResponse, type Outcome, type StreamerCall } from "./call.js";
import { ConnectionError, ErrorCode, StreamerError } from "./errors.js";
import {
  MAX_MESSAGE_BYTES,
  PING_FRAME,
  RESERVED_PREFIX,
  SystemAction,
  byteLength,
  encodeFrame,
  isValidId,
  parseServerMessage,
  systemFrame,
  type RequestStatus,
  type ResultMessage,
  type StatusMessage,
} from "./protocol.js";
import { Reassembler } from "./reassembler.js";

/** A token, or a function that returns one: it is called for every connection, reconnects included. */
export type TokenSource = string | (() => string | Promise<string>);

/**
 * The part of the WebSocket API the client uses: the browser's and Node 22's `WebSocket`,
 * and the `ws` package's, all have it.
 */
export interface WebSocketLike {
  /** 1 while open. */
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  // The event's type differs between implementations; the client reads `data`, `code`,
  // `reason` and `message` from it.
  addEventListener(type: "open" | "message" | "close" | "error", listener: (event: any) => void): void;
}

/** A WebSocket constructor, such as `WebSocket` or the `ws` package's default export. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Options of a StreamerClient. Every field is optional and has the default shown. */
export interface ClientOptions {
  /**
   * The JWT, sent as the `token` query parameter (PROTOCOL.md: browsers cannot set
   * headers). A function is called for every connection, so a reconnect gets a fresh
   * token. Default: none (the stack refuses the connection unless it needs no token).
   */
  token?: TokenSource;
  /**
   * The WebSocket constructor. Default: the platform's `globalThis.WebSocket` (browsers,
   * Node 22 and later); on Node 20 pass the `ws` package's.
   */
  WebSocket?: WebSocketConstructor;
  /**
   * Time between two streamer.ping keep-alives, well inside API Gateway's 10-minute idle
   * timeout; a socket that hears nothing for two intervals is treated as dropped.
   * Default 5 minutes; 0 disables the pings.
   */
  pingIntervalMs?: number;
  /** Backoff before the first reconnect attempt; it doubles after each failed one and each wait is drawn from its upper half (jitter). Default 100 ms. */
  reconnectBaseDelayMs?: number;
  /** The longest wait between two reconnect attempts. Default 10 s. */
  reconnectMaxDelayMs?: number;
  /** How many reconnect attempts in a row may fail before the client gives up and fails its calls. Default 10; 0 disables reconnecting. */
  maxReconnectAttempts?: number;
  /** How long one connection attempt may take, token included. Default 10 s. */
  connectTimeoutMs?: number;
}

/** Default values of ClientOptions. */
export const defaults = {
  pingIntervalMs: 300_000,
  reconnectBaseDelayMs: 100,
  reconnectMaxDelayMs: 10_000,
  maxReconnectAttempts: 10,
  connectTimeoutMs: 10_000,
} as const;

/** The state of a client's connection. */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/** A change of connection state, or a new reconnect attempt. */
export interface StateChange {
  /** The new state. */
  state: ConnectionState;
  /** The state before. */
  previous: ConnectionState;
  /** While reconnecting: the attempt about to be made, from 1. */
  attempt?: number;
  /** Why the socket dropped (reconnecting), or why the client ended (closed, unless close() was called). */
  error?: Error;
}

/** Options of StreamerClient.resume. */
export interface ResumeOptions extends Omit<CallOptions, "id"> {
  /** The action of the request, for CallResponse.action until the result names it. Default "". */
  action?: string;
}

/** The readyState of an open WebSocket. */
const OPEN = 1;

type Settings = Required<Omit<ClientOptions, "token" | "WebSocket">>;

/**
 * A connection to a Streamer WebSocket API that survives socket drops. It keeps the
 * socket alive with streamer.ping; when the socket drops (API Gateway closes every
 * socket after 2 hours) it reconnects with jittered backoff and resumes every call in
 * flight: acknowledged (async) requests with streamer.status, which also routes their
 * later progress to the new socket, and the others by sending them again with the same
 * id, which the server answers idempotently. Results split into parts are reassembled.
 *
 * `new StreamerClient(url, options)` starts connecting at once (calls made meanwhile are
 * sent when it is open); `await StreamerClient.connect(url, options)` waits for it.
 */
export class StreamerClient {
  /** The WebSocket URL, without the token. */
  readonly url: string;
  /** Settles when the first connection opens, or fails with a ConnectionError. */
  readonly ready: Promise<void>;

  readonly #settings: Settings;
  readonly #token: TokenSource | undefined;
  readonly #WebSocket: WebSocketConstructor;
  readonly #calls = new Map<string, Call<unknown>>();
  readonly #parts = new Reassembler();
  readonly #listeners = new Set<(change: StateChange) => void>();
  readonly #host: CallHost = { requestCancel: (call) => this.#requestCancel(call) };
  #pongs: { resolve: () => void; reject: (e: Error) => void }[] = [];
  #state: ConnectionState = "connecting";
  #socket: WebSocketLike | undefined;
  #dialing: WebSocketLike | undefined;
  #reconnects = 0;
  #lastHeard = 0;
  #pinger: ReturnType<typeof setInterval> | undefined;
  #wakeUp: (() => void) | undefined;
  #closed = false;
  #closedError: ConnectionError | undefined;

  /**
   * Starts connecting to url (ws:// or wss://, e.g.
   * wss://{api}.execute-api.{region}.amazonaws.com/{stage}). Throws a TypeError for a bad
   * URL or when there is no WebSocket constructor.
   */
  constructor(url: string, options: ClientOptions = {}) {
    const u = new URL(url);
    if (u.protocol !== "ws:" && u.protocol !== "wss:") {
      throw new TypeError(`streamer: the URL must be ws:// or wss://, got ${url}`);
    }
    const ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!ctor) {
      throw new TypeError(
        "streamer: this runtime has no WebSocket (Node before 22): pass one in the WebSocket option, e.g. the ws package's",
      );
    }
    this.url = url;
    this.#WebSocket = ctor;
    this.#token = options.token;
    this.#settings = {
      pingIntervalMs: options.pingIntervalMs ?? defaults.pingIntervalMs,
      reconnectBaseDelayMs: options.reconnectBaseDelayMs ?? defaults.reconnectBaseDelayMs,
      reconnectMaxDelayMs: Math.max(
        options.reconnectMaxDelayMs ?? defaults.reconnectMaxDelayMs,
        options.reconnectBaseDelayMs ?? defaults.reconnectBaseDelayMs,
      ),
      maxReconnectAttempts: Math.max(0, options.maxReconnectAttempts ?? defaults.maxReconnectAttempts),
      connectTimeoutMs: options.connectTimeoutMs ?? defaults.connectTimeoutMs,
    };
    this.ready = this.#open();
    this.ready.catch(() => {}); // also reported through the calls and the state
  }

  /** Connects to url and resolves once the socket is open; rejects with a ConnectionError. */
  static async connect(url: string, options: ClientOptions = {}): Promise<StreamerClient> {
    const client = new StreamerClient(url, options);
    await client.ready;
    return client;
  }

  /** The connection's state. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** How many times the client has reconnected. */
  get reconnects(): number {
    return this.#reconnects;
  }

  /**
   * Calls listener on every change of connection state, and on every new reconnect
   * attempt; returns the function that unsubscribes it.
   */
  on(event: "state", listener: (change: StateChange) => void): () => void {
    if (event !== "state") {
      throw new TypeError(`streamer: unknown event ${String(event)}`);
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Sends action with payload (any JSON value; undefined sends none) and returns the call
   * in flight. A message over 128 KB is not sent: its result rejects with a
   * PAYLOAD_TOO_LARGE StreamerError. While the socket is down the call waits and is sent
   * when it is back. Throws a TypeError for an empty or reserved action or a bad id, and
   * an Error when a call with the same id is in flight.
   */
  call<T = unknown>(action: string, payload?: unknown, options: CallOptions = {}): StreamerCall<T> {
    if (!action || action.startsWith(RESERVED_PREFIX)) {
      throw new TypeError(`streamer: action ${JSON.stringify(action)} is empty or reserved (use ping() and call.cancel())`);
    }
    const id = options.id ?? randomId();
    this.#checkNew(id);
    const frame = encodeFrame(action, id, payload);
    const call = new Call<T>(this.#host, id, action, frame, options);
    const size = byteLength(frame);
    if (options.signal?.aborted) {
      call.settle(cancelledUnsent(id));
    } else if (size > MAX_MESSAGE_BYTES) {
      call.settle({
        ok: false,
        error: new StreamerError(ErrorCode.PayloadTooLarge, "message over the 128 KiB limit", {
          requestId: id,
          details: { size_bytes: size, limit_bytes: MAX_MESSAGE_BYTES },
        }),
      });
    } else {
      this.#track(call, frame);
    }
    return call;
  }

  /**
   * Follows a request sent earlier, by this client or another (a page that was reloaded):
   * streamer.status gets its state and routes its later progress and its outcome here.
   * A request of another user ends with NOT_FOUND.
   */
  resume<T = unknown>(id: string, options: ResumeOptions = {}): StreamerCall<T> {
    this.#checkNew(id);
    const call = new Call<T>(this.#host, id, options.action ?? "", undefined, options);
    call.sent = true;
    this.#track(call, systemFrame(SystemAction.Status, id));
    if (options.signal?.aborted) {
      call.cancel();
    }
    return call;
  }

  /** Sends streamer.ping and resolves on the pong; rejects with a ConnectionError when not connected. */
  ping(): Promise<void> {
    if (this.#closed) {
      return Promise.reject(this.#closedError);
    }
    return new Promise<void>((resolve, reject) => {
      if (!this.#send(PING_FRAME)) {
        reject(new ConnectionError("not_connected", "streamer: not connected"));
        return;
      }
      this.#pongs.push({ resolve, reject });
    });
  }

  /**
   * Closes the socket and ends the client. Calls in flight fail with a ConnectionError;
   * their requests go on on the server (resume them by id from another client).
   */
  close(): void {
    if (!this.#closed) {
      this.#shutdown(new ConnectionError("closed", "streamer: the client was closed"));
    }
  }

  /** Sends streamer.cancel now or once the request is acknowledged, or drops a call never sent. */
  #requestCancel(call: Call<unknown>): void {
    if (!call.sent) {
      this.#finish(call, cancelledUnsent(call.id));
    } else if (call.acknowledged) {
      this.#send(systemFrame(SystemAction.Cancel, call.id));
    }
    // Otherwise the cancel goes out with the acknowledgement (#acknowledge).
  }

  #checkNew(id: string): void {
    if (!isValidId(id)) {
      throw new TypeError(`streamer: invalid request id ${JSON.stringify(id)}: 1-128 characters of [A-Za-z0-9._:-]`);
    }
    if (this.#calls.has(id)) {
      throw new Error(`streamer: a call with id ${id} is already in flight`);
    }
  }

  /** Registers a call and sends its first frame, now or when the socket is open. */
  #track(call: Call<unknown>, frame: string): void {
    if (this.#closed) {
      call.settle({ ok: false, error: this.#closedError! });
      return;
    }
    this.#calls.set(call.id, call);
    if (this.#send(frame)) {
      call.sent = true;
    }
  }

  /** Writes one frame on the open socket; false when there is none (the resume sends it). */
  #send(frame: string): boolean {
    const ws = this.#socket;
    if (!ws || ws.readyState !== OPEN) {
      return false;
    }
    try {
      ws.send(frame);
      return true;
    } catch (err) {
      this.#dropped(ws, asError(err));
      return false;
    }
  }

  /** Opens the first connection. */
  async #open(): Promise<void> {
    let ws: WebSocketLike;
    try {
      ws = await this.#dial();
    } catch (err) {
      const e =
        err instanceof ConnectionError
          ? err
          : new ConnectionError("connect_failed", `streamer: ${asError(err).message}`, { cause: err });
      if (!this.#closed) {
        this.#shutdown(e);
      }
      throw this.#closedError ?? e;
    }
    this.#adopt(ws);
  }

  /** Opens one socket: fetches the token, connects, waits for open. */
  async #dial(): Promise<WebSocketLike> {
    const fail = (why: string, cause?: unknown) =>
      new ConnectionError("connect_failed", `streamer: could not connect to ${this.url}: ${why}`, { cause });
    let token: string | undefined;
    try {
      token = typeof this.#token === "function" ? await this.#token() : this.#token;
    } catch (err) {
      throw fail(`token: ${asError(err).message}`, err);
    }
    if (this.#closed) {
      throw this.#closedError;
    }
    const u = new URL(this.url);
    if (token) {
      u.searchParams.set("token", token);
    }
    const ws = new this.#WebSocket(u.toString());
    this.#dialing = ws;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(fail(`no answer within ${this.#settings.connectTimeoutMs} ms`));
          closeQuietly(ws);
        }, this.#settings.connectTimeoutMs);
        const settle = (err?: Error) => {
          clearTimeout(timer);
          if (err) {
            reject(err);
          } else {
            resolve();
          }
        };
        ws.addEventListener("open", () => settle());
        // Browsers do not say why a handshake failed (a 401 looks like a network error);
        // the ws package does, in the error event's message.
        ws.addEventListener("error", (ev: { message?: unknown }) =>
          settle(fail(typeof ev?.message === "string" && ev.message ? ev.message : "the handshake failed")),
        );
        ws.addEventListener("close", (ev: { code?: number }) => settle(fail(`closed with code ${ev?.code ?? "?"}`)));
      });
    } finally {
      this.#dialing = undefined;
    }
    if (this.#closed) {
      closeQuietly(ws);
      throw this.#closedError;
    }
    return ws;
  }

  /** Makes ws the current socket and resumes every call in flight on it. */
  #adopt(ws: WebSocketLike): void {
    this.#socket = ws;
    this.#lastHeard = Date.now();
    ws.addEventListener("message", (ev: { data?: unknown }) => {
      if (ws === this.#socket && typeof ev.data === "string") {
        this.#receive(ev.data);
      }
    });
    ws.addEventListener("close", (ev: { code?: number; reason?: string }) =>
      this.#dropped(ws, new Error(`the socket closed with code ${ev?.code ?? "?"}${ev?.reason ? ` (${ev.reason})` : ""}`)),
    );
    if (this.#settings.pingIntervalMs > 0) {
      this.#pinger = setInterval(() => this.#keepAlive(ws), this.#settings.pingIntervalMs);
    }
    this.#setState("open");
    for (const call of this.#calls.values()) {
      this.#parts.discard(call.id); // the answers repeat the parts
      if (call.acknowledged) {
        this.#send(systemFrame(SystemAction.Status, call.id));
        if (call.cancelRequested) {
          this.#send(systemFrame(SystemAction.Cancel, call.id));
        }
      } else if (call.frame !== undefined && this.#send(call.frame)) {
        call.sent = true;
      }
    }
  }

  /** Sends streamer.ping, or drops a socket that has heard nothing for two intervals. */
  #keepAlive(ws: WebSocketLike): void {
    if (Date.now() - this.#lastHeard > 2 * this.#settings.pingIntervalMs) {
      this.#dropped(ws, new Error(`nothing heard for ${Date.now() - this.#lastHeard} ms`));
    } else {
      this.#send(PING_FRAME);
    }
  }

  /** Handles the loss of ws: unless the client is closed, reconnects. */
  #dropped(ws: WebSocketLike, why: Error): void {
    if (ws !== this.#socket) {
      return;
    }
    this.#socket = undefined;
    clearInterval(this.#pinger);
    closeQuietly(ws);
    this.#rejectPongs(new ConnectionError("not_connected", "streamer: the socket dropped before the pong", { cause: why }));
    if (!this.#closed) {
      void this.#reconnect(why);
    }
  }

  /** Redials with jittered exponential backoff until a socket opens or the attempts run out. */
  async #reconnect(why: Error): Promise<void> {
    let last = why;
    const { maxReconnectAttempts: attempts, reconnectBaseDelayMs: base, reconnectMaxDelayMs: cap } = this.#settings;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      this.#setState("reconnecting", { attempt, error: last });
      const d = Math.min(cap, base * 2 ** Math.min(attempt - 1, 30));
      await this.#sleep(d / 2 + Math.random() * (d / 2));
      if (this.#closed) {
        return;
      }
      let ws: WebSocketLike;
      try {
        ws = await this.#dial();
      } catch (err) {
        if (this.#closed) {
          return;
        }
        last = asError(err);
        continue;
      }
      this.#reconnects++;
      this.#adopt(ws);
      return;
    }
    const message = attempts === 0 ? "reconnecting is disabled" : `gave up after ${attempts} reconnect attempts`;
    this.#shutdown(
      new ConnectionError("reconnect_failed", `streamer: the socket dropped and ${message}: ${last.message}`, { cause: last }),
    );
  }

  /** Waits ms, or until the client is closed. */
  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Ends the client: every call in flight fails with err. */
  #shutdown(err: ConnectionError): void {
    this.#closed = true;
    this.#closedError = err;
    clearInterval(this.#pinger);
    this.#wakeUp?.();
    const ws = this.#socket;
    this.#socket = undefined;
    if (ws) {
      try {
        ws.close(1000);
      } catch {
        // Already closing.
      }
    }
    if (this.#dialing) {
      closeQuietly(this.#dialing);
    }
    this.#rejectPongs(err);
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    for (const call of calls) {
      this.#parts.discard(call.id);
      call.settle({ ok: false, error: err });
    }
    this.#setState("closed", err.reason === "closed" ? {} : { error: err });
  }

  #rejectPongs(err: Error): void {
    const pongs = this.#pongs;
    this.#pongs = [];
    for (const p of pongs) {
      p.reject(err);
    }
  }

  #setState(state: ConnectionState, extra: { attempt?: number; error?: Error } = {}): void {
    const previous = this.#state;
    if (state === previous && extra.attempt === undefined) {
      return;
    }
    this.#state = state;
    const change: StateChange = { state, previous, ...extra };
    for (const listener of [...this.#listeners]) {
      try {
        listener(change);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  /** Handles one message from the server. */
  #receive(text: string): void {
    this.#lastHeard = Date.now();
    const msg = parseServerMessage(text);
    if (!msg) {
      return;
    }
    if (msg.type === "pong") {
      const pongs = this.#pongs;
      this.#pongs = [];
      for (const p of pongs) {
        p.resolve();
      }
      return;
    }
    const call = this.#calls.get(msg.request_id);
    if (!call) {
      return; // about a request this client does not follow, or one that has ended
    }
    switch (msg.type) {
      case "ack":
        this.#acknowledge(call, msg.status ?? "PENDING");
        break;
      case "progress":
        call.deliver(
          { percentage: msg.percentage, message: msg.message ?? "", metadata: msg.metadata, timestamp: msg.timestamp },
          false,
        );
        break;
      case "result":
        this.#result(call, msg);
        break;
      case "error":
        this.#finish(call, { ok: false, error: StreamerError.fromWire(msg.error, call.id) });
        break;
      case "status":
        this.#status(call, msg);
        break;
    }
  }

  /** Marks a call acknowledged; a cancel asked for before is sent now. */
  #acknowledge(call: Call<unknown>, status: RequestStatus): void {
    const first = !call.acknowledged;
    call.acknowledge(status);
    if (first && call.cancelRequested) {
      this.#send(systemFrame(SystemAction.Cancel, call.id));
    }
  }

  #result(call: Call<unknown>, msg: ResultMessage): void {
    let whole: ResultMessage;
    try {
      const r = this.#parts.add(msg);
      if (!r.done) {
        return;
      }
      whole = r.message;
    } catch (err) {
      this.#finish(call, {
        ok: false,
        error: new StreamerError(ErrorCode.InternalError, asError(err).message, { requestId: call.id }),
      });
      return;
    }
    this.#finish(call, { ok: true, response: response(call, whole.data, whole.action, whole.metadata, whole.duration_ms) });
  }

  /**
   * Applies a status message: the answer to streamer.status after a reconnect, to
   * streamer.cancel, or to an id sent again. A terminal status ends the call; a running
   * one marks it acknowledged and passes its progress on.
   */
  #status(call: Call<unknown>, m: StatusMessage): void {
    switch (m.status) {
      case "COMPLETED":
        if ((m.result === null || m.result === undefined) && this.#parts.holds(call.id)) {
          return; // a large result: its parts are arriving as result messages
        }
        this.#finish(call, { ok: true, response: response(call, m.result ?? null) });
        return;
      case "FAILED":
      case "CANCELLED":
        this.#finish(call, {
          ok: false,
          error: m.error
            ? StreamerError.fromWire(m.error, call.id)
            : m.status === "CANCELLED"
              ? new StreamerError(ErrorCode.Cancelled, "cancelled by the client", { requestId: call.id })
              : new StreamerError(ErrorCode.InternalError, "the request failed", { requestId: call.id }),
        });
        return;
      default:
        this.#acknowledge(call, m.status);
        if (m.percentage > 0) {
          call.deliver({ percentage: m.percentage, message: m.message ?? "", timestamp: new Date().toISOString() }, true);
        }
    }
  }

  /** Removes a call and ends it. */
  #finish(call: Call<unknown>, outcome: Outcome): void {
    if (this.#calls.get(call.id) === call) {
      this.#calls.delete(call.id);
    }
    this.#parts.discard(call.id);
    call.settle(outcome);
  }
}

function response(
  call: Call<unknown>,
  data: unknown,
  action?: string,
  metadata?: Record<string, unknown>,
  durationMs?: number,
): CallResponse<unknown> {
  return { requestId: call.id, action: action || call.action, data, metadata, durationMs };
}

function cancelledUnsent(id: string): Outcome {
  return { ok: false, error: new StreamerError(ErrorCode.Cancelled, "cancelled before it was sent", { requestId: id }) };
}

function closeQuietly(ws: WebSocketLike): void {
  try {
    ws.close();
  } catch {
    // A socket still connecting may refuse; it is abandoned either way.
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** A random request id: 32 hex digits. */
function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
