// Headless Chromium (Debian's, as scripts/install-chromium.sh installs it) driven by
// playwright-core, and a static server for the test pages.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { once } from "node:events";

import { chromium, type Browser } from "playwright-core";

/** The browser: $CHROMIUM, or Debian's Chromium. */
export const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

/**
 * Why the browser tests cannot run here, or undefined when they can. Without Chromium
 * they are skipped, except under CI=true, where that is a failure.
 */
export function missingChromium(): string | undefined {
  if (existsSync(chromiumPath)) {
    return undefined;
  }
  const reason = `no Chromium at ${chromiumPath} (run scripts/install-chromium.sh, or set CHROMIUM)`;
  if (process.env.CI === "true") {
    throw new Error(reason);
  }
  return reason;
}

/** Starts headless Chromium with a fresh profile (playwright makes one per launch). */
export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A page or script the static server serves: its text, or the file holding it. */
export type Route = { type: string } & ({ text: string } | { file: URL | string });

/** Serves routes on a free loopback port until close. */
export class StaticServer {
  readonly url: string;
  readonly #server: Server;

  private constructor(server: Server, url: string) {
    this.#server = server;
    this.url = url;
  }

  static async start(routes: Record<string, Route>): Promise<StaticServer> {
    const server = createServer((req, res) => {
      const route = routes[new URL(req.url ?? "/", "http://x").pathname];
      if (!route) {
        res.writeHead(404).end();
        return;
      }
      const body = "text" in route ? Promise.resolve(route.text) : readFile(route.file, "utf8");
      body.then(
        (text) => res.writeHead(200, { "content-type": `${route.type}; charset=utf-8`, "cache-control": "no-store" }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as { port: number };
    return new StaticServer(server, `http://127.0.0.1:${port}`);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    this.#server.close();
    await once(this.#server, "close");
  }
}
