// `streamer local`, built from this repository, run as a user runs it: the tests reach
// it only through its WebSocket API, its HTTP endpoints and its log output.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

import { until } from "./fake-socket.js";

/** The CLI: $STREAMER_BIN, or what scripts/build-streamer.mjs built. */
export const streamerBin = process.env.STREAMER_BIN ?? fileURLToPath(new URL("../../bin/streamer", import.meta.url));

/** The line of `streamer local`'s banner that gives its address. */
const bannerAddr = /^ +Page +http:\/\/(127\.0\.0\.1:\d+)\/$/m;

/** A running `streamer local`. */
export class LocalStack {
  #addr = ""; // host:port, from the banner
  #logs = "";
  readonly #proc: ChildProcess;
  readonly #exited: Promise<number | null>;

  private constructor(proc: ChildProcess) {
    this.#proc = proc;
    const append = (chunk: Buffer) => {
      this.#logs += chunk.toString();
    };
    proc.stdout!.on("data", append);
    proc.stderr!.on("data", append);
    this.#exited = once(proc, "exit").then(([code]) => code as number | null);
  }

  get httpURL(): string {
    return `http://${this.#addr}`;
  }

  get wsURL(): string {
    return `ws://${this.#addr}/`;
  }

  /**
   * Starts `streamer local` on port 0, a free loopback port the kernel picks (no other
   * process can take it between the pick and the listen), reads which from the banner,
   * and waits until /healthz answers 200.
   */
  static async start(): Promise<LocalStack> {
    const proc = spawn(streamerBin, ["local", "--addr", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] });
    const stack = new LocalStack(proc);
    let exited = false;
    void stack.#exited.then(() => {
      exited = true;
    });
    await until(
      () => exited || (stack.#addr = bannerAddr.exec(stack.#logs)?.[1] ?? "") !== "",
      "streamer local to start",
      60_000,
    );
    if (exited) {
      throw new Error(`streamer local exited before it was ready:\n${stack.#logs}`);
    }
    const health = await fetch(`${stack.httpURL}/healthz`);
    if (health.status !== 200) {
      throw new Error(`streamer local: /healthz answered ${health.status}`);
    }
    return stack;
  }

  /** A dev token for user in tenant (GET /dev/token, what `streamer token` calls); a negative ttl gives an expired one. */
  async token(user: string, tenant = "tenant-a", ttl = "1h"): Promise<string> {
    const res = await fetch(`${this.httpURL}/dev/token?${new URLSearchParams({ user, tenant, ttl })}`);
    if (!res.ok) {
      throw new Error(`/dev/token: ${res.status} ${await res.text()}`);
    }
    return ((await res.json()) as { token: string }).token;
  }

  /**
   * The id API Gateway gave the latest connection of user, read from the stack's
   * "connected" log line (as one reads it from CloudWatch Logs): a client is never told
   * its own connection id. after skips the connections logged before that many lines.
   */
  async connectionId(user: string, after = 0): Promise<string> {
    let id: string | undefined;
    await until(() => {
      id = this.#connections(user).slice(after).at(-1);
      return id !== undefined;
    }, `a "connected" log line for ${user}`);
    return id!;
  }

  /** How many connections of user the logs show so far. */
  connectionCount(user: string): number {
    return this.#connections(user).length;
  }

  #connections(user: string): string[] {
    const ids: string[] = [];
    for (const line of this.#logs.split("\n")) {
      const f = logFields(line);
      if (f.msg === "connected" && f.user_id === user && f.connection_id) {
        ids.push(f.connection_id);
      }
    }
    return ids;
  }

  /** Disconnects a client from the server side, as API Gateway's DeleteConnection does. */
  async drop(connectionId: string): Promise<void> {
    const res = await fetch(`${this.httpURL}/@connections/${encodeURIComponent(connectionId)}`, { method: "DELETE" });
    if (res.status !== 204) {
      throw new Error(`DeleteConnection ${connectionId}: ${res.status}`);
    }
  }

  /** GET /metrics: the stack's counters of AWS-equivalent calls. */
  async metrics(): Promise<Metrics> {
    return (await (await fetch(`${this.httpURL}/metrics`)).json()) as Metrics;
  }

  /** The last n lines of the stack's output, for a failure message. */
  tail(n = 40): string {
    return this.#logs.trimEnd().split("\n").slice(-n).join("\n");
  }

  /** Stops the stack with SIGTERM and requires a clean exit. */
  async stop(): Promise<void> {
    if (this.#proc.exitCode === null) {
      this.#proc.kill("SIGTERM");
    }
    const code = await this.#exited;
    if (code !== 0) {
      throw new Error(`streamer local exited with ${code}:\n${this.tail()}`);
    }
  }
}

/** The part of GET /metrics the tests read. */
export interface Metrics {
  lambda: Record<string, { invocations: number }>;
  apigateway: { messages_in: number; connects: number };
}

const logField = /([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|\S*)/g;

/** The key=value pairs of one log/slog text line. */
function logFields(line: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const m of line.matchAll(logField)) {
    const v = m[2]!;
    fields[m[1]!] = v.startsWith('"') ? (JSON.parse(v) as string) : v;
  }
  return fields;
}
