import type { Command } from 'commander';
import { kernelTour } from '../../demo/kernel-tour.js';
import { fail, pass, table } from '../output.js';
import type { Registrar } from '../program.js';

export function registerDemoCommands(program: Command, r: Registrar): void {
  program
    .command('demo')
    .description(
      'generate a demo Istio mesh and a SPIRE-like trust domain, and show the verdicts meshbridge gives',
    )
    .addHelpText(
      'after',
      '\nExample:\n  $ npm start            # builds, then runs `meshbridge demo`\n  $ meshbridge demo --json',
    )
    .action(
      r.action((ctx) => {
        const verdicts = kernelTour();
        if (ctx.out.json) {
          ctx.out.printJson({ verdicts });
          return;
        }
        ctx.out.out(
          'meshbridge demo: a generated Istio mesh (cluster.local, plug-in CA) and a SPIRE-like CA (prod.example.org)\n',
        );
        ctx.out.out(
          table(
            ['', 'PRESENTED', 'SUBJECT', 'AGAINST', 'RESULT'],
            verdicts.map((v) => [
              v.valid ? pass(ctx.out) : fail(ctx.out),
              v.presented,
              v.subject,
              v.against,
              v.valid
                ? `valid${v.warnings.length ? ` (tolerated: ${v.warnings.join(', ')})` : ''}`
                : v.detail,
            ]),
          ),
        );
        ctx.out.out('\nNext: `meshbridge --help`, `meshbridge dev mint --help`, and the README.');
      }),
    );
}
