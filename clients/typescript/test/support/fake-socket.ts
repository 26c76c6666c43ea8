// A scripted WebSocket for the unit tests: the test plays the server, socket by socket.
import type { WebSocketConstructor, WebSocketLike } from "@streamer-go/client";

type Listener = (event: unknown) => void;

/** A frame the client sent, parsed. */
export interface SentFrame {
  action: string;
  id?: string;
  payload?: unknown;
}

/** One client socket; the test drives its server side. */
export class FakeSocket implements WebSocketLike {
  readyState = 0;
  readonly url: URL;
  readonly sent: string[] = [];
  readonly #listeners = new Map<string, Listener[]>();

  constructor(url: string) {
    this.url = new URL(url);
  }

  addEventListener(type: string, listener: Listener): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }

  send(data: string): void {
    if (this.readyState !== 1) {
      throw new Error("fake socket: send while not open");
    }
    this.sent.push(data);
  }

  /** The client closes the socket. */
  close(code = 1000, reason = ""): void {
    if (this.readyState >= 2) {
      return;
    }
    this.readyState = 3;
    this.#emit("close", { code, reason });
  }

  /** The frames sent so far, parsed. */
  frames(): SentFrame[] {
    return this.sent.map((s) => JSON.parse(s) as SentFrame);
  }

  /** The server accepts the handshake. */
  accept(): void {
    this.readyState = 1;
    this.#emit("open", {});
  }

  /** The server refuses the handshake (as a 401 shows in the ws package). */
  refuse(message = "Unexpected server response: 401"): void {
    this.readyState = 3;
    this.#emit("error", { message });
    this.#emit("close", { code: 1006, reason: "" });
  }

  /** The server sends a message (an object is sent as JSON). */
  reply(msg: object | string): void {
    this.#emit("message", { data: typeof msg === "string" ? msg : JSON.stringify(msg) });
  }

  /** The server closes the socket: 1000 after DeleteConnection, 1001 after 2 hours or 10 idle minutes. */
  drop(code = 1001, reason = "Going away"): void {
    this.readyState = 3;
    this.#emit("close", { code, reason });
  }

  #emit(type: string, event: unknown): void {
    for (const l of this.#listeners.get(type) ?? []) {
      l(event);
    }
  }
}

/** The server side of every socket a client opens through its WebSocket constructor. */
export class FakeServer {
  readonly sockets: FakeSocket[] = [];
  /** What the server does with a new socket; default: accept it. */
  onDial: (socket: FakeSocket) => void = (s) => s.accept();
  /** The constructor to pass as ClientOptions.WebSocket. */
  readonly WebSocket: WebSocketConstructor;

  constructor() {
    const server = this;
    this.WebSocket = class extends FakeSocket {
      constructor(url: string) {
        super(url);
        server.sockets.push(this);
        queueMicrotask(() => server.onDial(this));
      }
    };
  }

  /** The latest socket. */
  get last(): FakeSocket {
    const s = this.sockets.at(-1);
    if (!s) {
      throw new Error("fake server: no socket yet");
    }
    return s;
  }

  /** Waits for socket number n (from 1) to exist and returns it. */
  async socket(n: number): Promise<FakeSocket> {
    await until(() => this.sockets.length >= n, `socket ${n}`);
    return this.sockets[n - 1]!;
  }
}

/**
 * Waits until cond holds, yielding to timers and I/O between checks. The limit is only a
 * safety net against a hung test, generous for a loaded machine.
 */
export async function until(cond: () => boolean, what: string, limitMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > limitMs) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
}
