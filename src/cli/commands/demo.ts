import { relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { kernelTour } from '../../demo/kernel-tour.js';
import { UsageError } from '../context.js';
import { fail, pass, table } from '../output.js';
import type { Registrar } from '../program.js';
import {
  curlCommand,
  type DemoTraffic,
  demoScopes,
  demoTraffic,
  prepareDemo,
  serveDemo,
} from './demo-run.js';

interface DemoOpts {
  dir: string;
  port: string;
  brokerPort: string;
  serve?: boolean;
}

const DEFAULT_DIR = 'meshbridge-demo';

export function registerDemoCommands(program: Command, r: Registrar): void {
  program
    .command('demo')
    .description(
      'the whole migration on a generated Istio mesh and a SPIRE-like CA: import, map, dual-trust bundle, cutover, broker, dashboard',
    )
    .option('--dir <dir>', 'the demo folder, emptied and written again on every run', DEFAULT_DIR)
    .option('--port <port>', 'dashboard port (a free one when taken)', '8080')
    .option('--broker-port <port>', 'broker port (a free one when taken)', '8443')
    .option('--serve', 'keep serving until Ctrl-C (the default, but with --json)')
    .option('--no-serve', 'do everything, print where things stand, and exit (tests, CI)')
    .addHelpText(
      'after',
      `
Steps: generate an Istio mesh (plug-in CA, namespaces shop and payments) and a SPIRE-like
CA (prod.example.org) into DIR; import; store SPIRE's roots; map identities and store
SPIRE entries; build the dual-trust bundle; advance istio/east to dual-trust and
istio/east/payments to dual-issue; re-import payments/api with a SPIRE SVID; configure
the broker (ephemeral backend, sample policy) and three legacy static keys; start
\`meshbridge serve\` on SQLite (DIR/meshbridge.db), send sample traffic over mTLS, and
print the dashboard URL and a curl that fetches a credential with a demo SVID.
Ctrl-C stops the server. Server logs go to DIR/serve.log.

--json prints one object once everything is ready, and exits (add --serve to keep serving):
  {"dir","db","config","dashboardUrl","brokerUrl","curl","serving",
   "steps":[{"step","ok","detail","by"}],
   "traffic":[{"as","presented","credential","status","code"}],
   "scopes":[{"scope","phase","workloads","onSpire"}],
   "verdicts":[{"subject","presented","against","valid","detail","warnings"}]}
dashboardUrl, brokerUrl and curl are null when not serving (the server then runs only
for the sample traffic); verdicts are the SPIFFE kernel's on mesh and SPIRE SVIDs.

Example:
  $ npm start            # builds, then runs \`meshbridge demo\`
  $ meshbridge demo --no-serve --json

Exit status: 0 every step ran (serving: stopped by SIGINT or SIGTERM), 2 usage error or a
--dir that is not a demo folder, 3 a port or the store is unavailable.`,
    )
    .action(
      r.action(async (ctx, raw: DemoOpts) => {
        const opts = { ...raw, serve: raw.serve ?? !ctx.out.json };
        const port = (v: string, flag: string) => {
          const n = Number(v);
          if (!Number.isInteger(n) || n < 0 || n > 65535)
            throw new UsageError(`${flag} takes a port number, got "${v}"`);
          return n;
        };
        const dashboardPort = opts.serve ? port(opts.port, '--port') : 0;
        const brokerPort = opts.serve ? port(opts.brokerPort, '--broker-port') : 0;
        const o = ctx.out;
        if (!o.json) {
          o.out('meshbridge demo: a generated Istio mesh moving onto SPIRE workload identity\n');
        }
        const prepared = await prepareDemo({
          dir: resolve(ctx.io.cwd, opts.dir),
          ...(ctx.globals.db === undefined ? {} : { db: ctx.globals.db }),
          dashboardPort,
          brokerPort,
          env: ctx.io.env,
          ...(o.json ? {} : { say: (line: string) => o.out(line) }),
        });
        const { server } = await serveDemo(prepared, { env: ctx.io.env, fallbackToFreePorts: true });
        let traffic: DemoTraffic[];
        let scopes: Awaited<ReturnType<typeof demoScopes>>;
        try {
          traffic = await demoTraffic(prepared, server);
          scopes = await demoScopes(server.store);
        } catch (err) {
          await server.close();
          throw err;
        }
        const urls = server.urls;
        const issued = traffic.filter((t) => t.status === 200).length;
        if (!opts.serve) await server.close();
        const curl =
          opts.serve && urls.broker !== undefined ? curlCommand(prepared, urls.broker, ctx.io.cwd) : null;
        const shownDir = shown(ctx.io.cwd, prepared.dir);

        if (o.json) {
          o.printJson({
            dir: prepared.dir,
            db: prepared.db,
            config: prepared.configFile,
            dashboardUrl: opts.serve ? `${urls.dashboard}/` : null,
            brokerUrl: opts.serve ? (urls.broker ?? null) : null,
            curl,
            serving: opts.serve,
            steps: prepared.steps,
            traffic,
            scopes,
            verdicts: kernelTour(),
          });
        } else {
          o.out(
            `${pass(o)} serve: ${opts.serve ? `dashboard ${urls.dashboard}/, broker ${urls.broker}` : 'started on free ports for the sample traffic, then stopped (--no-serve)'}`,
          );
          o.out(
            `${pass(o)} traffic: ${traffic.length} requests over mTLS, ${issued} issued, ${traffic.length - issued} denied (${[
              ...new Set(traffic.filter((t) => t.status !== 200).map((t) => t.code)),
            ].join(', ')})`,
          );
          o.out('');
          o.out(
            table(
              ['SCOPE', 'PHASE', 'WORKLOADS', 'ON SPIRE'],
              scopes.map((s) => [s.scope, s.phase, String(s.workloads), String(s.onSpire)]),
            ),
          );
          o.out('');
          const failed = prepared.steps.filter((s) => !s.ok);
          for (const s of failed) o.out(`${fail(o)} ${s.step}: ${s.detail}`);
          const me = invocation(ctx.io.cwd);
          if (opts.serve) {
            o.out(`Dashboard:  ${urls.dashboard}/`);
            o.out('Fetch a short-lived credential as payments/api, with its SPIRE-issued demo SVID:');
            o.out(`  ${curl}`);
            o.out(
              `Metrics:    ${urls.dashboard}/metrics    Bundle endpoint: ${urls.dashboard}/bundle/cluster.local`,
            );
            o.out('Move a phase and watch the page follow (in another terminal):');
            o.out(`  ${me} --db ${shown(ctx.io.cwd, prepared.db)} cutover advance istio`);
            o.out(`Files in ${shownDir}/, server log in ${shownDir}/serve.log. Ctrl-C stops.`);
          } else {
            o.out(`Everything is in ${shownDir}/. Serve it with:`);
            o.out(`  ${me} serve --config ${shown(ctx.io.cwd, prepared.configFile)}`);
          }
        }
        if (!opts.serve) return;
        await new Promise<void>((done) => {
          const stop = () => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            done();
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
        await server.close();
        if (!o.json) o.out('\nstopped.');
      }),
    );
}

function shown(cwd: string, p: string): string {
  const rel = relative(cwd, p);
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith('/') ? rel : p;
}

/** How the user started us: `node dist/cli/main.js` after `npm start`, else `meshbridge`. */
function invocation(cwd: string): string {
  const main = process.argv[1] ?? '';
  return /cli[/\\]main\.js$/.test(main) ? `node ${shown(cwd, main)}` : 'meshbridge';
}
