// Every guarantee of docs/PROTOCOL.md, through the package in Node, against the real
// local stack (`streamer local` built from this repository) over real sockets. Node 20
// has no platform WebSocket: the tests pass the ws package's.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import {
  ConnectionError,
  ErrorCode,
  MAX_MESSAGE_BYTES,
  StreamerClient,
  isStreamerError,
  type ClientOptions,
  type Progress,
  type StateChange,
  type StreamerCall,
} from "@streamer-go/client";
import WebSocket from "ws";

import { LocalStack } from "./support/stack.js";

let stack: LocalStack;
before(async () => {
  stack = await LocalStack.start();
});
after(async () => {
  await stack.stop();
});

/** A fresh user for one test, a client of theirs, and how many tokens it fetched. */
async function connect(name: string, options: ClientOptions = {}) {
  const user = `${name}-${randomUUID().slice(0, 8)}`;
  let tokens = 0;
  const client = await StreamerClient.connect(stack.wsURL, {
    WebSocket,
    token: () => {
      tokens++;
      return stack.token(user);
    },
    reconnectBaseDelayMs: 20,
    ...options,
  });
  return { user, client, tokens: () => tokens };
}

/** The rejection of p; fails when p resolves. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail("the promise resolved");
}

/** Waits for the call's first progress update. */
async function firstProgress(call: StreamerCall<unknown>): Promise<Progress> {
  for await (const p of call.progress) {
    return p;
  }
  throw new Error(`call ${call.id} ended without progress: ${String(await rejection(call.result))}`);
}

/** The payload of the demo's process_data. */
const processData = (items: number, itemMs: number, resultKb = 0) => ({ items, item_ms: itemMs, result_kb: resultKb });

describe("the protocol through the client, on streamer local", () => {
  test("sync: echo answers on the socket, without an ack", async () => {
    const { client } = await connect("echo");
    const call = client.call<{ hello: string }>("echo", { hello: "world" });
    const res = await call.response;
    assert.deepEqual(res.data, { hello: "world" });
    assert.equal(res.action, "echo");
    assert.equal(typeof res.durationMs, "number");
    assert.equal(call.acknowledged, false);
    const health = await client.call<{ status: string; version: string }>("health").result;
    assert.equal(health.status, "ok");
    client.close();
  });

  test("errors: validation and unknown actions, with their codes", async () => {
    const { client } = await connect("errors");
    const invalid = await rejection(client.call("echo", null).result);
    assert.ok(isStreamerError(invalid, ErrorCode.Validation), String(invalid));
    assert.equal(invalid.retryable, false);
    assert.deepEqual(invalid.details, { field: "payload" });

    const range = await rejection(client.call("process_data", processData(0, 1)).result);
    assert.ok(isStreamerError(range, ErrorCode.Validation), String(range));

    const unknown = await rejection(client.call("no_such_action", {}).result);
    assert.ok(isStreamerError(unknown, ErrorCode.InvalidAction), String(unknown));
    assert.equal(client.state, "open", "the connection stays open");
    await client.ping();
    client.close();
  });

  test("async: ack, progress in order through both interfaces, then the result", async () => {
    const { client } = await connect("report");
    const period = { start_date: "2026-01-01", end_date: "2026-01-07" };
    const statuses: string[] = [];
    const viaCallback: number[] = [];
    const call = client.call<{ days: number; rows: unknown[]; start_date: string }>("generate_report", period, {
      onProgress: (p) => viaCallback.push(p.percentage),
      onStatus: (s) => statuses.push(s),
    });
    const viaIterator: Progress[] = [];
    for await (const p of call.progress) {
      viaIterator.push(p);
    }
    const report = await call.result;
    assert.equal(report.days, 7);
    assert.equal(report.rows.length, 7);
    assert.equal(report.start_date, "2026-01-01");
    assert.equal(call.acknowledged, true);
    assert.deepEqual(statuses, ["PENDING", "PROCESSING", "COMPLETED"]);
    // 10, 30, 60 and 90 %, half a second apart: coalescing keeps them, never drops the last.
    assert.ok(viaCallback.length > 0);
    for (const pct of viaCallback) {
      assert.ok([10, 30, 60, 90].includes(pct), String(pct));
    }
    assert.deepEqual(
      [...viaCallback].sort((a, b) => a - b),
      viaCallback,
      "progress never goes down",
    );
    assert.equal(viaCallback.at(-1), 90, "the latest state is delivered");
    assert.deepEqual(
      viaIterator.map((p) => p.percentage),
      viaCallback,
    );
    assert.ok(viaIterator.every((p) => p.message !== "" && p.timestamp !== ""));
    client.close();
  });

  test("coalescing: many reports become few messages, the last one kept", async () => {
    const { client } = await connect("coalesce");
    // About a second of work: at five pushes a second at most, the messages stay under a
    // fifth of the reports unless a loaded machine stretches that second past 40.
    const items = 1000;
    const seen: Progress[] = [];
    const call = client.call("process_data", processData(items, 1), { onProgress: (p) => seen.push(p) });
    assert.deepEqual(await call.result, { items_processed: items });
    assert.ok(seen.length > 0 && seen.length < items / 5, `${items} reports became ${seen.length} messages`);
    assert.equal(seen.at(-1)!.percentage, 100);
    assert.equal(seen.at(-1)!.metadata?.items_processed, items);
    client.close();
  });

  test("idempotent ids: the same id again joins the running request, then gets the stored outcome", async () => {
    const { user, client } = await connect("idem");
    const id = `idem-${randomUUID()}`;
    const call = client.call("process_data", processData(10, 150), { id });
    const first = await firstProgress(call);

    // The same id from another connection of the user, while it runs: answered with the
    // request's state (not a new ack), and its progress follows the new connection.
    const other = await StreamerClient.connect(stack.wsURL, { WebSocket, token: await stack.token(user) });
    const statuses: string[] = [];
    const seen: number[] = [];
    const joined = other.call("process_data", processData(10, 150), {
      id,
      onStatus: (s) => statuses.push(s),
      onProgress: (p) => seen.push(p.percentage),
    });
    assert.deepEqual(await joined.result, { items_processed: 10 });
    assert.equal(statuses[0], "PROCESSING", "the resend is answered with the running request's status");
    assert.ok(
      seen.every((p) => p >= first.percentage),
      `progress went on from ${first.percentage}%, a second run would start over: ${seen.join(",")}`,
    );

    // Once finished, the same id gets the stored outcome from a status answer: no new run,
    // so no duration.
    const again = await other.call("process_data", processData(10, 150), { id }).response;
    assert.deepEqual(again.data, { items_processed: 10 });
    assert.equal(again.durationMs, undefined);
    other.close();
    client.close();
  });

  test("resume: a request outlives its client; another client of the user gets the rest", async () => {
    const { user, client } = await connect("resume");
    const call = client.call("process_data", processData(10, 150));
    await firstProgress(call);
    client.close();
    const closed = await rejection(call.result);
    assert.ok(closed instanceof ConnectionError && closed.reason === "closed", String(closed));

    const other = await StreamerClient.connect(stack.wsURL, { WebSocket, token: await stack.token(user) });
    const seen: number[] = [];
    const resumed = other.resume(call.id, { action: "process_data", onProgress: (p) => seen.push(p.percentage) });
    assert.deepEqual(await resumed.result, { items_processed: 10 });
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      seen,
      "progress never goes down",
    );
    other.close();
  });

  test("tenant isolation: another tenant's client cannot see the request", async () => {
    const { client } = await connect("owner");
    const done = client.call("process_data", processData(1, 0));
    await done.result;
    const stranger = await StreamerClient.connect(stack.wsURL, {
      WebSocket,
      token: await stack.token(`stranger-${randomUUID()}`, "tenant-b"),
    });
    const err = await rejection(stranger.resume(done.id).result);
    assert.ok(isStreamerError(err, ErrorCode.NotFound), String(err));
    stranger.close();
    client.close();
  });

  test("cancel: an abort signal stops running work, which ends CANCELLED", async () => {
    const { client } = await connect("cancel");
    const ac = new AbortController();
    const seen: number[] = [];
    const call = client.call("process_data", processData(200, 50), {
      signal: ac.signal,
      onProgress: (p) => seen.push(p.percentage),
    });
    await firstProgress(call);
    ac.abort();
    const err = await rejection(call.result);
    assert.ok(isStreamerError(err, ErrorCode.Cancelled), String(err));
    assert.equal(err.retryable, false);
    assert.equal(call.status, "CANCELLED");
    assert.ok(seen.at(-1)! < 100, "the work stopped");

    // Aborted before the ack: the cancel waits for it, the request is cancelled all the same.
    const early = new AbortController();
    const quick = client.call("process_data", processData(200, 50), { signal: early.signal });
    early.abort();
    assert.ok(isStreamerError(await rejection(quick.result), ErrorCode.Cancelled));
    client.close();
  });

  test("message limit: over 128 KB is refused before sending; the socket stays usable", async () => {
    const { client } = await connect("oversized");
    const before = await stack.metrics();
    const err = await rejection(client.call("echo", "x".repeat(MAX_MESSAGE_BYTES)).result);
    assert.ok(isStreamerError(err, ErrorCode.PayloadTooLarge), String(err));
    assert.equal(err.details?.limit_bytes, MAX_MESSAGE_BYTES);
    assert.equal((await stack.metrics()).apigateway.messages_in, before.apigateway.messages_in, "nothing reached the gateway");
    assert.deepEqual(await client.call("echo", 1).result, 1);
    client.close();
  });

  test("large results: split by the server, reassembled by the client, also from a status", async () => {
    const { user, client } = await connect("large");
    const padding = "0123456789abcdef".repeat((300 * 1024) / 16);
    const call = client.call<{ items_processed: number; padding: string }>("process_data", processData(1, 0, 300));
    const big = await call.result;
    assert.equal(big.items_processed, 1);
    assert.equal(big.padding, padding);

    // Asked for after it finished: the stored result comes again in parts, then the status.
    const other = await StreamerClient.connect(stack.wsURL, { WebSocket, token: await stack.token(user) });
    const again = await other.resume<{ padding: string }>(call.id).result;
    assert.equal(again.padding, padding);
    other.close();

    // A synchronous result over the limit: a message of exactly 128 KB echoed back in a
    // larger envelope.
    const id = `sync-large-${randomUUID()}`;
    const envelope = JSON.stringify({ action: "echo", id, payload: "" }).length;
    const text = "y".repeat(MAX_MESSAGE_BYTES - envelope);
    assert.equal(await client.call("echo", text, { id }).result, text);
    client.close();
  });

  test("tokens: a bad or expired one is refused at connect", async () => {
    const expired = await stack.token(`expired-${randomUUID()}`, "tenant-a", "-5m");
    for (const token of ["not-a-jwt", expired, ""]) {
      const err = await rejection(StreamerClient.connect(stack.wsURL, { WebSocket, token }));
      assert.ok(err instanceof ConnectionError && err.reason === "connect_failed", String(err));
      assert.match(err.message, /401/, "the ws package says why");
    }
  });

  test("a call survives a server-side drop (DeleteConnection) and completes with exactly one result", async () => {
    const { user, client, tokens } = await connect("drop");
    const states: StateChange[] = [];
    client.on("state", (s) => states.push(s));
    const seen: number[] = [];
    let outcomes = 0;
    // 5 s of work: the drop, after the first progress, comes well before the end even on a
    // loaded machine, so the call is still running when its socket goes away.
    const call = client.call("process_data", processData(50, 100), { onProgress: (p) => seen.push(p.percentage) });
    void call.result.then(
      () => outcomes++,
      () => outcomes++,
    );
    const first = await firstProgress(call);
    await stack.drop(await stack.connectionId(user));

    assert.deepEqual(await call.result, { items_processed: 50 });
    assert.equal(client.reconnects, 1);
    assert.deepEqual(
      states.map((s) => s.state),
      ["reconnecting", "open"],
    );
    assert.match(String(states[0]!.error), /code 1000/, "DeleteConnection closes with 1000");
    assert.equal(tokens(), 2, "the reconnect fetched a fresh token");
    assert.equal(stack.connectionCount(user), 2);
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      seen,
      "progress never went down across the reconnect",
    );
    assert.ok(first.percentage < 100 && seen.at(-1) === 100, `progress went on after the drop: ${seen.join(",")}`);
    await client.ping(); // the new socket serves
    assert.equal(outcomes, 1, "exactly one outcome");
    client.close();
  });

  test("close: calls in flight fail with a ConnectionError, the client says closed", async () => {
    const { client } = await connect("close");
    const call = client.call("process_data", processData(50, 100));
    const states: string[] = [];
    client.on("state", (s) => states.push(s.state));
    client.close();
    const err = await rejection(call.result);
    assert.ok(err instanceof ConnectionError && err.reason === "closed");
    assert.deepEqual(states, ["closed"]);
    const late = await rejection(client.call("echo", 1).result);
    assert.ok(late instanceof ConnectionError);
  });
});
