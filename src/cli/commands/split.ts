/**
 * `hubsync split-vcards FILE`: one `.vcf` holding many contacts (an export) written as one file per
 * contact beside it, for a vCard folder spoke (connectors/vdir/split-export.ts does the work; the web
 * app's problems page offers the same).
 */
import path from 'node:path';
import type { Command } from 'commander';
import { splitExport } from '../../connectors/vdir/split-export.js';
import { CliError } from '../io.js';
import type { CliEnv } from '../main.js';

export function registerSplitCommand(program: Command, env: CliEnv): void {
  program
    .command('split-vcards <file>')
    .description('write each contact of a .vcf holding many (an export) to a file of its own beside it, for a vCard folder spoke')
    .action(async (file: string) => {
      const source = path.resolve(file);
      let r;
      try {
        r = await splitExport(source);
      } catch (e) {
        throw new CliError((e as Error).message, 1);
      }
      if (r.kind === 'none') throw new CliError(`${source} holds no vCard (no BEGIN:VCARD line).`, 1);
      if (r.kind === 'one') return env.io.out(`${source} holds one vCard: nothing to split.`);
      env.io.out(
        `Wrote the ${r.cards} contacts of ${path.basename(source)} to ${r.cards} files in ${r.dir}, one each, ` +
          `and renamed it ${path.basename(r.aside)} (a vCard folder spoke reads only .vcf files). ` +
          'The next sync brings them in.',
      );
    });
}
