import { resolve } from 'node:path';
import type { Command } from 'commander';
import { writeFileAtomic } from '../../devca/files.js';
import { loadBundle } from '../../spiffe/bundle/index.js';
import { TrustDomain } from '../../spiffe/spiffeid/index.js';
import { UsageError } from '../context.js';
import { readInputFile } from '../inputs.js';
import { warnMark } from '../output.js';
import type { Registrar } from '../program.js';

// Bundles do not name their trust domain (R64); PEM and JWKS conversions do not need one.
const UNNAMED = 'unnamed.invalid';

export function registerBundleCommands(program: Command, r: Registrar): void {
  const bundle = program.command('bundle').description('trust bundles: convert, build, verify');
  bundle
    .command('convert')
    .description('convert a trust bundle between PEM and SPIFFE bundle (JWKS) form')
    .argument('<in>', 'PEM, DER, SPIFFE bundle, plain JWKS, or bundle map (needs --trust-domain)')
    .requiredOption('--to <format>', 'pem | spiffe')
    .option('--trust-domain <td>', 'which trust domain to take from a bundle map')
    .option('--out <file>', 'write here (atomically) instead of stdout')
    .addHelpText(
      'after',
      `
Example:
  $ meshbridge bundle convert root-cert.pem --to spiffe > bundle.json
  $ spire-server bundle show -format spiffe > b.json && meshbridge bundle convert b.json --to pem

Exit status: 0 converted, 2 usage error or a bundle that cannot be read.`,
    )
    .action(
      r.action((ctx, input: string, opts: { to: string; trustDomain?: string; out?: string }) => {
        if (opts.to !== 'pem' && opts.to !== 'spiffe') {
          throw new UsageError(`--to must be pem or spiffe, got "${opts.to}"`);
        }
        const td = TrustDomain.parse(opts.trustDomain ?? UNNAMED);
        const loaded = loadBundle(readInputFile(ctx.io.cwd, input, 'bundle file'), { trustDomain: td });
        let text: string;
        if (opts.to === 'pem') {
          const jwtCount = loaded.bundle.jwtAuthorities.length;
          if (jwtCount > 0)
            ctx.out.err(
              `${warnMark(ctx.out)} ${jwtCount} JWT authorit${jwtCount === 1 ? 'y' : 'ies'} cannot be written as PEM and were left out`,
            );
          text = loaded.bundle.toX509Bundle().toPem();
        } else {
          text = `${loaded.bundle.marshal({ indent: 2 })}\n`;
        }
        for (const w of loaded.warnings)
          ctx.out.err(`${warnMark(ctx.out)} R${w.rule} ${w.message} [${w.code}]`);
        if (opts.out) writeFileAtomic(resolve(ctx.io.cwd, opts.out), text);
        else ctx.io.stdout.write(text);
      }),
    );
}
