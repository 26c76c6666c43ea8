// @streamer-go/client 0.1.0, MIT: browser build, generated from clients/typescript by `npm run build:web`. Do not edit.

// dist/errors.js
var ErrorCode = {
  /** The payload or the message is invalid. Not retryable. */
  Validation: "VALIDATION_ERROR",
  /** No handler is registered for the action. Not retryable. */
  InvalidAction: "INVALID_ACTION",
  /** No such request for this user (another user's request is not revealed). Not retryable. */
  NotFound: "NOT_FOUND",
  /** The token is bad. Not retryable. */
  Unauthorized: "UNAUTHORIZED",
  /** The request is not yours. Not retryable. */
  Forbidden: "FORBIDDEN",
  /** Over the 128 KB message limit or the 400 KB item limit. Not retryable. */
  PayloadTooLarge: "PAYLOAD_TOO_LARGE",
  /** Throttled. Retryable. */
  RateLimited: "RATE_LIMITED",
  /** The work ran out of time. Retryable. */
  Timeout: "TIMEOUT",
  /** Unexpected; the details are in the server's logs. Retryable. */
  InternalError: "INTERNAL_ERROR",
  /** A dependency of the server is down. Retryable. */
  ServiceUnavailable: "SERVICE_UNAVAILABLE",
  /** Cancelled by the client (streamer.cancel). Not retryable. */
  Cancelled: "CANCELLED"
};
var retryableCodes = /* @__PURE__ */ new Set([
  ErrorCode.RateLimited,
  ErrorCode.Timeout,
  ErrorCode.InternalError,
  ErrorCode.ServiceUnavailable
]);
function isRetryableCode(code) {
  return retryableCodes.has(code);
}
var StreamerError = class _StreamerError extends Error {
  /** The protocol's code, e.g. "VALIDATION_ERROR". */
  code;
  /** Whether the same request may be sent again. */
  retryable;
  /** When the server says to retry, in milliseconds from when the error arrived. */
  retryAfterMs;
  /** Machine-readable details, e.g. {"field": "payload"}. */
  details;
  /** The request the error is about, when there is one. */
  requestId;
  constructor(code, message, init = {}) {
    super(`${code}: ${message}`);
    this.name = "StreamerError";
    this.code = code;
    this.retryable = init.retryable ?? isRetryableCode(code);
    this.retryAfterMs = init.retryAfterMs;
    this.details = init.details;
    this.requestId = init.requestId;
  }
  /** Builds the error a server message carries; now is when it arrived (ms since the epoch). */
  static fromWire(err, requestId, now = Date.now()) {
    if (!err || typeof err.code !== "string") {
      return new _StreamerError(ErrorCode.InternalError, "error without details", { requestId });
    }
    let retryAfterMs;
    const wait = err.retry?.retry_after_ms;
    const after = err.retry?.after ? Date.parse(err.retry.after) : NaN;
    if (typeof wait === "number" && Number.isFinite(wait)) {
      retryAfterMs = Math.max(0, wait);
    } else if (!Number.isNaN(after)) {
      retryAfterMs = Math.max(0, after - now);
    }
    return new _StreamerError(err.code, String(err.message ?? ""), {
      requestId,
      details: err.details ?? void 0,
      retryable: err.retry?.retryable,
      retryAfterMs
    });
  }
};
var ConnectionError = class extends Error {
  /** What went wrong. */
  reason;
  constructor(reason, message, options) {
    super(message, options);
    this.name = "ConnectionError";
    this.reason = reason;
  }
};
function isStreamerError(err, code) {
  return err instanceof StreamerError && (code === void 0 || err.code === code);
}

// dist/progress.js
var ITERATOR_BUFFER = 16;
var ProgressFeed = class {
  #latest;
  #ended = false;
  #subscribers = /* @__PURE__ */ new Set();
  /** Passes an update to every iterator. */
  push(p) {
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
  end() {
    this.#ended = true;
    for (const s of this.#subscribers) {
      s.wake?.();
    }
  }
  [Symbol.asyncIterator]() {
    const sub = { queue: this.#latest ? [this.#latest] : [], wake: void 0 };
    this.#subscribers.add(sub);
    const finish = () => {
      this.#subscribers.delete(sub);
      return { done: true, value: void 0 };
    };
    return {
      next: async () => {
        while (sub.queue.length === 0 && !this.#ended) {
          await new Promise((resolve) => {
            sub.wake = resolve;
          });
          sub.wake = void 0;
        }
        const value = sub.queue.shift();
        return value ? { done: false, value } : finish();
      },
      return: async () => finish()
    };
  }
};

// dist/call.js
var Call = class {
  id;
  action;
  result;
  response;
  progress;
  /** The frame to send again until the request is acknowledged; undefined for a resume. */
  frame;
  /** Whether the frame went out on some socket (a call never sent can be dropped locally). */
  sent = false;
  /** Whether cancel was asked for. */
  cancelRequested = false;
  #status;
  #acknowledged;
  #settled = false;
  #lastPercentage = -1;
  // Typed for any T, so that a Call<T> is a Call<unknown> to the client that settles it.
  #resolve;
  #reject;
  #host;
  #options;
  #onAbort;
  constructor(host, id, action, frame, options) {
    this.#host = host;
    this.id = id;
    this.action = action;
    this.frame = frame;
    this.#options = options;
    this.#acknowledged = frame === void 0;
    this.progress = new ProgressFeed();
    this.response = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.result = this.response.then((r) => r.data);
    this.response.catch(() => {
    });
    this.result.catch(() => {
    });
    this.#onAbort = () => this.cancel();
    options.signal?.addEventListener("abort", this.#onAbort, { once: true });
  }
  get status() {
    return this.#status;
  }
  get acknowledged() {
    return this.#acknowledged;
  }
  get settled() {
    return this.#settled;
  }
  cancel() {
    if (this.#settled) {
      return;
    }
    this.cancelRequested = true;
    this.#host.requestCancel(this);
  }
  /** Records that the server holds the request, with its status. */
  acknowledge(status) {
    this.#acknowledged = true;
    this.setStatus(status);
  }
  /** Records the request's status and tells onStatus when it changed. */
  setStatus(status) {
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
  deliver(p, onlyNewer) {
    if (this.#settled || p.percentage < this.#lastPercentage || onlyNewer && p.percentage === this.#lastPercentage) {
      return;
    }
    this.#lastPercentage = p.percentage;
    this.setStatus("PROCESSING");
    this.progress.push(p);
    callback(this.#options.onProgress, p);
  }
  /** Ends the call once; later outcomes are ignored. */
  settle(outcome) {
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
};
function callback(f, arg) {
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

// dist/protocol.js
var MAX_MESSAGE_BYTES = 128 * 1024;
var IDLE_TIMEOUT_MS = 10 * 60 * 1e3;
var MAX_CONNECTION_MS = 2 * 60 * 60 * 1e3;
var MAX_ID_LENGTH = 128;
var MAX_RESULT_PARTS = 1024;
var SystemAction = {
  Status: "streamer.status",
  Cancel: "streamer.cancel",
  Ping: "streamer.ping"
};
var RESERVED_PREFIX = "streamer.";
function isValidId(id) {
  return id.length > 0 && id.length <= MAX_ID_LENGTH && /^[A-Za-z0-9._:-]+$/.test(id);
}
function encodeFrame(action, id, payload) {
  const frame = { action, id };
  if (payload !== void 0) {
    frame.payload = payload;
  }
  return JSON.stringify(frame);
}
function systemFrame(action, id) {
  return JSON.stringify({ action, payload: { id } });
}
var PING_FRAME = JSON.stringify({ action: SystemAction.Ping });
var utf8 = new TextEncoder();
function byteLength(frame) {
  return utf8.encode(frame).length;
}
function parseServerMessage(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    return void 0;
  }
  if (typeof value !== "object" || value === null || typeof value.type !== "string") {
    return void 0;
  }
  return value;
}

// dist/reassembler.js
var MAX_RESULT_CHARS = 16 * 1024 * 1024;
var MAX_PENDING = 100;
var Reassembler = class {
  #pending = /* @__PURE__ */ new Map();
  /** Takes one result message; see the class comment. */
  add(msg) {
    const part = msg.part;
    if (!part) {
      return { done: true, message: msg };
    }
    const id = msg.request_id;
    const { index, count } = part;
    if (!Number.isInteger(index) || !Number.isInteger(count) || count < 1 || count > MAX_RESULT_PARTS || index < 0 || index >= count) {
      this.#pending.delete(id);
      throw new Error(`streamer: request ${id}: bad result part ${index} of ${count} (max ${MAX_RESULT_PARTS} parts)`);
    }
    let st = this.#pending.get(id);
    if (!st) {
      if (this.#pending.size >= MAX_PENDING) {
        throw new Error(`streamer: request ${id}: too many split results in progress`);
      }
      st = { parts: new Array(count), got: 0, chars: 0 };
      this.#pending.set(id, st);
    }
    if (st.parts.length !== count) {
      this.#pending.delete(id);
      throw new Error(`streamer: request ${id}: part count ${count}, earlier parts said ${st.parts.length}`);
    }
    if (st.parts[index] !== void 0) {
      this.#pending.delete(id);
      throw new Error(`streamer: request ${id}: duplicate part ${index}`);
    }
    const text = typeof msg.data_part === "string" ? msg.data_part : "";
    st.chars += text.length;
    if (st.chars > MAX_RESULT_CHARS) {
      this.#pending.delete(id);
      throw new Error(`streamer: request ${id}: result over ${MAX_RESULT_CHARS} characters`);
    }
    st.parts[index] = text;
    st.got++;
    if (index === count - 1) {
      st.last = msg;
    }
    if (st.got < count) {
      return { done: false };
    }
    this.#pending.delete(id);
    let data;
    try {
      data = JSON.parse(st.parts.join(""));
    } catch (err) {
      throw new Error(`streamer: request ${id}: the reassembled result is not JSON`, { cause: err });
    }
    const whole = { ...st.last ?? msg, type: "result", data };
    delete whole.part;
    delete whole.data_part;
    return { done: true, message: whole };
  }
  /** Drops the parts held for a request: it ended, or the answers will come again (a resume). */
  discard(requestId) {
    this.#pending.delete(requestId);
  }
  /** Reports whether parts of a request's result are held, waiting for the rest. */
  holds(requestId) {
    return this.#pending.has(requestId);
  }
};

// dist/client.js
var defaults = {
  pingIntervalMs: 3e5,
  reconnectBaseDelayMs: 100,
  reconnectMaxDelayMs: 1e4,
  maxReconnectAttempts: 10,
  connectTimeoutMs: 1e4
};
var OPEN = 1;
var StreamerClient = class _StreamerClient {
  /** The WebSocket URL, without the token. */
  url;
  /** Settles when the first connection opens, or fails with a ConnectionError. */
  ready;
  #settings;
  #token;
  #WebSocket;
  #calls = /* @__PURE__ */ new Map();
  #parts = new Reassembler();
  #listeners = /* @__PURE__ */ new Set();
  #host = { requestCancel: (call) => this.#requestCancel(call) };
  #pongs = [];
  #state = "connecting";
  #socket;
  #dialing;
  #reconnects = 0;
  #lastHeard = 0;
  #pinger;
  #wakeUp;
  #closed = false;
  #closedError;
  /**
   * Starts connecting to url (ws:// or wss://, e.g.
   * wss://{api}.execute-api.{region}.amazonaws.com/{stage}). Throws a TypeError for a bad
   * URL or when there is no WebSocket constructor.
   */
  constructor(url, options = {}) {
    const u = new URL(url);
    if (u.protocol !== "ws:" && u.protocol !== "wss:") {
      throw new TypeError(`streamer: the URL must be ws:// or wss://, got ${url}`);
    }
    const ctor = options.WebSocket ?? globalThis.WebSocket;
    if (!ctor) {
      throw new TypeError("streamer: this runtime has no WebSocket (Node before 22): pass one in the WebSocket option, e.g. the ws package's");
    }
    this.url = url;
    this.#WebSocket = ctor;
    this.#token = options.token;
    this.#settings = {
      pingIntervalMs: options.pingIntervalMs ?? defaults.pingIntervalMs,
      reconnectBaseDelayMs: options.reconnectBaseDelayMs ?? defaults.reconnectBaseDelayMs,
      reconnectMaxDelayMs: Math.max(options.reconnectMaxDelayMs ?? defaults.reconnectMaxDelayMs, options.reconnectBaseDelayMs ?? defaults.reconnectBaseDelayMs),
      maxReconnectAttempts: Math.max(0, options.maxReconnectAttempts ?? defaults.maxReconnectAttempts),
      connectTimeoutMs: options.connectTimeoutMs ?? defaults.connectTimeoutMs
    };
    this.ready = this.#open();
    this.ready.catch(() => {
    });
  }
  /** Connects to url and resolves once the socket is open; rejects with a ConnectionError. */
  static async connect(url, options = {}) {
    const client = new _StreamerClient(url, options);
    await client.ready;
    return client;
  }
  /** The connection's state. */
  get state() {
    return this.#state;
  }
  /** How many times the client has reconnected. */
  get reconnects() {
    return this.#reconnects;
  }
  /**
   * Calls listener on every change of connection state, and on every new reconnect
   * attempt; returns the function that unsubscribes it.
   */
  on(event, listener) {
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
  call(action, payload, options = {}) {
    if (!action || action.startsWith(RESERVED_PREFIX)) {
      throw new TypeError(`streamer: action ${JSON.stringify(action)} is empty or reserved (use ping() and call.cancel())`);
    }
    const id = options.id ?? randomId();
    this.#checkNew(id);
    const frame = encodeFrame(action, id, payload);
    const call = new Call(this.#host, id, action, frame, options);
    const size = byteLength(frame);
    if (options.signal?.aborted) {
      call.settle(cancelledUnsent(id));
    } else if (size > MAX_MESSAGE_BYTES) {
      call.settle({
        ok: false,
        error: new StreamerError(ErrorCode.PayloadTooLarge, "message over the 128 KiB limit", {
          requestId: id,
          details: { size_bytes: size, limit_bytes: MAX_MESSAGE_BYTES }
        })
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
  resume(id, options = {}) {
    this.#checkNew(id);
    const call = new Call(this.#host, id, options.action ?? "", void 0, options);
    call.sent = true;
    this.#track(call, systemFrame(SystemAction.Status, id));
    if (options.signal?.aborted) {
      call.cancel();
    }
    return call;
  }
  /** Sends streamer.ping and resolves on the pong; rejects with a ConnectionError when not connected. */
  ping() {
    if (this.#closed) {
      return Promise.reject(this.#closedError);
    }
    return new Promise((resolve, reject) => {
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
  close() {
    if (!this.#closed) {
      this.#shutdown(new ConnectionError("closed", "streamer: the client was closed"));
    }
  }
  /** Sends streamer.cancel now or once the request is acknowledged, or drops a call never sent. */
  #requestCancel(call) {
    if (!call.sent) {
      this.#finish(call, cancelledUnsent(call.id));
    } else if (call.acknowledged) {
      this.#send(systemFrame(SystemAction.Cancel, call.id));
    }
  }
  #checkNew(id) {
    if (!isValidId(id)) {
      throw new TypeError(`streamer: invalid request id ${JSON.stringify(id)}: 1-128 characters of [A-Za-z0-9._:-]`);
    }
    if (this.#calls.has(id)) {
      throw new Error(`streamer: a call with id ${id} is already in flight`);
    }
  }
  /** Registers a call and sends its first frame, now or when the socket is open. */
  #track(call, frame) {
    if (this.#closed) {
      call.settle({ ok: false, error: this.#closedError });
      return;
    }
    this.#calls.set(call.id, call);
    if (this.#send(frame)) {
      call.sent = true;
    }
  }
  /** Writes one frame on the open socket; false when there is none (the resume sends it). */
  #send(frame) {
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
  async #open() {
    let ws;
    try {
      ws = await this.#dial();
    } catch (err) {
      const e = err instanceof ConnectionError ? err : new ConnectionError("connect_failed", `streamer: ${asError(err).message}`, { cause: err });
      if (!this.#closed) {
        this.#shutdown(e);
      }
      throw this.#closedError ?? e;
    }
    this.#adopt(ws);
  }
  /** Opens one socket: fetches the token, connects, waits for open. */
  async #dial() {
    const fail = (why, cause) => new ConnectionError("connect_failed", `streamer: could not connect to ${this.url}: ${why}`, { cause });
    let token;
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
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(fail(`no answer within ${this.#settings.connectTimeoutMs} ms`));
          closeQuietly(ws);
        }, this.#settings.connectTimeoutMs);
        const settle = (err) => {
          clearTimeout(timer);
          if (err) {
            reject(err);
          } else {
            resolve();
          }
        };
        ws.addEventListener("open", () => settle());
        ws.addEventListener("error", (ev) => settle(fail(typeof ev?.message === "string" && ev.message ? ev.message : "the handshake failed")));
        ws.addEventListener("close", (ev) => settle(fail(`closed with code ${ev?.code ?? "?"}`)));
      });
    } finally {
      this.#dialing = void 0;
    }
    if (this.#closed) {
      closeQuietly(ws);
      throw this.#closedError;
    }
    return ws;
  }
  /** Makes ws the current socket and resumes every call in flight on it. */
  #adopt(ws) {
    this.#socket = ws;
    this.#lastHeard = Date.now();
    ws.addEventListener("message", (ev) => {
      if (ws === this.#socket && typeof ev.data === "string") {
        this.#receive(ev.data);
      }
    });
    ws.addEventListener("close", (ev) => this.#dropped(ws, new Error(`the socket closed with code ${ev?.code ?? "?"}${ev?.reason ? ` (${ev.reason})` : ""}`)));
    if (this.#settings.pingIntervalMs > 0) {
      this.#pinger = setInterval(() => this.#keepAlive(ws), this.#settings.pingIntervalMs);
    }
    this.#setState("open");
    for (const call of this.#calls.values()) {
      this.#parts.discard(call.id);
      if (call.acknowledged) {
        this.#send(systemFrame(SystemAction.Status, call.id));
        if (call.cancelRequested) {
          this.#send(systemFrame(SystemAction.Cancel, call.id));
        }
      } else if (call.frame !== void 0 && this.#send(call.frame)) {
        call.sent = true;
      }
    }
  }
  /** Sends streamer.ping, or drops a socket that has heard nothing for two intervals. */
  #keepAlive(ws) {
    if (Date.now() - this.#lastHeard > 2 * this.#settings.pingIntervalMs) {
      this.#dropped(ws, new Error(`nothing heard for ${Date.now() - this.#lastHeard} ms`));
    } else {
      this.#send(PING_FRAME);
    }
  }
  /** Handles the loss of ws: unless the client is closed, reconnects. */
  #dropped(ws, why) {
    if (ws !== this.#socket) {
      return;
    }
    this.#socket = void 0;
    clearInterval(this.#pinger);
    closeQuietly(ws);
    this.#rejectPongs(new ConnectionError("not_connected", "streamer: the socket dropped before the pong", { cause: why }));
    if (!this.#closed) {
      void this.#reconnect(why);
    }
  }
  /** Redials with jittered exponential backoff until a socket opens or the attempts run out. */
  async #reconnect(why) {
    let last = why;
    const { maxReconnectAttempts: attempts, reconnectBaseDelayMs: base, reconnectMaxDelayMs: cap } = this.#settings;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      this.#setState("reconnecting", { attempt, error: last });
      const d = Math.min(cap, base * 2 ** Math.min(attempt - 1, 30));
      await this.#sleep(d / 2 + Math.random() * (d / 2));
      if (this.#closed) {
        return;
      }
      let ws;
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
    this.#shutdown(new ConnectionError("reconnect_failed", `streamer: the socket dropped and ${message}: ${last.message}`, { cause: last }));
  }
  /** Waits ms, or until the client is closed. */
  #sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  /** Ends the client: every call in flight fails with err. */
  #shutdown(err) {
    this.#closed = true;
    this.#closedError = err;
    clearInterval(this.#pinger);
    this.#wakeUp?.();
    const ws = this.#socket;
    this.#socket = void 0;
    if (ws) {
      try {
        ws.close(1e3);
      } catch {
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
  #rejectPongs(err) {
    const pongs = this.#pongs;
    this.#pongs = [];
    for (const p of pongs) {
      p.reject(err);
    }
  }
  #setState(state, extra = {}) {
    const previous = this.#state;
    if (state === previous && extra.attempt === void 0) {
      return;
    }
    this.#state = state;
    const change = { state, previous, ...extra };
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
  #receive(text) {
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
      return;
    }
    switch (msg.type) {
      case "ack":
        this.#acknowledge(call, msg.status ?? "PENDING");
        break;
      case "progress":
        call.deliver({ percentage: msg.percentage, message: msg.message ?? "", metadata: msg.metadata, timestamp: msg.timestamp }, false);
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
  #acknowledge(call, status) {
    const first = !call.acknowledged;
    call.acknowledge(status);
    if (first && call.cancelRequested) {
      this.#send(systemFrame(SystemAction.Cancel, call.id));
    }
  }
  #result(call, msg) {
    let whole;
    try {
      const r = this.#parts.add(msg);
      if (!r.done) {
        return;
      }
      whole = r.message;
    } catch (err) {
      this.#finish(call, {
        ok: false,
        error: new StreamerError(ErrorCode.InternalError, asError(err).message, { requestId: call.id })
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
  #status(call, m) {
    switch (m.status) {
      case "COMPLETED":
        if ((m.result === null || m.result === void 0) && this.#parts.holds(call.id)) {
          return;
        }
        this.#finish(call, { ok: true, response: response(call, m.result ?? null) });
        return;
      case "FAILED":
      case "CANCELLED":
        this.#finish(call, {
          ok: false,
          error: m.error ? StreamerError.fromWire(m.error, call.id) : m.status === "CANCELLED" ? new StreamerError(ErrorCode.Cancelled, "cancelled by the client", { requestId: call.id }) : new StreamerError(ErrorCode.InternalError, "the request failed", { requestId: call.id })
        });
        return;
      default:
        this.#acknowledge(call, m.status);
        if (m.percentage > 0) {
          call.deliver({ percentage: m.percentage, message: m.message ?? "", timestamp: (/* @__PURE__ */ new Date()).toISOString() }, true);
        }
    }
  }
  /** Removes a call and ends it. */
  #finish(call, outcome) {
    if (this.#calls.get(call.id) === call) {
      this.#calls.delete(call.id);
    }
    this.#parts.discard(call.id);
    call.settle(outcome);
  }
};
function response(call, data, action, metadata, durationMs) {
  return { requestId: call.id, action: action || call.action, data, metadata, durationMs };
}
function cancelledUnsent(id) {
  return { ok: false, error: new StreamerError(ErrorCode.Cancelled, "cancelled before it was sent", { requestId: id }) };
}
function closeQuietly(ws) {
  try {
    ws.close();
  } catch {
  }
}
function asError(err) {
  return err instanceof Error ? err : new Error(String(err));
}
function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
export {
  ConnectionError,
  ErrorCode,
  IDLE_TIMEOUT_MS,
  MAX_CONNECTION_MS,
  MAX_ID_LENGTH,
  MAX_MESSAGE_BYTES,
  MAX_RESULT_PARTS,
  StreamerClient,
  StreamerError,
  defaults,
  isRetryableCode,
  isStreamerError,
  isValidId
};
