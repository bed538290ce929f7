/**
 * `meshbridge serve [--config FILE]` and `meshbridge config check [FILE]`.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { DestinationStream } from 'pino';
import { backendCatalog } from '../../credential-broker/config.js';
import { loadPolicyFile } from '../../credential-broker/policy/policy.js';
import {
  createServer,
  DEFAULT_CONFIG_FILE,
  defaultServeConfig,
  ENV,
  isLoopbackHost,
  loadServeConfig,
  type MeshbridgeServer,
  parseListen,
  type ServeConfig,
} from '../../server/index.js';
import { CodedError } from '../../spiffe/errors.js';
import { parseTarget } from '../../store/index.js';
import { type CommandContext, UsageError } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { fail, pass, table, warnMark } from '../output.js';
import type { Registrar } from '../program.js';

/** The config file to read: the flag, else $MESHBRIDGE_CONFIG, else ./meshbridge.yaml when it exists. */
export function configPath(ctx: CommandContext, flag: string | undefined): string | undefined {
  const given = flag ?? ctx.io.env[ENV.config];
  if (given !== undefined && given !== '') return resolve(ctx.io.cwd, given);
  const local = resolve(ctx.io.cwd, DEFAULT_CONFIG_FILE);
  return existsSync(local) ? local : undefined;
}

export function registerServeCommands(program: Command, r: Registrar): void {
  program
    .command('serve')
    .description(
      'serve the cutover dashboard and its API, the broker, the bundle endpoint, /healthz, /readyz and /metrics',
    )
    .option(
      '--config <file>',
      `the config file (default: $${ENV.config}, else ./${DEFAULT_CONFIG_FILE} when present)`,
    )
    .option('--listen <host:port>', `where the dashboard listens (overrides listen: and $${ENV.listen})`)
    .addHelpText(
      'after',
      `
Without a config file: the dashboard on http://127.0.0.1:8080 over ./meshbridge.db, no
broker. On 127.0.0.1 the dashboard is open to this machine; on any other address every
dashboard and API request needs an admin token (access.tokens, $${ENV.adminToken}) or an
admin SVID (access.adminIds, over mTLS on the broker's listener).

Routes: GET / (dashboard), /api/v1/{overview,scopes,timeline,static-keys,broker,history},
/healthz, /readyz, /metrics, <bundleEndpoint.path>/<trust-domain> (SPIFFE bundle endpoint),
and with a broker: section, the broker's API over HTTPS (POST /v1/credentials/NAME, ...).

Logs are JSON lines on stdout. SIGINT/SIGTERM stop after in-flight requests.

Examples:
  $ meshbridge serve
  $ meshbridge serve --config /etc/meshbridge/meshbridge.yaml
  $ MESHBRIDGE_LISTEN=0.0.0.0:8080 MESHBRIDGE_ADMIN_TOKEN=$(cat token) meshbridge serve

Exit status: 0 stopped by SIGINT or SIGTERM, 2 the config does not load, 3 the store, a
port or the Workload API is unavailable at start.`,
    )
    .action(
      r.action(async (ctx, opts: { config?: string; listen?: string }) => {
        const config = resolveConfig(ctx, opts);
        const server = await createServer(config, {
          env: ctx.io.env,
          logDestination: ctx.io.stdout as unknown as DestinationStream,
        });
        let urls: Awaited<ReturnType<MeshbridgeServer['listen']>>;
        try {
          urls = await server.listen();
        } catch (err) {
          await server.close();
          throw err;
        }
        const open = isLoopbackHost(config.listen.host) && !config.access.requireAuth;
        ctx.out.err(
          `meshbridge serve: dashboard ${urls.dashboard}/ (${open ? 'open on loopback' : 'admin token or SVID required'})${urls.broker ? `, broker ${urls.broker}` : ''}, store ${server.store.target}`,
        );
        await untilStopped();
        await server.close();
      }),
    );

  const config = program.command('config').description('the meshbridge.yaml of `meshbridge serve`');
  config
    .command('check')
    .description('check a config file: schema, durations, the broker section, its policy and files')
    .argument('[file]', `the file (default: $${ENV.config}, else ./${DEFAULT_CONFIG_FILE})`)
    .addHelpText(
      'after',
      `
Every problem is printed as FILE:LINE:COL: /path what is wrong. Token values are not read
(files and variables named in access.tokens may only exist where the server runs).

Exit status: 0 valid, 1 invalid, 2 the file cannot be read.

Examples:
  $ meshbridge config check
  $ meshbridge config check deploy/meshbridge.yaml --json`,
    )
    .action(r.action((ctx, file: string | undefined) => runCheck(ctx, file)));
}

function resolveConfig(ctx: CommandContext, opts: { config?: string; listen?: string }): ServeConfig {
  const path = configPath(ctx, opts.config);
  const config =
    path === undefined ? defaultServeConfig(ctx.io.env, ctx.io.cwd) : loadServeConfig(path, ctx.io.env);
  if (ctx.globals.db !== undefined) config.store = ctx.globals.db;
  if (opts.listen !== undefined) {
    const l = parseListen(opts.listen);
    if (l === undefined) throw new UsageError(`--listen takes host:port or :port, got "${opts.listen}"`);
    config.listen = { host: l.host ?? config.listen.host, port: l.port };
  }
  return config;
}

function untilStopped(): Promise<void> {
  return new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

interface CheckResult {
  file: string;
  valid: boolean;
  problems: string[];
  summary: Record<string, string> | null;
}

async function runCheck(ctx: CommandContext, file: string | undefined): Promise<void> {
  const path = configPath(ctx, file);
  if (path === undefined) {
    throw new UsageError(
      `no config file: give one, set $${ENV.config}, or create ./${DEFAULT_CONFIG_FILE}`,
      'CONFIG_UNREADABLE',
    );
  }
  let result: CheckResult;
  try {
    const config = loadServeConfig(path, ctx.io.env, { resolveTokens: false });
    const problems: string[] = [];
    if (config.broker !== undefined) {
      try {
        loadPolicyFile(config.broker.policy, { backends: backendCatalog(config.broker) });
      } catch (err) {
        problems.push(...problemsOf(err));
      }
      for (const f of [
        config.broker.tls?.cert,
        config.broker.tls?.key,
        ...config.broker.trust.flatMap((t) => t.bundles),
      ]) {
        if (f !== undefined && !existsSync(f))
          problems.push(`${f}: no such file (named by the broker section)`);
      }
    }
    result = { file: path, valid: problems.length === 0, problems, summary: summaryOf(config) };
  } catch (err) {
    if (err instanceof CodedError && err.code === 'CONFIG_UNREADABLE') throw err;
    if (!(err instanceof CodedError)) throw err;
    result = { file: path, valid: false, problems: problemsOf(err), summary: null };
  }
  ctx.exitCode = result.valid ? EXIT.ok : EXIT.negative;
  if (ctx.out.json) {
    ctx.out.printJson(result);
    return;
  }
  if (!result.valid) {
    ctx.out.out(`${fail(ctx.out)} ${result.file} is invalid:`);
    for (const p of result.problems) ctx.out.out(`  ${p}`);
    return;
  }
  ctx.out.out(`${pass(ctx.out)} ${result.file} is valid`);
  ctx.out.out(
    table(
      ['SETTING', 'VALUE'],
      Object.entries(result.summary ?? {}).map(([k, v]) => [k, v]),
    ),
  );
  if (result.summary?.access?.includes('nobody')) {
    ctx.out.out(
      `${warnMark(ctx.out)} off loopback without access.tokens or access.adminIds, every dashboard request is refused`,
    );
  }
}

function shownStore(target: string): string {
  try {
    return parseTarget(target).display;
  } catch {
    return '(invalid store target)';
  }
}

function problemsOf(err: unknown): string[] {
  const listed = (err as CodedError).details?.problems;
  if (Array.isArray(listed) && listed.length > 0) return listed.map(String);
  return [`${(err as Error).message}${err instanceof CodedError ? ` [${err.code}]` : ''}`];
}

function summaryOf(c: ServeConfig): Record<string, string> {
  const open = isLoopbackHost(c.listen.host) && !c.access.requireAuth;
  return {
    listen: `${c.listen.host}:${c.listen.port}`,
    store: shownStore(c.store),
    access: open
      ? 'open on loopback'
      : `${c.access.tokens.length} admin token(s), ${c.access.adminIds.length} admin SVID(s)${c.access.tokens.length + c.access.adminIds.length === 0 ? ' (nobody can open the dashboard)' : ''}`,
    dashboard: c.dashboard.enabled ? `refresh every ${c.dashboard.refreshSeconds}s` : 'off',
    metrics: c.metrics.enabled ? `/metrics${c.metrics.requireAuth ? ' (token required)' : ''}` : 'off',
    bundleEndpoint: c.bundleEndpoint.enabled
      ? `${c.bundleEndpoint.path}/<trust-domain>, phase ${c.bundleEndpoint.phase}, scope ${c.bundleEndpoint.scope}`
      : 'off',
    overlap: `${Math.round(c.cutover.overlapSeconds / 86_400)}d`,
    broker:
      c.broker === undefined
        ? 'not configured'
        : `https://${c.broker.listen.host}:${c.broker.listen.port}, policy ${c.broker.policy}, backends ${c.broker.backends.map((b) => b.name ?? b.type).join(', ')}`,
  };
}
