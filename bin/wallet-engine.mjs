#!/usr/bin/env node
// The `wallet-engine` executable (package.json "bin"). Node 20 cannot run
// TypeScript itself: run the compiled dist/cli/main.js when `npm run build`
// made it and it is not older than the sources, else the sources through tsx
// (a devDependency, present after a plain `npm install` in this repository).
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const compiled = `${root}dist/cli/main.js`;
const source = `${root}src/cli/main.ts`;

/** Newest modification time under src/, so a stale build is never run in place of edited sources. */
function newestSource() {
  let newest = 0;
  for (const f of readdirSync(`${root}src`, { recursive: true })) {
    const t = statSync(`${root}src/${f}`).mtimeMs;
    if (t > newest) newest = t;
  }
  return newest;
}

async function tsxAvailable() {
  try {
    const { register } = await import("tsx/esm/api");
    register();
    return true;
  } catch {
    return false;
  }
}

const hasSource = existsSync(source);
const hasBuild = existsSync(compiled);
let entry;
if (hasBuild && (!hasSource || statSync(compiled).mtimeMs >= newestSource())) entry = compiled;
else if (hasSource && (await tsxAvailable())) entry = source;
else if (hasBuild) entry = compiled;
else {
  process.stderr.write("wallet-engine: neither dist/cli/main.js (npm run build) nor tsx (npm install) is available\n");
  process.exit(1);
}
const { main } = await import(pathToFileURL(entry).href);
await main(process.argv.slice(2));
