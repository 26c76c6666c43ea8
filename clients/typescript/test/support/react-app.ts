// The React page of the browser test: one component runs process_data through
// useStreamerCall and shows its state; a toggle unmounts it. Bundled with React by
// esbuild when the test starts, and driven by the test through the element ids.
import { createElement as h, useState } from "react";
import { createRoot } from "react-dom/client";

import { StreamerClient, isStreamerError } from "@streamer-go/client";
import { StreamerProvider, useConnectionState, useStreamerCall } from "@streamer-go/client/react";

/** What the test page reads from and exposes on window. */
interface TestWindow {
  /** Mints a token for the test's user (exposed by the test through playwright). */
  streamerToken(): Promise<string>;
  /** The id of the latest call the component started. */
  lastCallId?: string;
}
const w = window as unknown as TestWindow;

function Job() {
  const job = useStreamerCall<{ items_processed: number }>("process_data");
  const connection = useConnectionState();
  const run = () => {
    w.lastCallId = job.run({ items: 20, item_ms: 100 }).id;
  };
  return h(
    "div",
    null,
    h("span", { id: "connection" }, connection),
    h("button", { id: "run", onClick: run }, "run"),
    h("button", { id: "cancel", onClick: job.cancel }, "cancel"),
    h("span", { id: "state" }, job.state),
    h("span", { id: "acknowledged" }, String(job.acknowledged ?? "")),
    h("span", { id: "pct" }, job.progress ? String(job.progress.percentage) : ""),
    h("span", { id: "result" }, job.state === "done" ? JSON.stringify(job.result) : ""),
    h("span", { id: "error" }, job.state === "error" ? (isStreamerError(job.error) ? job.error.code : job.error.message) : ""),
  );
}

function App({ client }: { client: StreamerClient }) {
  const [shown, setShown] = useState(true);
  return h(
    StreamerProvider,
    { client },
    h("button", { id: "toggle", onClick: () => setShown((s) => !s) }, "toggle"),
    shown ? h(Job) : null,
  );
}

const ws = new URLSearchParams(location.search).get("ws") ?? "";
const client = new StreamerClient(ws, { token: () => w.streamerToken() });
createRoot(document.getElementById("root")!).render(h(App, { client }));
