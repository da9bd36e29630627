#!/usr/bin/env node
/**
 * Bundles the CLI (src/cli/main.ts and what it imports) into dist/cli-bundle/ with esbuild, so that
 * `hubsync` starts by reading a handful of files instead of ~600: Kysely alone ships 265 ES modules,
 * libphonenumber-js 115 and zod 99, and Node 20 resolves, reads and links each one on every start.
 * A no-op CardDAV sync of 1,000 contacts went from 0.45 s to 0.27 s wall (docs/benchmarks.md).
 *
 *   node scripts/bundle-cli.mjs [--outdir DIR]     (part of `npm run build` and `npm install`)
 *
 * Only pure-JavaScript libraries the commands load at start-up are bundled (BUNDLED). Everything
 * else stays an ordinary import from node_modules: native addons (better-sqlite3), and the web and
 * sign-in stacks (fastify, pino, openid-client, msal…) that only `serve` and `account add` load
 * through dynamic imports, which esbuild's code splitting turns into chunks loaded on demand.
 * `bin/hubsync.js` runs the bundle when it is at least as new as the compiled dist/cli/main.js.
 */
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUNDLED = new Set(['kysely', 'zod', 'libphonenumber-js', 'commander', 'ical.js', 'tsdav']);

const i = process.argv.indexOf('--outdir');
const outdir = path.resolve(i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : path.join(repo, 'dist', 'cli-bundle'));
const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8'));
const external = Object.keys(pkg.dependencies).filter((d) => !BUNDLED.has(d));

await rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: { main: path.join(repo, 'src', 'cli', 'main.ts') },
  tsconfig: path.join(repo, 'tsconfig.build.json'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir,
  external,
  sourcemap: 'linked',
  logLevel: 'warning',
  // Bundled CommonJS code (tsdav's xml-js and debug) calls require() for Node's built-ins, which an
  // ES module does not have.
  banner: { js: "import { createRequire as __hubsyncCreateRequire } from 'node:module'; const require = __hubsyncCreateRequire(import.meta.url);" },
});
