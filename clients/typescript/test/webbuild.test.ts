// The local stack embeds the browser build next to its demo page, committed so that Go
// builds need no Node: it must be what the TypeScript source builds today.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";

const fresh = new URL("../browser/streamer-client.js", import.meta.url); // npm run build wrote it
const committed = new URL("../../../../runtime/local/web/streamer-client.js", import.meta.url);

test("runtime/local/web/streamer-client.js is the current browser build", async () => {
  const [want, got] = await Promise.all([readFile(fresh, "utf8"), readFile(committed, "utf8")]);
  assert.match(want, /export \{[^}]*\bStreamerClient\b/, "the fresh build exports the client");
  assert.ok(
    want === got,
    "runtime/local/web/streamer-client.js is stale against clients/typescript/src: run `npm run build:web` in clients/typescript and commit it",
  );
});
