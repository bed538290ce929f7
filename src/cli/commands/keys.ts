import type { Command } from 'commander';
import {
  type BackendConfig,
  createRotatingStore,
  type RotatingSecretStore,
} from '../../credential-broker/backends/index.js';
import {
  type AdvanceResult,
  type KeyView,
  type RecoveryResult,
  type RollbackResult,
  type SecretStoreResolver,
  StaticKeyLedger,
  staticKeyFunnel,
  type Transition,
} from '../../credential-broker/static-keys/index.js';
import { parseDuration } from '../../spiffe/duration.js';
import { openStore } from '../../store/index.js';
import type { CommandContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { fail, type Output, pass, table } from '../output.js';
import type { Registrar } from '../program.js';

interface AddOptions {
  location: string;
  owner: string;
  consumer: string[];
  credential?: string;
  note?: string;
  window?: string;
  quietPeriod?: string;
  restoreWindow?: string;
}

interface AdvanceFlags {
  to?: string;
  confirm?: boolean;
  force?: boolean;
  reason?: string;
}

const EXIT_HELP = `
Exit status: 0 the transition happened, 1 a gate refused it (blockers printed, or in
--json) or another operator changed the key first, 2 usage error, 3 the store or the
backend is unavailable.`;

export function registerKeysCommands(program: Command, r: Registrar): void {
  const keys = program
    .command('keys')
    .description('the static-key retirement ledger: static -> brokered -> rotated -> short-lived -> retired');

  keys
    .command('add')
    .description(
      'put a legacy static key in the ledger, with where it lives, its owner and its expected consumers',
    )
    .argument('<name>', 'the key (and, unless --credential, the broker credential consumers fetch it as)')
    .requiredOption('--location <where>', 'aws:<secret-id>, vault:<kv-mount>/<path>, or external[:note]')
    .requiredOption('--owner <team>', 'who owns the key')
    .option('--consumer <spiffe-id-or-pattern>', 'an expected consumer (repeatable)', collect, [] as string[])
    .option('--credential <name>', 'the broker credential consumers fetch the key as (default: the key name)')
    .option('--note <text>', 'where an external key lives and who changes it')
    .option('--window <duration>', 'evidence window: consumers seen, no static lease (default 7d)')
    .option(
      '--quiet-period <duration>',
      'how long a short-lived key must go unasked before retirement (default 7d)',
    )
    .option(
      '--restore-window <duration>',
      'how long a rotation or retirement can be rolled back (default 30d)',
    )
    .addHelpText(
      'after',
      `
Examples:
  $ meshbridge keys add orders-db --location aws:prod/orders-db --owner payments \\
      --consumer spiffe://example.org/ns/shop/sa/web --consumer 'spiffe://example.org/ns/batch/sa/*'
  $ meshbridge keys add legacy-ftp --location external --note "FTP appliance, changed by NetOps" \\
      --owner netops --consumer spiffe://example.org/ns/ops/sa/uploader
${EXIT_HELP}`,
    )
    .action(
      r.action(async (ctx, name: string, opts: AddOptions) => {
        const view = await withLedger(ctx, (ledger) =>
          ledger.add({
            name,
            location: opts.location,
            owner: opts.owner,
            consumers: opts.consumer,
            ...(opts.credential === undefined ? {} : { credential: opts.credential }),
            ...(opts.note === undefined ? {} : { note: opts.note }),
            ...duration(opts.window, '--window', 'windowSeconds'),
            ...duration(opts.quietPeriod, '--quiet-period', 'quietSeconds'),
            ...duration(opts.restoreWindow, '--restore-window', 'restoreSeconds'),
            by: operator(ctx),
          }),
        );
        if (ctx.out.json) ctx.out.printJson(view);
        else {
          ctx.out.out(`added ${view.name} (${view.location}, owner ${view.owner}) as static`);
          renderNext(ctx.out, view);
        }
      }),
    );

  keys
    .command('list')
    .description('every key with its state and whether its next step is ready; the funnel per state')
    .addHelpText(
      'after',
      `
Examples:
  $ meshbridge keys list
  $ meshbridge keys list --json

Exit status: 0 listed, 2 usage error, 3 store unavailable.`,
    )
    .action(
      r.action(async (ctx) => {
        const views = await withLedger(ctx, (ledger) => ledger.list());
        const funnel = staticKeyFunnel(views);
        if (ctx.out.json) {
          ctx.out.printJson({ keys: views, funnel });
          return;
        }
        if (views.length === 0) {
          ctx.out.out('no static keys in the ledger (add one with `meshbridge keys add`)');
          return;
        }
        ctx.out.out(
          table(
            ['NAME', 'STATE', 'LOCATION', 'OWNER', 'NEXT', 'BLOCKERS'],
            views.map((v) => [
              v.name,
              v.interrupted === null ? v.state : `${v.state} (interrupted)`,
              v.location,
              v.owner,
              v.next.state === null ? '-' : `${v.next.state}${v.next.ready ? ' (ready)' : ''}`,
              String(v.next.blockers.length),
            ]),
          ),
        );
        ctx.out.out('');
        ctx.out.out(funnel.states.map((s) => `${s.state} ${s.count}`).join('  ·  '));
      }),
    );

  keys
    .command('show')
    .description(
      "one key: its consumers as the broker saw them, and the next step's gates with their blockers",
    )
    .argument('<name>')
    .addHelpText(
      'after',
      `
Example:
  $ meshbridge keys show orders-db

Exit status: 0 shown, 2 usage error or unknown key, 3 store unavailable.`,
    )
    .action(
      r.action(async (ctx, name: string) => {
        const view = await withLedger(ctx, (ledger) => ledger.show(name));
        if (ctx.out.json) ctx.out.printJson(view);
        else renderShow(ctx.out, view);
      }),
    );

  keys
    .command('advance')
    .description('take the next step (or every step up to --to) if the evidence gates pass')
    .argument('<name>')
    .option('--to <state>', 'advance through every state up to this one')
    .option('--confirm', 'external keys: confirm the out-of-band step (value replaced, key deleted)')
    .option('--force', 'recover an interrupted operation even if it started less than a minute ago')
    .option('--reason <text>', 'recorded in the history')
    .addHelpText(
      'after',
      `
brokered -> rotated replaces the value through the backend (AWS: AWSPENDING, then
AWSCURRENT; Vault KV: a new version); short-lived -> retired replaces it once more with a
value nobody is given. An interrupted earlier operation is finished first.

Examples:
  $ meshbridge keys advance orders-db
  $ meshbridge keys advance orders-db --to rotated --json
  $ meshbridge keys advance legacy-ftp --confirm
${EXIT_HELP}`,
    )
    .action(
      r.action(async (ctx, name: string, opts: AdvanceFlags) => {
        const result = await withLedger(ctx, (ledger) =>
          ledger.advance(name, {
            ...(opts.to === undefined ? {} : { to: opts.to }),
            ...(opts.reason === undefined ? {} : { reason: opts.reason }),
            confirm: opts.confirm === true,
            force: opts.force === true,
            by: operator(ctx),
          }),
        );
        ctx.exitCode = result.refused === null ? EXIT.ok : EXIT.negative;
        if (ctx.out.json) ctx.out.printJson(advanceJson(result));
        else renderAdvance(ctx.out, result);
      }),
    );

  keys
    .command('rollback')
    .description(
      'go back one state; from rotated or retired, restore the previous value within the restore window',
    )
    .argument('<name>')
    .requiredOption('--reason <text>', 'why (recorded in the history)')
    .addHelpText(
      'after',
      `
Example:
  $ meshbridge keys rollback orders-db --reason "the nightly export still reads the old password"
${EXIT_HELP}`,
    )
    .action(
      r.action(async (ctx, name: string, opts: { reason: string }) => {
        const result = await withLedger(ctx, (ledger) =>
          ledger.rollback(name, { reason: opts.reason, by: operator(ctx) }),
        );
        ctx.exitCode = result.refused === null ? EXIT.ok : EXIT.negative;
        if (ctx.out.json) ctx.out.printJson(rollbackJson(result));
        else renderRollback(ctx.out, result);
      }),
    );

  keys
    .command('recover')
    .description('finish (or --undo) a rotation or rollback a killed process left between backend and ledger')
    .argument('<name>')
    .option('--undo', 'restore the value that was current before the interrupted operation')
    .option(
      '--force',
      'even if the operation started less than a minute ago (no other process is running it)',
    )
    .addHelpText(
      'after',
      `
Examples:
  $ meshbridge keys recover orders-db
  $ meshbridge keys recover orders-db --undo --force

Exit status: 0 recovered (or nothing to recover), 1 the backend shows a state the journal does not explain, 2 usage error, 3 unavailable.`,
    )
    .action(
      r.action(async (ctx, name: string, opts: { undo?: boolean; force?: boolean }) => {
        const result = await withLedger(ctx, (ledger) =>
          ledger.recover(name, {
            mode: opts.undo === true ? 'undo' : 'finish',
            force: opts.force === true,
            by: operator(ctx),
          }),
        );
        if (ctx.out.json) ctx.out.printJson(recoveryJson(result));
        else renderRecovery(ctx.out, result);
      }),
    );

  keys
    .command('history')
    .description('every change of a key: who, when, from, to, evidence or reason')
    .argument('<name>')
    .addHelpText(
      'after',
      `
Examples:
  $ meshbridge keys history orders-db
  $ meshbridge keys history orders-db --json

Exit status: 0 shown, 2 usage error or unknown key, 3 store unavailable.`,
    )
    .action(
      r.action(async (ctx, name: string) => {
        const transitions = await withLedger(ctx, (ledger) => ledger.history(name));
        if (ctx.out.json) {
          ctx.out.printJson({ transitions: transitions.map(transitionJson) });
          return;
        }
        ctx.out.out(
          table(
            ['AT', 'KIND', 'FROM', 'TO', 'BY', 'REASON'],
            transitions.map((t) => [t.at.toISOString(), t.kind, t.from ?? '-', t.to, t.by, t.reason ?? '']),
          ),
        );
      }),
    );
}

// ---------------------------------------------------------------- plumbing

async function withLedger<T>(ctx: CommandContext, fn: (ledger: StaticKeyLedger) => Promise<T>): Promise<T> {
  const store = await openStore(ctx.globals.db, { env: ctx.io.env, cwd: ctx.io.cwd });
  const stores = secretStoresFrom(ctx.io.env);
  try {
    return await fn(new StaticKeyLedger({ store, secretStores: stores.resolve }));
  } finally {
    await stores.close();
    await store.close();
  }
}

/**
 * Backend clients from the standard environment: the AWS SDK's (AWS_REGION,
 * AWS_ENDPOINT_URL[_SECRETS_MANAGER], credentials chain) and Vault's (VAULT_ADDR,
 * VAULT_TOKEN). Built on first use, so commands on other keys need neither.
 */
function secretStoresFrom(env: NodeJS.ProcessEnv): { resolve: SecretStoreResolver; close(): Promise<void> } {
  const made = new Map<'aws' | 'vault', RotatingSecretStore>();
  const resolve: SecretStoreResolver = (kind) => {
    let store = made.get(kind);
    if (store === undefined) {
      let config: BackendConfig;
      if (kind === 'aws') {
        const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
        const endpoint = env.AWS_ENDPOINT_URL_SECRETS_MANAGER ?? env.AWS_ENDPOINT_URL;
        config = {
          type: 'aws-secrets-manager',
          ...(region ? { region } : {}),
          ...(endpoint ? { endpoint } : {}),
        };
      } else {
        config = { type: 'vault' };
      }
      store = createRotatingStore(config, { env });
      made.set(kind, store);
    }
    return store;
  };
  return {
    resolve,
    async close() {
      for (const s of made.values()) await (s as { close?: () => Promise<void> }).close?.();
    },
  };
}

function operator(ctx: CommandContext): string {
  const env = ctx.io.env;
  return env.MESHBRIDGE_OPERATOR || env.USER || env.USERNAME || 'unknown';
}

function duration<K extends string>(
  value: string | undefined,
  flag: string,
  key: K,
): Partial<Record<K, number>> {
  if (value === undefined) return {};
  return { [key]: parseDuration(value, flag) } as Partial<Record<K, number>>;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

// ---------------------------------------------------------------- JSON

function transitionJson(t: Transition) {
  return {
    key: t.key,
    version: t.version,
    kind: t.kind,
    from: t.from,
    to: t.to,
    at: t.at.toISOString(),
    by: t.by,
    reason: t.reason,
    evidence: t.evidence,
    backendFromVersion: t.backendFromVersion,
    backendToVersion: t.backendToVersion,
  };
}

function advanceJson(r: AdvanceResult) {
  return {
    name: r.name,
    from: r.from,
    state: r.state,
    advanced: r.transitions.length > 0,
    transitions: r.transitions.map(transitionJson),
    refused: r.refused === null ? null : { state: r.refused.state, gates: r.refused.gates },
    blockers: r.refused?.blockers ?? [],
    recovered: r.recovered === null ? null : recoveryJson(r.recovered),
  };
}

function rollbackJson(r: RollbackResult) {
  return {
    name: r.name,
    from: r.from,
    state: r.state,
    rolledBack: r.transition !== null,
    transition: r.transition === null ? null : transitionJson(r.transition),
    blockers: r.refused?.blockers ?? [],
  };
}

function recoveryJson(r: RecoveryResult) {
  return {
    name: r.name,
    operation: r.operation,
    outcome: r.outcome,
    downstream: r.downstream,
    state: r.state,
    currentVersion: r.currentVersion,
    transition: r.transition === null ? null : transitionJson(r.transition),
  };
}

// ---------------------------------------------------------------- people

function renderShow(o: Output, v: KeyView): void {
  o.out(`${v.name}  ${v.state} since ${v.since}`);
  o.out(`  location   ${v.location}${v.note === null ? '' : ` (${v.note})`}`);
  o.out(`  owner      ${v.owner}`);
  o.out(`  credential ${v.credential}`);
  if (v.backend !== null && v.backend.currentVersion !== null)
    o.out(
      `  backend    version ${v.backend.currentVersion}` +
        (v.backend.previousVersion === null ? '' : ` (previous ${v.backend.previousVersion})`),
    );
  if (v.restoreUntil !== null) o.out(`  restorable until ${v.restoreUntil}`);
  if (v.interrupted !== null) {
    const d = v.interrupted.downstream;
    o.out(
      `  ${fail(o)} interrupted ${v.interrupted.operation} ${v.interrupted.from} -> ${v.interrupted.to} ` +
        `started ${v.interrupted.startedAt} by ${v.interrupted.by}` +
        (d === undefined
          ? ''
          : `; downstream: ${d.stage}${d.message === undefined ? '' : ` (${d.message})`}`),
    );
    o.out(`      run \`meshbridge keys recover ${v.name}\` (finish) or add --undo`);
  }
  o.out('consumers');
  for (const c of v.consumers)
    o.out(
      `  ${c.inWindow ? pass(o) : fail(o)} ${c.id}  ` +
        (c.lastSeen === null ? 'never fetched through the broker' : `last fetched ${c.lastSeen}`),
    );
  renderNext(o, v);
}

function renderNext(o: Output, v: KeyView): void {
  if (v.next.state === null) {
    o.out('retired: no further step');
    return;
  }
  o.out(`next: ${v.next.state} — ${v.next.ready ? 'ready' : 'blocked'}`);
  for (const g of v.next.gates) {
    o.out(`  ${g.ok ? pass(o) : fail(o)} ${g.name}`);
    for (const b of g.blockers) o.out(`      ${b.message} [${b.code}]`);
    if (!g.ok && g.hint !== undefined) o.out(`      hint: ${g.hint}`);
  }
}

function renderAdvance(o: Output, r: AdvanceResult): void {
  if (r.recovered !== null && r.recovered.outcome !== 'nothing-pending')
    o.out(`recovered an interrupted ${r.recovered.operation}: ${r.recovered.outcome}`);
  for (const t of r.transitions) o.out(`${pass(o)} ${r.name}: ${t.from} -> ${t.to}`);
  if (r.refused === null) return;
  o.out(
    `${fail(o)} ${r.name} stays ${r.state}${r.refused.state === null ? '' : `: ${r.refused.state} refused`}`,
  );
  for (const g of r.refused.gates) {
    o.out(`  ${g.ok ? pass(o) : fail(o)} ${g.name}`);
    for (const b of g.blockers) o.out(`      ${b.message} [${b.code}]`);
    if (!g.ok && g.hint !== undefined) o.out(`      hint: ${g.hint}`);
  }
  if (r.refused.gates.length === 0) for (const b of r.refused.blockers) o.out(`  ${b.message} [${b.code}]`);
}

function renderRollback(o: Output, r: RollbackResult): void {
  if (r.refused === null) {
    o.out(`${pass(o)} ${r.name}: ${r.from} -> ${r.state}`);
    return;
  }
  o.out(`${fail(o)} ${r.name} stays ${r.state}`);
  for (const b of r.refused.blockers) o.out(`  ${b.message} [${b.code}]`);
}

function renderRecovery(o: Output, r: RecoveryResult): void {
  if (r.outcome === 'nothing-pending') {
    o.out(`${r.name}: nothing to recover`);
    return;
  }
  o.out(
    `${pass(o)} ${r.name}: interrupted ${r.operation} ${r.outcome}` +
      (r.downstream === null ? '' : ` (downstream it was ${r.downstream.stage})`) +
      `; now ${r.state}, backend version ${r.currentVersion ?? '-'}`,
  );
}
