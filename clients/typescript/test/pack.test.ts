// What `npm pack` makes is a package a fresh project installs and uses with full types:
// the tarball is installed into an empty project outside this one, type-checked there
// under strict settings with Node's types only (no DOM), and run against the local stack.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { LocalStack } from "./support/stack.js";

const run = promisify(execFile);
const pkgDir = fileURLToPath(new URL("../..", import.meta.url));
const tsc = join(pkgDir, "node_modules", "typescript", "bin", "tsc");

let stack: LocalStack;
let project: string;
before(async () => {
  stack = await LocalStack.start();
  project = await mkdtemp(join(tmpdir(), "streamer-client-consumer-"));
});
after(async () => {
  await stack.stop();
  await rm(project, { recursive: true, force: true });
});

/** Runs a command, failing with its output. */
async function sh(cmd: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd, maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(" ")} failed:\n${e.stdout ?? ""}\n${e.stderr ?? ""}`, { cause: err });
  }
}

/** The examples marked `<!-- tested: NAME -->` in the package's README and the repository's, by name. */
async function readmeExamples(): Promise<Map<string, string>> {
  const examples = new Map<string, string>();
  for (const readme of [join(pkgDir, "README.md"), join(pkgDir, "..", "..", "README.md")]) {
    for (const m of (await readFile(readme, "utf8")).matchAll(/<!-- tested: (\S+) -->\n```tsx?\n([\s\S]*?)```/g)) {
      examples.set(m[1]!, m[2]!);
    }
  }
  return examples;
}

// The React entry at run time in Node: rendered on the server, with the hooks' types.
const reactConsumer = `
import { createElement } from "react";
import { renderToString } from "react-dom/server";
import { StreamerClient } from "@streamer-go/client";
import { StreamerProvider, useConnectionState, useStreamerCall, type CallState } from "@streamer-go/client/react";
import WebSocket from "ws";

function Report() {
  const report = useStreamerCall<{ days: number }>("generate_report");
  const conn = useConnectionState();
  const days: number | undefined = report.state === "done" ? report.result.days : undefined;
  // @ts-expect-error the result is typed
  const wrong: string | undefined = report.state === "done" ? report.result.days : undefined;
  void wrong;
  const state: CallState<{ days: number }>["state"] = report.state;
  return createElement("p", null, \`\${conn} \${state} \${days ?? "-"}\`);
}

const [url, token] = process.argv.slice(2);
const client = await StreamerClient.connect(url!, { WebSocket, token });
console.log(renderToString(createElement(StreamerProvider, { client }, createElement(Report))));
client.close();
`;

test("npm pack makes a tarball a fresh project installs, type-checks and runs, README examples included", async () => {
  const [packed] = JSON.parse(await sh("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", project], pkgDir)) as [
    { filename: string; files: { path: string }[] },
  ];
  const files = packed.files.map((f) => f.path).sort();
  for (const want of [
    "LICENSE",
    "README.md",
    "package.json",
    "dist/index.js",
    "dist/index.d.ts",
    "dist/react.js",
    "dist/react.d.ts",
  ]) {
    assert.ok(files.includes(want), `the tarball has ${want}: ${files.join(", ")}`);
  }
  assert.ok(!files.some((f) => /^(test|build|scripts|node_modules)\//.test(f)), `no tests or build output: ${files.join(", ")}`);

  // The consumer's versions of its own dependencies: the ones this package is tested with.
  const dev = (JSON.parse(await readFile(join(pkgDir, "package.json"), "utf8")) as { devDependencies: Record<string, string> })
    .devDependencies;
  const deps = ["ws", "@types/ws", "@types/node", "react", "react-dom", "@types/react", "@types/react-dom"].map(
    (name) => `${name}@${dev[name]}`,
  );
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  await sh("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", `./${packed.filename}`, ...deps], project);
  const installed = JSON.parse(await readFile(join(project, "node_modules/@streamer-go/client/package.json"), "utf8")) as {
    dependencies?: object;
  };
  assert.equal(installed.dependencies, undefined, "no runtime dependencies");

  const examples = await readmeExamples();
  assert.deepEqual([...examples.keys()].sort(), ["quickstart.ts", "react.tsx", "root-readme.ts"]);
  for (const [name, code] of examples) {
    await writeFile(join(project, name), code);
  }
  await writeFile(join(project, "react-ssr.ts"), reactConsumer);
  // Strict, with Node's types only, declaration files checked too: the package's
  // declarations need no DOM library.
  const node = "--strict --target ES2022 --skipLibCheck false --lib ES2022 --types node --module nodenext --outDir out";
  await sh(process.execPath, [tsc, ...node.split(" "), "quickstart.ts", "root-readme.ts", "react-ssr.ts"], project);
  // As a bundler resolves it, in a page: the React example too.
  const page =
    "--strict --target ES2022 --skipLibCheck --lib ES2022,DOM,DOM.Iterable --jsx react-jsx --module esnext --moduleResolution bundler";
  await sh(
    process.execPath,
    [tsc, ...page.split(" "), "--noEmit", "quickstart.ts", "root-readme.ts", "react-ssr.ts", "react.tsx"],
    project,
  );

  const user = `consumer-${process.pid}`;
  const env = { ...process.env, STREAMER_URL: stack.wsURL, STREAMER_TOKEN: await stack.token(user) };
  const { stdout } = await run(process.execPath, ["out/quickstart.js"], { cwd: project, env });
  const lines = stdout.trim().split("\n");
  assert.equal(lines.at(-1), "31 days, 31 rows", stdout);
  assert.match(lines[0]!, /^\d+% \S/, "progress lines first");
  // The repository README's example passes no WebSocket: it runs on the platform's, which
  // Node 20 has behind a flag (the same undici WebSocket Node 22 has built in).
  const platform = await run(process.execPath, ["--experimental-websocket", "out/root-readme.js"], { cwd: project, env });
  assert.equal(platform.stdout.trim().split("\n").at(-1), "31", platform.stdout);
  const html = await sh(process.execPath, ["out/react-ssr.js", stack.wsURL, await stack.token(user)], project);
  assert.equal(html.trim(), "<p>open idle -</p>");
});
