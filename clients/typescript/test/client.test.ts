// Unit tests of the client against a scripted server (FakeServer): framing, the
// single-outcome rule, reassembly, cancel, reconnect and resume, keep-alive.
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";

import {
  ConnectionError,
  ErrorCode,
  MAX_MESSAGE_BYTES,
  StreamerClient,
  StreamerError,
  isRetryableCode,
  isStreamerError,
  type ClientOptions,
  type Progress,
  type StateChange,
} from "@streamer-go/client";

import { FakeServer, until } from "./support/fake-socket.js";

const URL_ = "wss://api.example.com/prod";

/** The clients setup made; each test's end closes them, so a failed test leaves no timer behind. */
const clients: StreamerClient[] = [];

/** A client connected to a fresh fake server, and its first socket. */
async function setup(options: ClientOptions = {}) {
  const server = new FakeServer();
  const states: StateChange[] = [];
  const client = new StreamerClient(URL_, { WebSocket: server.WebSocket, token: "tok", reconnectBaseDelayMs: 1, ...options });
  clients.push(client);
  await client.ready;
  client.on("state", (c) => states.push(c));
  return { server, client, states, socket: server.last };
}

/** Rejection reason of p; fails when p resolves. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail("the promise resolved");
}

describe("StreamerClient", () => {
  afterEach(() => {
    for (const c of clients.splice(0)) {
      c.close();
    }
  });

  test("connects with the token in the query string and sends one frame per call", async () => {
    const { client, socket } = await setup();
    assert.equal(socket.url.searchParams.get("token"), "tok");
    assert.equal(client.state, "open");

    const call = client.call("echo", { hello: "world" }, { id: "r-1" });
    assert.deepEqual(socket.frames(), [{ action: "echo", id: "r-1", payload: { hello: "world" } }]);
    socket.reply({ type: "result", request_id: "r-1", action: "echo", success: true, data: { hello: "world" }, duration_ms: 3 });
    assert.deepEqual(await call.result, { hello: "world" });
    assert.deepEqual(await call.response, {
      requestId: "r-1",
      action: "echo",
      data: { hello: "world" },
      metadata: undefined,
      durationMs: 3,
    });
    assert.equal(call.status, "COMPLETED");
    assert.equal(call.acknowledged, false, "a sync result comes without an ack");

    const generated = client.call("health");
    assert.match(generated.id, /^[0-9a-f]{32}$/);
    assert.deepEqual(socket.frames()[1], { action: "health", id: generated.id }, "no payload key without a payload");
    client.close();
  });

  test("refuses reserved actions, bad ids and an id already in flight", async () => {
    const { client } = await setup();
    assert.throws(() => client.call("streamer.ping"), TypeError);
    assert.throws(() => client.call(""), TypeError);
    assert.throws(() => client.call("echo", 1, { id: "has space" }), TypeError);
    assert.throws(() => client.call("echo", 1, { id: "x".repeat(129) }), TypeError);
    client.call("echo", 1, { id: "same" });
    assert.throws(() => client.call("echo", 1, { id: "same" }), /already in flight/);
    client.close();
  });

  test("a message over 128 KB is refused before sending", async () => {
    const { client, socket } = await setup();
    const call = client.call("echo", "x".repeat(MAX_MESSAGE_BYTES));
    const err = await rejection(call.result);
    assert.ok(isStreamerError(err, ErrorCode.PayloadTooLarge), String(err));
    assert.equal(err.retryable, false);
    assert.ok((err.details?.size_bytes as number) > MAX_MESSAGE_BYTES);
    assert.equal(socket.sent.length, 0, "nothing was sent");

    // Multi-byte characters count as their UTF-8 bytes.
    const wide = client.call("echo", "é".repeat(MAX_MESSAGE_BYTES / 2));
    assert.ok(isStreamerError(await rejection(wide.result), ErrorCode.PayloadTooLarge));
    client.close();
  });

  test("an async call: ack, progress in order, one outcome whatever arrives twice", async () => {
    const { client, socket } = await setup();
    const seen: Progress[] = [];
    const statuses: string[] = [];
    const call = client.call<{ n: number }>(
      "job",
      {},
      { id: "a-1", onProgress: (p) => seen.push(p), onStatus: (s) => statuses.push(s) },
    );
    const iterated: number[] = [];
    const iterating = (async () => {
      for await (const p of call.progress) {
        iterated.push(p.percentage);
      }
    })();

    socket.reply({ type: "ack", request_id: "a-1", action: "job", status: "PENDING" });
    assert.equal(call.acknowledged, true);
    for (const pct of [10, 40, 30, 40, 70]) {
      socket.reply({
        type: "progress",
        request_id: "a-1",
        percentage: pct,
        message: `at ${pct}`,
        timestamp: "2026-01-01T00:00:00Z",
      });
    }
    socket.reply({
      type: "result",
      request_id: "a-1",
      action: "job",
      success: true,
      data: { n: 1 },
      metadata: { m: true },
      duration_ms: 9,
    });
    socket.reply({ type: "result", request_id: "a-1", action: "job", success: true, data: { n: 2 }, duration_ms: 9 });
    socket.reply({ type: "error", request_id: "a-1", error: { code: "INTERNAL_ERROR", message: "late" } });
    socket.reply({ type: "progress", request_id: "a-1", percentage: 90, message: "late", timestamp: "2026-01-01T00:00:01Z" });

    assert.deepEqual(await call.result, { n: 1 }, "the first terminal message wins");
    assert.deepEqual((await call.response).metadata, { m: true });
    await iterating;
    assert.deepEqual(
      seen.map((p) => p.percentage),
      [10, 40, 40, 70],
      "an update older than one delivered is dropped; none after the end",
    );
    assert.deepEqual(iterated, [10, 40, 40, 70]);
    assert.deepEqual(statuses, ["PENDING", "PROCESSING", "COMPLETED"]);
    client.close();
  });

  test("errors carry the protocol's code, retryability and retry time", async () => {
    const { client, socket } = await setup();
    const call = client.call("job", {}, { id: "e-1" });
    const after = new Date(Date.now() + 60_000).toISOString();
    socket.reply({
      type: "error",
      request_id: "e-1",
      error: { code: "RATE_LIMITED", message: "slow down", details: { limit: 5 }, retry: { retryable: true, after } },
    });
    const err = await rejection(call.result);
    assert.ok(err instanceof StreamerError);
    assert.equal(err.code, "RATE_LIMITED");
    assert.equal(err.message, "RATE_LIMITED: slow down");
    assert.equal(err.requestId, "e-1");
    assert.deepEqual(err.details, { limit: 5 });
    assert.equal(err.retryable, true);
    assert.ok(err.retryAfterMs! > 50_000 && err.retryAfterMs! <= 60_000, String(err.retryAfterMs));
    assert.equal(call.status, "FAILED");

    // retry_after_ms wins over after: a wait does not depend on the two clocks agreeing.
    const waited = client.call("job", {}, { id: "e-2" });
    socket.reply({
      type: "error",
      request_id: "e-2",
      error: { code: "RATE_LIMITED", message: "slow down", retry: { retryable: true, after, retry_after_ms: 1500 } },
    });
    const waitErr = await rejection(waited.result);
    assert.ok(waitErr instanceof StreamerError);
    assert.equal(waitErr.retryAfterMs, 1500);

    // Without retry information, the code's row of the table decides.
    const table: Record<string, boolean> = {
      VALIDATION_ERROR: false,
      INVALID_ACTION: false,
      NOT_FOUND: false,
      UNAUTHORIZED: false,
      FORBIDDEN: false,
      PAYLOAD_TOO_LARGE: false,
      RATE_LIMITED: true,
      TIMEOUT: true,
      INTERNAL_ERROR: true,
      SERVICE_UNAVAILABLE: true,
      CANCELLED: false,
    };
    assert.deepEqual(Object.values(ErrorCode).sort(), Object.keys(table).sort(), "every code of PROTOCOL.md");
    for (const [code, retryable] of Object.entries(table)) {
      assert.equal(isRetryableCode(code), retryable, code);
      const c = client.call("job");
      socket.reply({ type: "error", request_id: c.id, error: { code, message: "m" } });
      const e = await rejection(c.result);
      assert.ok(isStreamerError(e, code));
      assert.equal(e.retryable, retryable, code);
      assert.equal(e.retryAfterMs, undefined);
    }
    client.close();
  });

  test("split results are reassembled, in any order; a bad part fails the call", async () => {
    const { client, socket } = await setup();
    const data = { rows: Array.from({ length: 50 }, (_, i) => `row ${i} é`) };
    const text = JSON.stringify(data);
    const cuts = [0, 100, 250, text.length];
    const call = client.call("big", {}, { id: "big-1" });
    const parts = cuts.slice(1).map((end, i) => ({
      type: "result",
      request_id: "big-1",
      action: "big",
      success: true,
      duration_ms: 5,
      part: { index: i, count: 3 },
      data_part: text.slice(cuts[i], end),
      ...(i === 2 ? { metadata: { last: true } } : {}),
    }));
    socket.reply(parts[2]!);
    socket.reply(parts[0]!);
    // A status about a completed large result follows its parts with result null: it must
    // not end the call while parts are missing.
    socket.reply({
      type: "status",
      request_id: "big-1",
      status: "COMPLETED",
      percentage: 100,
      message: "",
      result: null,
      error: null,
    });
    assert.equal(call.settled, false);
    socket.reply(parts[1]!);
    const res = await call.response;
    assert.deepEqual(res.data, data);
    assert.deepEqual(res.metadata, { last: true });

    const bad = client.call("big", {}, { id: "big-2" });
    socket.reply({ ...parts[0]!, request_id: "big-2" });
    socket.reply({ ...parts[0]!, request_id: "big-2" }); // a duplicate
    const err = await rejection(bad.result);
    assert.ok(isStreamerError(err, ErrorCode.InternalError), String(err));
    assert.match((err as Error).message, /duplicate part 0/);
    client.close();
  });

  test("status answers: terminal ones end the call, running ones acknowledge and pass progress on", async () => {
    const { client, socket } = await setup();
    const seen: number[] = [];
    const call = client.resume<string>("s-1", { action: "job", onProgress: (p) => seen.push(p.percentage) });
    assert.deepEqual(socket.frames(), [{ action: "streamer.status", payload: { id: "s-1" } }]);
    socket.reply({
      type: "status",
      request_id: "s-1",
      status: "PROCESSING",
      percentage: 40,
      message: "m",
      result: null,
      error: null,
    });
    socket.reply({
      type: "status",
      request_id: "s-1",
      status: "PROCESSING",
      percentage: 40,
      message: "m",
      result: null,
      error: null,
    });
    socket.reply({
      type: "status",
      request_id: "s-1",
      status: "COMPLETED",
      percentage: 100,
      message: "",
      result: "done",
      error: null,
    });
    assert.equal(await call.result, "done");
    assert.deepEqual(seen, [40], "a status repeating known progress is not a new update");
    assert.equal((await call.response).action, "job");

    const failed = client.resume("s-2");
    socket.reply({
      type: "status",
      request_id: "s-2",
      status: "FAILED",
      percentage: 0,
      message: "",
      result: null,
      error: { code: "TIMEOUT", message: "too slow" },
    });
    assert.ok(isStreamerError(await rejection(failed.result), ErrorCode.Timeout));
    const cancelled = client.resume("s-3");
    socket.reply({
      type: "status",
      request_id: "s-3",
      status: "CANCELLED",
      percentage: 0,
      message: "",
      result: null,
      error: null,
    });
    assert.ok(isStreamerError(await rejection(cancelled.result), ErrorCode.Cancelled));
    assert.equal(cancelled.status, "CANCELLED");
    client.close();
  });

  test("cancel: sent once the request is acknowledged; an unsent call never leaves", async () => {
    const { client, socket } = await setup();
    const ac = new AbortController();
    const call = client.call("job", {}, { id: "c-1", signal: ac.signal });
    ac.abort();
    assert.deepEqual(
      socket.frames().map((f) => f.action),
      ["job"],
      "not acknowledged yet: the cancel waits",
    );
    socket.reply({ type: "ack", request_id: "c-1", action: "job", status: "PENDING" });
    assert.deepEqual(socket.frames()[1], { action: "streamer.cancel", payload: { id: "c-1" } });
    socket.reply({
      type: "status",
      request_id: "c-1",
      status: "CANCELLED",
      percentage: 0,
      message: "",
      result: null,
      error: { code: "CANCELLED", message: "cancelled" },
    });
    socket.reply({ type: "error", request_id: "c-1", error: { code: "CANCELLED", message: "cancelled" } });
    assert.ok(isStreamerError(await rejection(call.result), ErrorCode.Cancelled));

    const aborted = AbortSignal.abort();
    const never = client.call("job", {}, { id: "c-2", signal: aborted });
    assert.ok(isStreamerError(await rejection(never.result), ErrorCode.Cancelled));
    assert.equal(socket.frames().filter((f) => f.id === "c-2").length, 0, "an aborted signal sends nothing");
    client.close();
  });

  test("reconnects after a drop, resumes acknowledged calls and resends the others with the same id", async () => {
    let tokens = 0;
    const { server, client, states, socket } = await setup({ token: async () => `tok-${++tokens}` });
    const acked = client.call("job", { n: 1 }, { id: "acked" });
    const unacked = client.call("job", { n: 2 }, { id: "unacked" });
    const ac = new AbortController();
    const cancelling = client.call("job", {}, { id: "cancelling", signal: ac.signal });
    socket.reply({ type: "ack", request_id: "acked", action: "job", status: "PENDING" });
    socket.reply({ type: "ack", request_id: "cancelling", action: "job", status: "PENDING" });
    socket.reply({ type: "progress", request_id: "acked", percentage: 50, message: "half", timestamp: "t" });
    socket.reply({
      type: "result",
      request_id: "acked",
      success: true,
      duration_ms: 1,
      part: { index: 0, count: 2 },
      data_part: '{"a":',
    });

    socket.drop(1001); // the 2-hour limit
    ac.abort(); // while down: sent after the resume
    const second = await server.socket(2);
    assert.equal(second.url.searchParams.get("token"), "tok-2", "a fresh token for the reconnect");
    await until(() => client.state === "open", "reopen");
    assert.equal(client.reconnects, 1);
    assert.deepEqual(
      states.map((s) => s.state),
      ["reconnecting", "open"],
    );
    assert.match(String(states[0]!.error), /1001/);
    assert.equal(states[0]!.attempt, 1);
    assert.deepEqual(
      second.frames().sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      [
        { action: "job", id: "unacked", payload: { n: 2 } },
        { action: "streamer.cancel", payload: { id: "cancelling" } },
        { action: "streamer.status", payload: { id: "acked" } },
        { action: "streamer.status", payload: { id: "cancelling" } },
      ],
    );

    // The answers on the new socket: the parts start over, progress goes on.
    second.reply({
      type: "status",
      request_id: "acked",
      status: "PROCESSING",
      percentage: 50,
      message: "half",
      result: null,
      error: null,
    });
    second.reply({
      type: "result",
      request_id: "acked",
      success: true,
      duration_ms: 1,
      part: { index: 0, count: 2 },
      data_part: '{"a":',
    });
    second.reply({
      type: "result",
      request_id: "acked",
      success: true,
      duration_ms: 1,
      part: { index: 1, count: 2 },
      data_part: "1}",
    });
    assert.deepEqual(await acked.result, { a: 1 });
    second.reply({
      type: "status",
      request_id: "unacked",
      status: "COMPLETED",
      percentage: 100,
      message: "",
      result: { n: 2 },
      error: null,
    });
    assert.deepEqual(await unacked.result, { n: 2 });
    second.reply({ type: "error", request_id: "cancelling", error: { code: "CANCELLED", message: "cancelled" } });
    assert.ok(isStreamerError(await rejection(cancelling.result), ErrorCode.Cancelled));

    // Messages from the old socket are ignored once it is gone.
    const later = client.call("job", {}, { id: "later" });
    socket.reply({ type: "result", request_id: "later", success: true, data: "stale", duration_ms: 1 });
    assert.equal(later.settled, false);
    second.reply({ type: "result", request_id: "later", success: true, data: "fresh", duration_ms: 1 });
    assert.equal(await later.result, "fresh");
    client.close();
  });

  test("calls made while connecting or reconnecting are sent once open", async () => {
    const server = new FakeServer();
    server.onDial = () => {}; // hold the handshake
    const client = new StreamerClient(URL_, { WebSocket: server.WebSocket, reconnectBaseDelayMs: 1 });
    assert.equal(client.state, "connecting");
    const early = client.call("job", 1, { id: "early" });
    const first = await server.socket(1);
    first.accept();
    await client.ready;
    assert.deepEqual(first.frames(), [{ action: "job", id: "early", payload: 1 }]);
    first.reply({ type: "result", request_id: "early", success: true, data: 1, duration_ms: 1 });
    assert.equal(await early.result, 1);

    first.drop(1006, "");
    await until(() => client.state === "reconnecting", "reconnecting");
    const meanwhile = client.call("job", 2, { id: "meanwhile" });
    const second = await server.socket(2);
    second.accept();
    await until(() => client.state === "open", "reopen");
    assert.deepEqual(second.frames(), [{ action: "job", id: "meanwhile", payload: 2 }]);
    meanwhile.cancel(); // sent, not acknowledged: the call waits for its answer
    second.reply({ type: "result", request_id: "meanwhile", success: true, data: 2, duration_ms: 1 });
    assert.equal(await meanwhile.result, 2);
    client.close();
  });

  test("a call cancelled before it was ever sent ends at once", async () => {
    const server = new FakeServer();
    server.onDial = () => {};
    const client = new StreamerClient(URL_, { WebSocket: server.WebSocket });
    const call = client.call("job", 1, { id: "unsent" });
    call.cancel();
    assert.ok(isStreamerError(await rejection(call.result), ErrorCode.Cancelled));
    const first = await server.socket(1);
    first.accept();
    await client.ready;
    assert.deepEqual(first.frames(), [], "the cancelled call is not sent");
    client.close();
  });

  test("gives up after maxReconnectAttempts and fails its calls", async () => {
    const { server, client, states, socket } = await setup({ maxReconnectAttempts: 3 });
    const call = client.call("job", {}, { id: "g-1" });
    server.onDial = (s) => s.refuse();
    socket.drop(1006, "");
    const err = await rejection(call.result);
    assert.ok(err instanceof ConnectionError);
    assert.equal(err.reason, "reconnect_failed");
    assert.match(err.message, /gave up after 3 reconnect attempts: .*401/);
    assert.equal(server.sockets.length, 4);
    assert.equal(client.state, "closed");
    assert.deepEqual(
      states.map((s) => [s.state, s.attempt]),
      [
        ["reconnecting", 1],
        ["reconnecting", 2],
        ["reconnecting", 3],
        ["closed", undefined],
      ],
    );
    assert.equal(states.at(-1)!.error, err);
    const after = client.call("job");
    assert.equal(await rejection(after.result), err, "a call on a closed client fails the same way");
  });

  test("connect rejects when the first handshake fails", async () => {
    const server = new FakeServer();
    server.onDial = (s) => s.refuse();
    const err = await rejection(StreamerClient.connect(URL_, { WebSocket: server.WebSocket, token: "bad" }));
    assert.ok(err instanceof ConnectionError);
    assert.equal(err.reason, "connect_failed");
    assert.match(err.message, /could not connect to wss:\/\/api\.example\.com\/prod: Unexpected server response: 401/);
    assert.doesNotMatch(err.message, /bad/, "the token is not in the message");

    const hung = new FakeServer();
    hung.onDial = () => {};
    const timeout = await rejection(StreamerClient.connect(URL_, { WebSocket: hung.WebSocket, connectTimeoutMs: 5 }));
    assert.match(String(timeout), /no answer within 5 ms/);

    const failing = await rejection(
      StreamerClient.connect(URL_, {
        WebSocket: new FakeServer().WebSocket,
        token: () => Promise.reject(new Error("identity provider down")),
      }),
    );
    assert.match(String(failing), /token: identity provider down/);
  });

  test("close fails the calls in flight and the pings", async () => {
    const { client, states, socket } = await setup();
    const call = client.call("job", {}, { id: "x-1" });
    const ping = client.ping();
    client.close();
    const err = await rejection(call.result);
    assert.ok(err instanceof ConnectionError);
    assert.equal(err.reason, "closed");
    assert.ok((await rejection(ping)) instanceof ConnectionError);
    assert.equal(socket.readyState, 3);
    assert.deepEqual(states.at(-1), { state: "closed", previous: "open" });
    client.close(); // twice is fine
  });

  test("ping resolves on the pong", async () => {
    const { client, socket } = await setup();
    const ping = client.ping();
    assert.deepEqual(socket.frames(), [{ action: "streamer.ping" }]);
    socket.reply({ type: "pong" });
    await ping;
    const lost = client.ping();
    socket.drop(1006, "");
    assert.ok((await rejection(lost)) instanceof ConnectionError, "a dropped socket fails the ping");
    client.close();
  });

  test("keep-alive: pings every interval, and a socket that answers nothing for two is dropped", async (t) => {
    t.mock.timers.enable({ apis: ["setInterval", "Date"] });
    const { server, client, socket } = await setup({ pingIntervalMs: 1000 });
    const pings = () => socket.frames().filter((f) => f.action === "streamer.ping").length;
    for (let i = 1; i <= 3; i++) {
      t.mock.timers.tick(1000);
      assert.equal(pings(), i);
      socket.reply({ type: "pong" });
    }
    // Silence from here: two more pings go unanswered, then the socket is given up.
    t.mock.timers.tick(1000);
    t.mock.timers.tick(1000);
    assert.equal(pings(), 5);
    assert.equal(client.state, "open");
    t.mock.timers.tick(1000);
    assert.equal(client.state, "reconnecting");
    await server.socket(2);
    await until(() => client.state === "open", "reopen");
    assert.equal(client.reconnects, 1);
    client.close();
  });

  test("a progress iterator started late gets the latest update, then the rest", async () => {
    const { client, socket } = await setup();
    const call = client.call("job", {}, { id: "it-1" });
    socket.reply({ type: "progress", request_id: "it-1", percentage: 10, message: "", timestamp: "t" });
    socket.reply({ type: "progress", request_id: "it-1", percentage: 20, message: "", timestamp: "t" });
    const it = call.progress[Symbol.asyncIterator]();
    assert.equal((await it.next()).value?.percentage, 20);
    socket.reply({ type: "progress", request_id: "it-1", percentage: 30, message: "", timestamp: "t" });
    assert.equal((await it.next()).value?.percentage, 30);
    socket.reply({ type: "error", request_id: "it-1", error: { code: "TIMEOUT", message: "t" } });
    assert.equal((await it.next()).done, true);
    await rejection(call.result);
    client.close();
  });

  test("ignores what is not a message about a call: API Gateway's own errors, binary, unknown ids", async () => {
    const { client, socket } = await setup();
    const call = client.call("job", {}, { id: "i-1" });
    socket.reply('{"message":"Internal server error","connectionId":"abc=","requestId":"x"}');
    socket.reply("not json");
    socket.reply({ type: "result", request_id: "someone-else", success: true, data: 1, duration_ms: 1 });
    assert.equal(call.settled, false);
    assert.equal(client.state, "open");
    socket.reply({ type: "result", request_id: "i-1", success: true, data: 2, duration_ms: 1 });
    assert.equal(await call.result, 2);
    client.close();
  });

  test("without a WebSocket constructor, or with a non-WebSocket URL, the constructor throws", () => {
    const g = globalThis as { WebSocket?: unknown };
    const saved = g.WebSocket;
    g.WebSocket = undefined;
    try {
      assert.throws(() => new StreamerClient(URL_), /no WebSocket .* pass one in the WebSocket option/);
    } finally {
      g.WebSocket = saved;
    }
    assert.throws(
      () => new StreamerClient("https://api.example.com/", { WebSocket: new FakeServer().WebSocket }),
      /ws:\/\/ or wss:\/\//,
    );
  });
});
