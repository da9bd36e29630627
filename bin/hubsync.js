#!/usr/bin/env node
// The CLI runs from the build that `npm install` makes (the "prepare" script): the esbuild bundle of
// scripts/bundle-cli.mjs when it is at least as new as the compiled dist/ (it starts in about half
// the time), else the compiled dist/cli/main.js.
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const mtime = (rel) => statSync(fileURLToPath(new URL(rel, import.meta.url)), { throwIfNoEntry: false })?.mtimeMs;
const compiled = mtime('../dist/cli/main.js');
const bundled = mtime('../dist/cli-bundle/main.js');
if (compiled === undefined && bundled === undefined) {
  console.error('hubsync: the CLI is not built (dist/ is missing). Run `npm install` or `npm run build` first.');
  process.exit(1);
}
const entry = bundled !== undefined && (compiled === undefined || bundled >= compiled) ? '../dist/cli-bundle/main.js' : '../dist/cli/main.js';
const { main } = await import(entry);
process.exitCode = await main(process.argv.slice(2));
