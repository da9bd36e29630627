#!/usr/bin/env node
// The CLI runs from the compiled output; `npm install` builds it (the "prepare" script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(entry)) {
  console.error('hubsync: the compiled CLI is missing (dist/cli/main.js). Run `npm install` or `npm run build` first.');
  process.exit(1);
}
const { main } = await import(entry);
process.exitCode = await main(process.argv.slice(2));
