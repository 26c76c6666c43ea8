// Bundles the package (dist/, from tsc) into one ES module for browsers without a
// bundler: build/browser/streamer-client.js. With --web it also writes the copy the
// local stack embeds and serves next to its demo page (runtime/local/web/), which is
// committed so that `go build` and `go install` need no Node.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const pkg = JSON.parse(await readFile(`${root}/package.json`, "utf8"));

/** The browser build's path, and the committed copy's. */
export const browserFile = `${root}/build/browser/streamer-client.js`;
export const webFile = resolve(root, "../../runtime/local/web/streamer-client.js");

/** Returns the browser build's text. */
export async function bundle() {
  const out = await build({
    entryPoints: [`${root}/dist/index.js`],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    legalComments: "none",
    logLevel: "warning",
    banner: {
      js: `// ${pkg.name} ${pkg.version}, ${pkg.license}: browser build, generated from clients/typescript by \`npm run build:web\`. Do not edit.`,
    },
  });
  return out.outputFiles[0].text;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = await bundle();
  await mkdir(`${root}/build/browser`, { recursive: true });
  await writeFile(browserFile, text);
  if (process.argv.includes("--web")) {
    await writeFile(webFile, text);
    console.log(`wrote ${webFile}`);
  }
}
