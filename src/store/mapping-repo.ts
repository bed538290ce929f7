/**
 * Mapping runs and SPIRE entry dumps (tables of migrations/0003_mapping.sql).
 *
 * - `saveMappingRun`: one accepted `meshbridge map` run (the rules in force: canonical
 *   JSON, hash, version; every workload's SPIFFE ID; its non-blocking problems) in ONE
 *   transaction.
 * - `loadLatestMappingRun`: the last run for a trust domain, for continuity checks and
 *   `map explain`.
 * - `saveSpireEntryDump` / `loadLatestSpireEntryDump`: what `spire-server entry show
 *   -output json` said, stored by `meshbridge spire sync --entries`.
 *
 * Plain rows in, plain rows out; this file imports nothing from the domain folders.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { isConstraintError, isUnavailableError } from './driver-errors.js';
import { StoreError } from './errors.js';
import { batches, parseJson } from './rows.js';
import type { Database } from './schema.js';
import type { Store } from './store.js';

// ---------------------------------------------------------------- tables

export interface MappingRunsTable {
  id: string;
  seq: number;
  created_at: string;
  trust_domain: string;
  rules_hash: string;
  rules_version: number;
  rules_file: string | null;
  /** canonical JSON of the validated rules document */
  rules: string;
  meshbridge_version: string;
  /** JSON object */
  summary: string;
}

export interface MappingsTable {
  run_id: string;
  fingerprint: string;
  mesh: string | null;
  cluster: string | null;
  mesh_identity: string;
  namespace: string | null;
  service_account: string | null;
  spiffe_id: string;
  rule_index: number;
  owner: string | null;
}

export interface MappingProblemsTable {
  id: string;
  run_id: string;
  code: string;
  blocking: number;
  message: string;
  /** JSON object or null */
  details: string | null;
}

export interface SpireEntryDumpsTable {
  id: string;
  seq: number;
  imported_at: string;
  source: string;
  sha256: string;
  entry_count: number;
  owned_count: number;
}

export interface SpireEntriesTable {
  dump_id: string;
  entry_id: string;
  spiffe_id: string;
  parent_id: string;
  /** JSON array of {type, value} */
  selectors: string;
  x509_svid_ttl: number;
  jwt_svid_ttl: number;
  /** JSON array of strings */
  federates_with: string;
  /** JSON array of strings */
  dns_names: string;
  hint: string;
  admin: number;
  downstream: number;
  store_svid: number;
  expires_at: number;
  revision_number: number;
  meshbridge_owned: number;
}

export interface MappingDatabase extends Database {
  mapping_runs: MappingRunsTable;
  mappings: MappingsTable;
  mapping_problems: MappingProblemsTable;
  spire_entry_dumps: SpireEntryDumpsTable;
  spire_entries: SpireEntriesTable;
}

// ---------------------------------------------------------------- rows

export interface MappingRowInput {
  fingerprint: string;
  mesh: string | null;
  cluster: string | null;
  meshIdentity: string;
  namespace: string | null;
  serviceAccount: string | null;
  spiffeId: string;
  rule: number;
  owner: string | null;
}

export interface MappingProblemRowInput {
  code: string;
  blocking: boolean;
  message: string;
  details?: Record<string, unknown> | null;
}

export interface SaveMappingRunInput {
  trustDomain: string;
  rulesHash: string;
  rulesVersion: number;
  rulesFile: string | null;
  /** Canonical JSON of the rules document. */
  rules: string;
  meshbridgeVersion: string;
  summary?: Record<string, unknown>;
  mappings: MappingRowInput[];
  problems?: MappingProblemRowInput[];
}

export interface StoredMappingRun {
  id: string;
  seq: number;
  createdAt: string;
  trustDomain: string;
  rulesHash: string;
  /** Format version of the rules file (its `version`). */
  rulesVersion: number;
  /** 1 for the first rules stored for the trust domain, 2 for the next different ones, ... */
  rulesRevision: number;
  rulesFile: string | null;
  rules: string;
  meshbridgeVersion: string;
  summary: Record<string, unknown>;
}

export interface LoadedMappingRun extends StoredMappingRun {
  mappings: MappingRowInput[];
  problems: (MappingProblemRowInput & { id: string })[];
}

export interface SpireEntryRowInput {
  id: string;
  spiffeId: string;
  parentId: string;
  selectors: { type: string; value: string }[];
  x509SvidTtl: number;
  jwtSvidTtl: number;
  federatesWith: string[];
  dnsNames: string[];
  hint: string;
  admin: boolean;
  downstream: boolean;
  storeSvid: boolean;
  expiresAt: number;
  revisionNumber: number;
  meshbridgeOwned: boolean;
}

export interface SaveSpireEntryDumpInput {
  source: string;
  sha256: string;
  entries: SpireEntryRowInput[];
}

export interface StoredSpireEntryDump {
  id: string;
  seq: number;
  importedAt: string;
  source: string;
  sha256: string;
  entryCount: number;
  ownedCount: number;
  entries: SpireEntryRowInput[];
}

export interface RepoOptions {
  clock?: () => Date;
  batchRows?: number;
}

const DEFAULT_BATCH_ROWS = 1000;

function db(store: Store): Kysely<MappingDatabase> {
  return store.db as unknown as Kysely<MappingDatabase>;
}

async function write<T>(
  store: Store,
  what: string,
  fn: (trx: Transaction<MappingDatabase>) => Promise<T>,
): Promise<T> {
  try {
    return await store.transaction((trx) => fn(trx as unknown as Transaction<MappingDatabase>));
  } catch (err) {
    if (err instanceof StoreError || isUnavailableError(err)) throw err;
    if (isConstraintError(err)) {
      throw new StoreError(
        'STORE_CONSTRAINT_VIOLATED',
        'input',
        `the ${what} was refused by the database and nothing of it was saved: ${(err as Error).message}`,
        { cause: err },
      );
    }
    throw err;
  }
}

async function nextSeq(
  trx: Transaction<MappingDatabase>,
  table: 'mapping_runs' | 'spire_entry_dumps',
): Promise<number> {
  const row = await trx
    .selectFrom(table)
    .select((eb) => eb.fn.max<number | string | null>('seq').as('max'))
    .executeTakeFirst();
  return Number(row?.max ?? 0) + 1;
}

// ---------------------------------------------------------------- mapping runs

/** Saves one accepted mapping run, whole or not at all. */
export async function saveMappingRun(
  store: Store,
  input: SaveMappingRunInput,
  opts: RepoOptions = {},
): Promise<{ runId: string; seq: number; savedAt: string; rulesRevision: number }> {
  if (!/^[0-9a-f]{64}$/.test(input.rulesHash)) {
    throw new StoreError(
      'STORE_INPUT_INVALID',
      'input',
      `rules hash is not a lowercase hex SHA-256: ${input.rulesHash}`,
    );
  }
  const now = (opts.clock ?? (() => new Date()))().toISOString();
  const runId = randomUUID();
  const rows = opts.batchRows ?? DEFAULT_BATCH_ROWS;
  return write(store, 'mapping run', async (trx) => {
    const seq = await nextSeq(trx, 'mapping_runs');
    const rulesRevision = await revisionOf(trx, input.trustDomain, input.rulesHash);
    await trx
      .insertInto('mapping_runs')
      .values({
        id: runId,
        seq,
        created_at: now,
        trust_domain: input.trustDomain,
        rules_hash: input.rulesHash,
        rules_version: input.rulesVersion,
        rules_file: input.rulesFile,
        rules: input.rules,
        meshbridge_version: input.meshbridgeVersion,
        summary: JSON.stringify({ ...input.summary, rulesRevision }),
      })
      .execute();
    const mappingRows: MappingsTable[] = input.mappings.map((m) => ({
      run_id: runId,
      fingerprint: m.fingerprint,
      mesh: m.mesh,
      cluster: m.cluster,
      mesh_identity: m.meshIdentity,
      namespace: m.namespace,
      service_account: m.serviceAccount,
      spiffe_id: m.spiffeId,
      rule_index: m.rule,
      owner: m.owner,
    }));
    for (const batch of batches(mappingRows, 10, rows))
      await trx.insertInto('mappings').values(batch).execute();
    const problemRows: MappingProblemsTable[] = (input.problems ?? []).map((p) => ({
      id: randomUUID(),
      run_id: runId,
      code: p.code,
      blocking: p.blocking ? 1 : 0,
      message: p.message,
      details: p.details == null ? null : JSON.stringify(p.details),
    }));
    for (const batch of batches(problemRows, 6, rows))
      await trx.insertInto('mapping_problems').values(batch).execute();
    return { runId, seq, savedAt: now, rulesRevision };
  });
}

/**
 * The revision of a rules hash within a trust domain: 1 for the first rules ever stored,
 * 2 for the next different ones, ...; a hash seen before keeps its revision.
 */
async function revisionOf(
  trx: Transaction<MappingDatabase>,
  trustDomain: string,
  hash: string,
): Promise<number> {
  const rows = await trx
    .selectFrom('mapping_runs')
    .select((eb) => ['rules_hash', eb.fn.min<number | string>('seq').as('first')])
    .where('trust_domain', '=', trustDomain)
    .groupBy('rules_hash')
    .execute();
  const ordered = rows.sort((a, b) => Number(a.first) - Number(b.first)).map((r) => r.rules_hash);
  const at = ordered.indexOf(hash);
  return at === -1 ? ordered.length + 1 : at + 1;
}

function runOf(r: MappingRunsTable): StoredMappingRun {
  const summary = parseJson<Record<string, unknown>>(r.summary, {});
  return {
    id: r.id,
    seq: Number(r.seq),
    createdAt: r.created_at,
    trustDomain: r.trust_domain,
    rulesHash: r.rules_hash,
    rulesVersion: Number(r.rules_version),
    rulesRevision: typeof summary.rulesRevision === 'number' ? summary.rulesRevision : 0,
    rulesFile: r.rules_file,
    rules: r.rules,
    meshbridgeVersion: r.meshbridge_version,
    summary,
  };
}

/** Runs, newest first (no mappings). */
export async function listMappingRuns(
  store: Store,
  filter: { trustDomain?: string; rulesHash?: string; limit?: number } = {},
): Promise<StoredMappingRun[]> {
  let q = db(store).selectFrom('mapping_runs').selectAll();
  if (filter.trustDomain !== undefined) q = q.where('trust_domain', '=', filter.trustDomain);
  if (filter.rulesHash !== undefined) q = q.where('rules_hash', '=', filter.rulesHash);
  const rows = await q
    .orderBy('seq', 'desc')
    .limit(filter.limit ?? 100)
    .execute();
  return rows.map(runOf);
}

/** The newest run (of a trust domain, when given) with its mappings and problems; null when none. */
export async function loadLatestMappingRun(
  store: Store,
  filter: { trustDomain?: string } = {},
): Promise<LoadedMappingRun | null> {
  const [run] = await listMappingRuns(store, { ...filter, limit: 1 });
  if (run === undefined) return null;
  return loadMappingRun(store, run.id);
}

export async function loadMappingRun(store: Store, runId: string): Promise<LoadedMappingRun | null> {
  const k = db(store);
  const row = await k.selectFrom('mapping_runs').selectAll().where('id', '=', runId).executeTakeFirst();
  if (row === undefined) return null;
  const mappings = (
    await k
      .selectFrom('mappings')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('spiffe_id')
      .orderBy('fingerprint')
      .execute()
  ).map((m) => ({
    fingerprint: m.fingerprint,
    mesh: m.mesh,
    cluster: m.cluster,
    meshIdentity: m.mesh_identity,
    namespace: m.namespace,
    serviceAccount: m.service_account,
    spiffeId: m.spiffe_id,
    rule: Number(m.rule_index),
    owner: m.owner,
  }));
  const problems = (
    await k
      .selectFrom('mapping_problems')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('code')
      .orderBy('id')
      .execute()
  ).map((p) => ({
    id: p.id,
    code: p.code,
    blocking: Number(p.blocking) === 1,
    message: p.message,
    details: parseJson<Record<string, unknown> | null>(p.details, null),
  }));
  return { ...runOf(row), mappings, problems };
}

// ---------------------------------------------------------------- SPIRE entry dumps

export async function saveSpireEntryDump(
  store: Store,
  input: SaveSpireEntryDumpInput,
  opts: RepoOptions = {},
): Promise<{ dumpId: string; seq: number; importedAt: string }> {
  const now = (opts.clock ?? (() => new Date()))().toISOString();
  const dumpId = randomUUID();
  const rows = opts.batchRows ?? DEFAULT_BATCH_ROWS;
  const seen = new Set<string>();
  for (const e of input.entries) {
    if (seen.has(e.id)) {
      throw new StoreError(
        'STORE_INPUT_INVALID',
        'input',
        `SPIRE entry id ${e.id} appears twice in one dump`,
      );
    }
    seen.add(e.id);
  }
  return write(store, 'SPIRE entry dump', async (trx) => {
    const seq = await nextSeq(trx, 'spire_entry_dumps');
    await trx
      .insertInto('spire_entry_dumps')
      .values({
        id: dumpId,
        seq,
        imported_at: now,
        source: input.source,
        sha256: input.sha256,
        entry_count: input.entries.length,
        owned_count: input.entries.filter((e) => e.meshbridgeOwned).length,
      })
      .execute();
    const entryRows: SpireEntriesTable[] = input.entries.map((e) => ({
      dump_id: dumpId,
      entry_id: e.id,
      spiffe_id: e.spiffeId,
      parent_id: e.parentId,
      selectors: JSON.stringify(e.selectors),
      x509_svid_ttl: e.x509SvidTtl,
      jwt_svid_ttl: e.jwtSvidTtl,
      federates_with: JSON.stringify(e.federatesWith),
      dns_names: JSON.stringify(e.dnsNames),
      hint: e.hint,
      admin: e.admin ? 1 : 0,
      downstream: e.downstream ? 1 : 0,
      store_svid: e.storeSvid ? 1 : 0,
      expires_at: e.expiresAt,
      revision_number: e.revisionNumber,
      meshbridge_owned: e.meshbridgeOwned ? 1 : 0,
    }));
    for (const batch of batches(entryRows, 16, rows))
      await trx.insertInto('spire_entries').values(batch).execute();
    return { dumpId, seq, importedAt: now };
  });
}

/** The newest stored dump with its entries; null when `spire sync --entries` never ran. */
export async function loadLatestSpireEntryDump(store: Store): Promise<StoredSpireEntryDump | null> {
  const k = db(store);
  const d = await k
    .selectFrom('spire_entry_dumps')
    .selectAll()
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (d === undefined) return null;
  const entries = (
    await k
      .selectFrom('spire_entries')
      .selectAll()
      .where('dump_id', '=', d.id)
      .orderBy('spiffe_id')
      .orderBy('entry_id')
      .execute()
  ).map((e) => ({
    id: e.entry_id,
    spiffeId: e.spiffe_id,
    parentId: e.parent_id,
    selectors: parseJson<{ type: string; value: string }[]>(e.selectors, []),
    x509SvidTtl: Number(e.x509_svid_ttl),
    jwtSvidTtl: Number(e.jwt_svid_ttl),
    federatesWith: parseJson<string[]>(e.federates_with, []),
    dnsNames: parseJson<string[]>(e.dns_names, []),
    hint: e.hint,
    admin: Number(e.admin) === 1,
    downstream: Number(e.downstream) === 1,
    storeSvid: Number(e.store_svid) === 1,
    expiresAt: Number(e.expires_at),
    revisionNumber: Number(e.revision_number),
    meshbridgeOwned: Number(e.meshbridge_owned) === 1,
  }));
  return {
    id: d.id,
    seq: Number(d.seq),
    importedAt: d.imported_at,
    source: d.source,
    sha256: d.sha256,
    entryCount: Number(d.entry_count),
    ownedCount: Number(d.owned_count),
    entries,
  };
}
