import type { Command } from 'commander';
import { checkSpiffeId, type IdCheck } from '../../spiffe/spiffeid/index.js';
import { readAll, UsageError } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { fail, pass } from '../output.js';
import type { Registrar } from '../program.js';

export function registerIdCommands(program: Command, r: Registrar): void {
  const id = program.command('id').description('SPIFFE ID tools');
  id.command('check')
    .description('check SPIFFE IDs against the SPIFFE-ID standard (rules 1-16)')
    .argument('<ids...>', 'IDs to check; "-" reads a JSON array of strings from stdin')
    .addHelpText(
      'after',
      `
Examples:
  $ meshbridge id check spiffe://prod.example.org/ns/shop/sa/web
  $ echo '["spiffe://a/b","spiffe://A/b"]' | meshbridge id check - --json

Exit status: 0 when every ID is valid, 1 when any is not, 2 on unreadable input.`,
    )
    .action(
      r.action(async (ctx, ids: string[]) => {
        const inputs = ids.length === 1 && ids[0] === '-' ? await readIdsFromStdin(ctx.io.stdin) : ids;
        const results: IdCheck[] = inputs.map(checkSpiffeId);
        if (ctx.out.json) {
          ctx.out.printJson(
            results.map((r) => (r.valid ? r : { id: r.id, valid: false, code: r.code, message: r.message })),
          );
        } else {
          for (const r of results) {
            ctx.out.out(
              r.valid
                ? `${pass(ctx.out)} ${r.id}`
                : `${fail(ctx.out)} ${JSON.stringify(r.id)}: ${r.message} [${r.code}]`,
            );
          }
        }
        ctx.exitCode = results.every((r) => r.valid) ? EXIT.ok : EXIT.negative;
      }),
    );
}

async function readIdsFromStdin(stdin: NodeJS.ReadableStream): Promise<string[]> {
  const text = (await readAll(stdin)).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError('stdin is not JSON; expected an array of strings', 'INPUT_NOT_JSON');
  }
  if (!Array.isArray(parsed) || !parsed.every((s) => typeof s === 'string')) {
    throw new UsageError('stdin must hold a JSON array of strings', 'INPUT_NOT_JSON');
  }
  return parsed;
}
