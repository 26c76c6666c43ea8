// The package in headless Chromium against the real local stack: the browser build
// (build/browser/streamer-client.js, the file the demo page embeds) runs an async call
// to completion with its progress, and survives a server-side drop; the React hook runs,
// cancels and cancels on unmount.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import { build } from "esbuild";
import type { Browser, Page } from "playwright-core";

import { StreamerClient, isStreamerError, ErrorCode, type StateChange } from "@streamer-go/client";
import WebSocket from "ws";

import { StaticServer, launch, missingChromium } from "./support/chromium.js";
import { LocalStack } from "./support/stack.js";

type Streamer = typeof import("@streamer-go/client");
/** What the test pages expose on window. */
interface PageWindow {
  Streamer: Streamer;
  streamerToken(): Promise<string>;
  lastCallId?: string;
}

const skip = missingChromium();

describe("in headless Chromium", { skip }, () => {
  let stack: LocalStack;
  let site: StaticServer;
  let browser: Browser;

  before(async () => {
    stack = await LocalStack.start();
    const reactApp = await build({
      entryPoints: [fileURLToPath(new URL("./support/react-app.js", import.meta.url))],
      bundle: true,
      format: "esm",
      platform: "browser",
      write: false,
      define: { "process.env.NODE_ENV": '"development"' },
      logLevel: "warning",
    });
    site = await StaticServer.start({
      "/": {
        type: "text/html",
        text: `<!doctype html><meta charset="utf-8"><title>client</title>
<script type="module">import * as Streamer from "/streamer-client.js"; window.Streamer = Streamer; document.title = "ready";</script>`,
      },
      "/streamer-client.js": { type: "text/javascript", file: new URL("../browser/streamer-client.js", import.meta.url) },
      "/react.html": {
        type: "text/html",
        text: `<!doctype html><meta charset="utf-8"><title>react</title><div id="root"></div><script type="module" src="/react-app.js"></script>`,
      },
      "/react-app.js": { type: "text/javascript", text: reactApp.outputFiles[0]!.text },
    });
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await site?.close();
    await stack?.stop();
  });

  /** A page of a fresh user, with a token function that mints their tokens. */
  async function open(path: string) {
    const user = `browser-${randomUUID().slice(0, 8)}`;
    const page = await browser.newPage();
    page.on("pageerror", (err) => assert.fail(`page error: ${err.message}`));
    let tokens = 0;
    await page.exposeFunction("streamerToken", () => {
      tokens++;
      return stack.token(user);
    });
    await page.goto(site.url + path);
    return { user, page, tokens: () => tokens };
  }

  /** Waits until the element's text satisfies want. */
  async function text(page: Page, id: string, want: (s: string) => boolean, what: string): Promise<string> {
    const handle = await page.waitForFunction(
      ({ id, src }) => {
        const t = document.getElementById(id)?.textContent ?? "";
        return new Function("s", `return (${src})(s)`)(t) ? t : null;
      },
      { id, src: want.toString() },
      { timeout: 60_000, polling: 20 },
    );
    const got = (await handle.jsonValue()) as string;
    assert.ok(got !== null, what);
    return got;
  }

  test("the browser build runs an async call to completion with its progress", async () => {
    const { page } = await open("/");
    await page.waitForFunction(() => document.title === "ready");
    const out = await page.evaluate(async (ws) => {
      const { StreamerClient } = (window as unknown as PageWindow).Streamer;
      const client = await StreamerClient.connect(ws, { token: () => (window as unknown as PageWindow).streamerToken() });
      const seen: number[] = [];
      const call = client.call("process_data", { items: 10, item_ms: 100 }, { onProgress: (p) => seen.push(p.percentage) });
      const result = await call.result;
      client.close();
      return { result, seen, acknowledged: call.acknowledged, status: call.status };
    }, stack.wsURL);
    assert.deepEqual(out.result, { items_processed: 10 });
    assert.equal(out.acknowledged, true);
    assert.equal(out.status, "COMPLETED");
    assert.ok(out.seen.length > 0 && out.seen.at(-1) === 100, `progress: ${out.seen.join(",")}`);
    assert.deepEqual(
      [...out.seen].sort((a, b) => a - b),
      out.seen,
    );
    await page.close();
  });

  test("a call survives a server-side drop and completes with exactly one result", async (t) => {
    const { user, page, tokens } = await open("/");
    await page.waitForFunction(() => document.title === "ready");
    // Start the call; return once it has progress. A WebSocket subclass records the wire.
    const first = await page.evaluate(async (ws) => {
      const win = window as unknown as PageWindow & Record<string, unknown>;
      const wire: { type: string; request_id?: string }[] = [];
      class Recording extends window.WebSocket {
        constructor(url: string) {
          super(url);
          this.addEventListener("message", (e) => wire.push(JSON.parse(e.data as string)));
        }
      }
      const client = new win.Streamer.StreamerClient(ws, {
        token: () => win.streamerToken(),
        WebSocket: Recording,
        reconnectBaseDelayMs: 20,
      });
      const states: StateChange["state"][] = [];
      client.on("state", (s) => states.push(s.state));
      const seen: number[] = [];
      let outcomes = 0;
      // 6 s of work: the drop, after the first progress, comes well before the end even
      // on a loaded machine, so the call is still running when its socket goes away.
      const call = client.call("process_data", { items: 40, item_ms: 150 }, { onProgress: (p) => seen.push(p.percentage) });
      call.result.then(
        () => outcomes++,
        () => outcomes++,
      );
      Object.assign(win, { client, call, wire, states, seen, outcomes: () => outcomes });
      for await (const p of call.progress) {
        return p.percentage;
      }
      return -1;
    }, stack.wsURL);
    assert.ok(first > 0 && first < 100, `first progress ${first}`);

    await stack.drop(await stack.connectionId(user));

    const out = await page.evaluate(async () => {
      const win = window as unknown as Record<string, unknown>;
      const call = win.call as { id: string; result: Promise<unknown> };
      const client = win.client as StreamerClient;
      const result = await call.result;
      await client.ping(); // the new socket serves
      const wire = win.wire as { type: string; request_id?: string }[];
      const terminal = wire.filter((m) => m.request_id === call.id && (m.type === "result" || m.type === "error"));
      client.close();
      return {
        result,
        reconnects: client.reconnects,
        states: win.states as string[],
        seen: win.seen as number[],
        outcomes: (win.outcomes as () => number)(),
        terminalFrames: terminal.length,
        statusFrames: wire.filter((m) => m.request_id === call.id && m.type === "status").length,
      };
    });
    assert.deepEqual(out.result, { items_processed: 40 });
    assert.equal(out.outcomes, 1, "exactly one outcome");
    assert.equal(out.terminalFrames, 1, "one terminal message on the wire");
    assert.equal(out.reconnects, 1);
    assert.deepEqual(out.states, ["open", "reconnecting", "open", "closed"]);
    assert.equal(tokens(), 2, "a fresh token for the reconnect");
    assert.deepEqual(
      [...out.seen].sort((a, b) => a - b),
      out.seen,
      "progress never went down",
    );
    assert.equal(out.seen.at(-1), 100);
    t.diagnostic(
      `dropped at ${first}%: ${out.statusFrames} status answer(s) after the reconnect, progress ${out.seen.join(",")}`,
    );
    await page.close();
  });

  test("React: useStreamerCall runs a call with progress, cancels, and cancels on unmount", async () => {
    const { user, page } = await open(`/react.html?ws=${encodeURIComponent(stack.wsURL)}`);
    await text(page, "connection", (s) => s === "open", "the provider's client connects");
    assert.equal(await page.textContent("#state"), "idle");

    await page.click("#run");
    await text(page, "pct", (s) => Number(s) > 0 && Number(s) < 100, "progress shows while it runs");
    assert.equal(await page.textContent("#state"), "running");
    assert.equal(await page.textContent("#acknowledged"), "true");
    await text(page, "state", (s) => s === "done", "the call completes");
    assert.equal(await page.textContent("#result"), '{"items_processed":20}');
    assert.equal(await page.textContent("#pct"), "100");

    await page.click("#run");
    await text(page, "pct", (s) => Number(s) > 0 && Number(s) < 100, "the second run shows progress");
    await page.click("#cancel");
    await text(page, "state", (s) => s === "error", "the cancelled call ends");
    assert.equal(await page.textContent("#error"), ErrorCode.Cancelled);

    await page.click("#run");
    await text(page, "pct", (s) => Number(s) > 0, "the third run shows progress");
    const id = await page.evaluate(() => (window as unknown as PageWindow).lastCallId!);
    await page.click("#toggle"); // unmounts the component: its call is cancelled
    const observer = await StreamerClient.connect(stack.wsURL, { WebSocket, token: await stack.token(user) });
    const err = await observer.resume(id).result.then(
      () => assert.fail("the unmounted component's call completed"),
      (e: unknown) => e,
    );
    assert.ok(isStreamerError(err, ErrorCode.Cancelled), String(err));
    observer.close();
    await page.close();
  });
});
