import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { writeFileAtomic } from '../../devca/files.js';
import {
  canonicalIdentity,
  canonicalJson,
  type EmitOutput,
  type Explanation,
  emit,
  explainIdentity,
  hasBlocking,
  isMeshName,
  loadRules,
  type MappableWorkload,
  type MappingProblem,
  type MappingResult,
  type MappingRules,
  mapJson,
  mapWorkloads,
  type PolicyObject,
  type PreviousMapping,
  parseEmitList,
  parsePolicyDocuments,
  ruleLabel,
  rulesFromObject,
} from '../../mapper/index.js';
import { loadInventory, openStore, type Store } from '../../store/index.js';
import {
  type LoadedMappingRun,
  loadLatestMappingRun,
  loadLatestSpireEntryDump,
  saveMappingRun,
} from '../../store/mapping-repo.js';
import { VERSION } from '../../version.js';
import { type CommandContext, UsageError } from '../context.js';
import { readInputFile } from '../inputs.js';
import { fail, pass, table, warnMark } from '../output.js';
import type { Registrar } from '../program.js';

const DEFAULT_OUT = 'meshbridge-map';
const TABLE_ROWS = 50;

interface MapOpts {
  rules?: string;
  emit?: string[];
  out?: string;
  policies?: string[];
  allowIdChanges?: boolean;
  save?: boolean;
}

export function registerMapCommands(program: Command, r: Registrar): void {
  const map = program
    .command('map')
    .description('map every mesh identity of the inventory to its SPIFFE ID, and emit what must follow it')
    .option('--rules <file>', 'the mapping rules (YAML)')
    .option(
      '--emit <emitter...>',
      'spire-entries, cluster-spiffeid, istio, linkerd, csv, json (several allowed, comma or space separated)',
    )
    .option('--out <dir>', `folder for the emitted files (default ./${DEFAULT_OUT})`)
    .option(
      '--policies <path...>',
      'AuthorizationPolicy / MeshTLSAuthentication YAML files or folders to rewrite (istio, linkerd)',
    )
    .option('--allow-id-changes', 'an ID that differs from the stored mapping is intended (not blocking)')
    .option('--no-save', 'do not store this run as the mapping in force')
    .addHelpText(
      'after',
      `
Reads the workloads of the inventory in the store (--db), maps each mesh identity with the
first matching rule, checks collisions, continuity with the stored mapping and the trust
domain, then writes the emitters' files to --out and stores the run with the rules' hash.
With a blocking problem it writes nothing, stores nothing and exits 1.

SPIRE entries carry the hint "meshbridge" or "meshbridge:<owner>": that is how meshbridge
knows an entry is its own. The plan (after \`meshbridge spire sync --entries\`) never
proposes to delete an entry without it.

Exit status: 0 mapped, 1 a blocking problem, 2 usage or unreadable input, 3 store down.

Examples:
  $ meshbridge map --rules rules.yaml
  $ meshbridge map --rules rules.yaml --emit spire-entries,istio --policies policies/ --out out
  $ meshbridge map --rules rules.yaml --json | jq '.problems[] | select(.blocking)'
  $ meshbridge map explain cluster.local/ns/shop/sa/web`,
    )
    .action(r.action((ctx, opts: MapOpts) => runMap(ctx, opts)));

  map
    .command('explain')
    .description('which rule maps a mesh identity, and why')
    .argument('<mesh-identity>', 'an Istio SPIFFE ID or principal, or a Linkerd identity name')
    .option('--rules <file>', 'the rules to explain with (default: the rules of the stored mapping)')
    .option(
      '--cluster <name>',
      'only this cluster (or: the cluster to assume when the inventory lacks the identity)',
    )
    .option('--mesh <mesh>', 'the mesh to assume when the inventory lacks the identity (istio | linkerd)')
    .addHelpText(
      'after',
      `
Exit status: 0 the identity maps to a SPIFFE ID, 1 it does not (no rule, bad template),
2 usage or an identity in no known form.

Examples:
  $ meshbridge map explain spiffe://cluster.local/ns/shop/sa/web --rules rules.yaml
  $ meshbridge map explain web.shop.serviceaccount.identity.linkerd.cluster.local --json`,
    )
    .action(
      r.action((ctx, identity: string, opts: { rules?: string; cluster?: string; mesh?: string }) =>
        runExplain(ctx, identity, opts),
      ),
    );
}

// ---------------------------------------------------------------- shared

/** Opens the store named by --db (or $MESHBRIDGE_DB, ./meshbridge.db) and closes it after `fn`. */
export async function withStore<T>(ctx: CommandContext, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(ctx.globals.db, { cwd: ctx.io.cwd, env: ctx.io.env });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

async function loadWorkloads(store: Store): Promise<MappableWorkload[]> {
  const inv = await loadInventory(store, { role: 'workload', problems: 'none' });
  return inv.certificates;
}

function previousOf(run: LoadedMappingRun | null): PreviousMapping | null {
  if (run === null) return null;
  const seen = new Set<string>();
  const identities: PreviousMapping['identities'] = [];
  for (const m of run.mappings) {
    const key = `${m.mesh ?? ''}\u0000${m.cluster ?? ''}\u0000${m.meshIdentity}`;
    if (seen.has(key)) continue;
    seen.add(key);
    identities.push({ mesh: m.mesh, cluster: m.cluster, meshIdentity: m.meshIdentity, spiffeId: m.spiffeId });
  }
  return { rulesHash: run.rulesHash, runId: run.id, createdAt: run.createdAt, identities };
}

function readPolicies(cwd: string, paths: readonly string[]): PolicyObject[] {
  const out: PolicyObject[] = [];
  const readOne = (file: string, shown: string) => {
    const text = readInputFile(cwd, file, 'policy file').toString('utf8');
    out.push(...parsePolicyDocuments(text, shown).policies);
  };
  for (const p of paths) {
    const full = resolve(cwd, p);
    let isDir = false;
    try {
      isDir = statSync(full).isDirectory();
    } catch {
      // readInputFile reports the missing file with its code.
    }
    if (!isDir) {
      readOne(p, p);
      continue;
    }
    for (const name of readdirSync(full).sort()) {
      if (/\.(ya?ml|json)$/i.test(name)) readOne(join(p, name), join(p, name));
    }
  }
  return out;
}

// ---------------------------------------------------------------- map

async function runMap(ctx: CommandContext, opts: MapOpts): Promise<void> {
  if (opts.rules === undefined) throw new UsageError('--rules FILE is required (the mapping rules, YAML)');
  const emitters = parseEmitList(opts.emit ?? []);
  const rules = loadRules(readInputFile(ctx.io.cwd, opts.rules, 'rules file').toString('utf8'), opts.rules);
  const policies = opts.policies ? readPolicies(ctx.io.cwd, opts.policies) : [];
  const outDir = resolve(ctx.io.cwd, opts.out ?? DEFAULT_OUT);

  const outcome = await withStore(ctx, async (store) => {
    const workloads = await loadWorkloads(store);
    const previous = previousOf(await loadLatestMappingRun(store, { trustDomain: rules.trustDomain }));
    const result = mapWorkloads(workloads, rules, previous, { allowIdChanges: Boolean(opts.allowIdChanges) });
    let emitted: EmitOutput | null = null;
    if (emitters.length > 0 && !result.blocking) {
      const dump = emitters.includes('spire-entries') ? await loadLatestSpireEntryDump(store) : null;
      emitted = emit({
        rules,
        result,
        emit: emitters,
        policies,
        spireDump: dump && {
          entries: dump.entries,
          id: dump.id,
          importedAt: dump.importedAt,
          source: dump.source,
        },
      });
    }
    const extra = emitted?.problems ?? [];
    const blocking = result.blocking || hasBlocking(extra);
    let saved: { runId: string; rulesRevision: number } | null = null;
    const written: { path: string; description: string }[] = [];
    if (!blocking) {
      for (const f of emitted?.files ?? []) {
        const path = join(outDir, f.path);
        mkdirSync(dirname(path), { recursive: true });
        writeFileAtomic(path, f.content);
        written.push({ path, description: f.description });
      }
      if (opts.save !== false && result.stats.workloads > 0) {
        saved = await saveMappingRun(store, {
          trustDomain: rules.trustDomain,
          rulesHash: rules.hash,
          rulesVersion: rules.version,
          rulesFile: opts.rules ?? null,
          rules: canonicalJson(rules.document),
          meshbridgeVersion: VERSION,
          summary: { ...result.stats, emitted: emitters, previousRun: previous?.runId ?? null },
          mappings: result.mappings,
          problems: [...result.problems, ...extra].map((p) => ({
            code: p.code,
            blocking: p.blocking,
            message: p.message,
            details: problemDetails(p),
          })),
        });
      }
    }
    return { result, extra, blocking, written, saved, emitted };
  });

  ctx.exitCode = outcome.blocking ? 1 : 0;
  if (ctx.out.json) {
    ctx.out.printJson(mapJson(outcome.result, outcome.extra));
    return;
  }
  renderMap(ctx, rules, outcome.result, outcome.extra, outcome);
}

function problemDetails(p: MappingProblem): Record<string, unknown> {
  const { code: _c, message: _m, blocking: _b, ...rest } = p;
  return rest;
}

function renderMap(
  ctx: CommandContext,
  rules: MappingRules,
  result: MappingResult,
  extra: MappingProblem[],
  outcome: {
    blocking: boolean;
    written: { path: string; description: string }[];
    saved: { runId: string; rulesRevision: number } | null;
    emitted: EmitOutput | null;
  },
): void {
  const o = ctx.out;
  o.out(
    `trust domain ${result.trustDomain} · rules ${result.rulesHash.slice(0, 12)} (version ${result.rulesVersion}, ${rules.rules.length} rule${rules.rules.length === 1 ? '' : 's'})`,
  );
  o.out(
    `${result.stats.workloads} workload certificate${result.stats.workloads === 1 ? '' : 's'}, ${result.identities.length} mesh identit${result.identities.length === 1 ? 'y' : 'ies'} mapped, ${result.unmapped.length} certificate${result.unmapped.length === 1 ? '' : 's'} unmapped`,
  );
  if (result.stats.workloads === 0) {
    o.out(`${warnMark(o)} the inventory has no workload certificates: run \`meshbridge import\` first`);
  }
  if (result.identities.length > 0) {
    o.out('');
    const rows = result.identities
      .slice(0, TABLE_ROWS)
      .map((m) => [
        m.mesh ?? '-',
        m.cluster ?? '-',
        m.meshIdentity,
        m.spiffeId,
        String(m.rule),
        m.owner ?? '-',
        String(m.fingerprints.length),
      ]);
    o.out(table(['MESH', 'CLUSTER', 'MESH IDENTITY', 'SPIFFE ID', 'RULE', 'OWNER', 'CERTS'], rows));
    if (result.identities.length > TABLE_ROWS) {
      o.out(`... ${result.identities.length - TABLE_ROWS} more (use --json or --emit csv)`);
    }
  }
  const problems = [...result.problems, ...extra];
  if (problems.length > 0) {
    o.out('');
    for (const p of problems.slice(0, TABLE_ROWS))
      o.out(`${p.blocking ? fail(o) : warnMark(o)} ${p.code}  ${p.message}`);
    if (problems.length > TABLE_ROWS) o.out(`... ${problems.length - TABLE_ROWS} more problems (use --json)`);
  }
  o.out('');
  if (outcome.blocking) {
    const n = problems.filter((p) => p.blocking).length;
    o.out(
      `${fail(o)} refused: ${n} blocking problem${n === 1 ? '' : 's'}; nothing was written and nothing was saved`,
    );
    return;
  }
  for (const f of outcome.written) o.out(`${pass(o)} wrote ${f.path}  (${f.description})`);
  if (outcome.emitted?.plan) {
    const s = outcome.emitted.plan.summary;
    o.out(
      `  SPIRE plan: ${s.create} create, ${s.update} update, ${s.keep} keep, ${s.wouldDelete} would-delete (${s.foreignUntouched} entries not meshbridge's, untouched)`,
    );
  }
  if (outcome.saved)
    o.out(`${pass(o)} stored as mapping run ${outcome.saved.runId} (rules ${result.rulesHash.slice(0, 12)})`);
  else o.out(`${warnMark(o)} not stored (${result.stats.workloads === 0 ? 'nothing to map' : '--no-save'})`);
}

// ---------------------------------------------------------------- explain

async function runExplain(
  ctx: CommandContext,
  identity: string,
  own: { rules?: string; cluster?: string; mesh?: string },
): Promise<void> {
  // `map`'s options are parsed by the parent command; merge them.
  const all = ctx.globals as { rules?: string; cluster?: string; mesh?: string };
  const opts = {
    rules: own.rules ?? all.rules,
    cluster: own.cluster ?? all.cluster,
    mesh: own.mesh ?? all.mesh,
  };
  if (opts.mesh !== undefined && !isMeshName(opts.mesh)) {
    throw new UsageError(`--mesh must be istio or linkerd, got "${opts.mesh}"`);
  }
  const fileRules =
    opts.rules === undefined
      ? null
      : loadRules(readInputFile(ctx.io.cwd, opts.rules, 'rules file').toString('utf8'), opts.rules);

  const { explanation, rules, stored } = await withStore(ctx, async (store) => {
    const workloads = await loadWorkloads(store);
    const latest = await loadLatestMappingRun(store, fileRules ? { trustDomain: fileRules.trustDomain } : {});
    let rules: MappingRules;
    if (fileRules !== null) rules = fileRules;
    else if (latest !== null)
      rules = rulesFromObject(JSON.parse(latest.rules), latest.rulesFile ?? 'stored rules');
    else throw new UsageError('give --rules FILE: no mapping run is stored yet to take the rules from');
    const result = mapWorkloads(workloads, rules, previousOf(latest));
    const explanation = explainIdentity(identity, rules, workloads, {
      cluster: opts.cluster ?? null,
      mesh: (opts.mesh as 'istio' | 'linkerd' | undefined) ?? null,
      result,
    });
    const key = canonicalIdentity(identity);
    const stored =
      latest === null
        ? null
        : {
            runId: latest.id,
            createdAt: latest.createdAt,
            rulesHash: latest.rulesHash,
            mappings: uniqueStored(latest.mappings.filter((m) => canonicalIdentity(m.meshIdentity) === key)),
          };
    return { explanation, rules, stored };
  });
  if (explanation === null) {
    throw new UsageError(
      `"${identity}" is neither an Istio identity (spiffe://<td>/ns/<ns>/sa/<sa> or <td>/ns/<ns>/sa/<sa>) nor a Linkerd one (<sa>.<ns>.serviceaccount.identity.<cp-ns>.<td>), and the inventory has no workload with it`,
      'IDENTITY_UNRECOGNISED',
    );
  }
  ctx.exitCode = explanation.subjects.every((s) => s.spiffeId !== null) ? 0 : 1;
  if (ctx.out.json) {
    ctx.out.printJson({ ...explanation, trustDomain: rules.trustDomain, rulesHash: rules.hash, stored });
    return;
  }
  renderExplain(ctx, rules, explanation, stored);
}

function uniqueStored(
  rows: {
    mesh: string | null;
    cluster: string | null;
    spiffeId: string;
    rule: number;
    owner: string | null;
  }[],
) {
  const seen = new Map<
    string,
    { mesh: string | null; cluster: string | null; spiffeId: string; rule: number; owner: string | null }
  >();
  for (const r of rows) {
    const k = `${r.mesh}\u0000${r.cluster}\u0000${r.spiffeId}`;
    if (!seen.has(k))
      seen.set(k, { mesh: r.mesh, cluster: r.cluster, spiffeId: r.spiffeId, rule: r.rule, owner: r.owner });
  }
  return [...seen.values()];
}

function renderExplain(
  ctx: CommandContext,
  rules: MappingRules,
  e: Explanation,
  stored: {
    runId: string;
    rulesHash: string;
    mappings: { cluster: string | null; spiffeId: string }[];
  } | null,
): void {
  const o = ctx.out;
  const p = e.parsed;
  const form =
    p.form === 'linkerd-dns'
      ? `Linkerd identity: trust domain ${p.trustDomain}`
      : p.form === 'istio-spiffe' || p.form === 'istio-principal'
        ? `Istio identity: trust domain ${p.trustDomain}`
        : 'identity';
  o.out(
    `${e.identity}  (${form}${p.namespace ? `, namespace ${p.namespace}` : ''}${p.serviceAccount ? `, service account ${p.serviceAccount}` : ''})`,
  );
  o.out(
    e.inInventory
      ? `in the inventory: ${e.subjects.map((s) => `${s.mesh ?? '?'}/${s.cluster ?? '(no cluster)'} (${s.fingerprints.length} certificate${s.fingerprints.length === 1 ? '' : 's'})`).join(', ')}`
      : `${warnMark(o)} not in the inventory: explained from the identity itself${e.subjects[0]?.cluster ? ` in cluster ${e.subjects[0].cluster}` : ' with no cluster'}`,
  );
  o.out(`rules ${rules.hash.slice(0, 12)}, trust domain ${rules.trustDomain}; first match wins`);
  for (const s of e.subjects) {
    o.out('');
    o.out(`${s.mesh ?? '?'} / ${s.cluster ?? '(no cluster)'}`);
    for (const v of s.rules) {
      const rule = rules.rules[v.index]!;
      const checks = v.checks
        .map((c) =>
          c.patterns === null
            ? `${c.field} any`
            : `${c.field} ${c.patterns.join('|')} ${c.ok ? pass(o) : fail(o)}${c.ok ? '' : ` (${c.value ?? 'unknown'})`}`,
        )
        .join(', ');
      o.out(`  ${v.matched ? pass(o) : fail(o)} ${ruleLabel(rule)}: ${checks}`);
    }
    if (s.spiffeId !== null) {
      o.out(`  → ${s.spiffeId}${s.owner ? `  (owner ${s.owner})` : ''}`);
    } else {
      o.out(
        `  ${fail(o)} no SPIFFE ID: ${s.problem?.message ?? 'unknown'} [${s.problem?.code ?? 'NO_RULE_MATCHED'}]`,
      );
    }
  }
  if (e.problems.length > 0) {
    o.out('');
    for (const pr of e.problems) o.out(`${pr.blocking ? fail(o) : warnMark(o)} ${pr.code}  ${pr.message}`);
  }
  if (stored !== null && stored.mappings.length > 0) {
    o.out('');
    o.out(
      `stored mapping (run ${stored.runId.slice(0, 8)}, rules ${stored.rulesHash.slice(0, 12)}): ${stored.mappings
        .map((m) => `${m.cluster ?? '(no cluster)'} → ${m.spiffeId}`)
        .join(', ')}`,
    );
  }
}
