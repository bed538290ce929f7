/**
 * What to roll out for the phase a scope enters (or returns to): the bundle files, in the
 * formats the mesh's data plane reads, from the dual-trust emitters; the SPIRE entries
 * of the scope's workloads from the mapper's emitters; and the steps in words. Data out:
 * the CLI writes the files (`--out DIR`).
 */
import { bundleForPhase, withSequences } from '../dual-trust/compose.js';
import { type BundleFormat, emitBundle } from '../dual-trust/emit/index.js';
import { emit as emitMapping } from '../mapper/emit/index.js';
import { type MappableWorkload, mapWorkloads, type PreviousMapping } from '../mapper/map.js';
import { rulesFromObject } from '../mapper/rules.js';
import type { SpireEntry } from '../mapper/spire/dump.js';
import type { Clock } from '../spiffe/errors.js';
import type { Store } from '../store/index.js';
import { composeMesh, descendantsOf, loadScopes } from './context.js';
import { dbOf } from './schema.js';
import { type Phase, parseScopeName } from './scope.js';

export interface RolloutArtifact {
  /** Relative to `--out`, `/`-separated. */
  path: string;
  description: string;
  content: string;
}

export interface Rollout {
  scope: string;
  phase: Phase;
  direction: 'advance' | 'rollback';
  /** What to do, in order, in words. */
  steps: string[];
  artifacts: RolloutArtifact[];
  /** Why something could not be produced (no composition, no mapping run, ...). */
  notes: string[];
}

export interface RolloutOptions {
  direction?: 'advance' | 'rollback';
  clock?: Clock;
  overlapSeconds?: number;
}

function formatsOf(mesh: string): BundleFormat[] {
  if (mesh === 'istio') return ['istio-root-configmap', 'spiffe'];
  if (mesh === 'linkerd') return ['linkerd', 'spiffe'];
  return ['pem', 'spiffe'];
}

/** The rollout of `phase` for `scope`. */
export async function rolloutFor(
  store: Store,
  scope: string,
  phase: Phase,
  opts: RolloutOptions = {},
): Promise<Rollout> {
  const db = dbOf(store);
  const s = parseScopeName(scope);
  const direction = opts.direction ?? 'advance';
  const out: Rollout = { scope: s.name, phase, direction, steps: [], artifacts: [], notes: [] };
  const scopes = await loadScopes(db);
  const namespaces = [
    ...new Set(
      [scopes.get(s.name), ...descendantsOf(scopes, s.name)]
        .filter((x) => x !== undefined && x.level === 'namespace')
        .map((x) => x!.namespace!),
    ),
  ].sort();
  const bundlePhase: Phase = phase === 'retired' ? 'spiffe-only' : phase;
  const mc = await composeMesh(db, s.mesh, {
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.overlapSeconds === undefined ? {} : { overlapSeconds: opts.overlapSeconds }),
  });
  const bundleFiles = (): RolloutArtifact[] => {
    if (mc.composition === null) {
      out.notes.push(`no bundle: ${mc.refused?.message ?? 'the roots cannot be composed'}`);
      return [];
    }
    const bundle = withSequences(bundleForPhase(mc.composition, bundlePhase), () => undefined);
    return formatsOf(s.mesh).flatMap((format) =>
      emitBundle(
        bundle,
        format,
        format === 'istio-root-configmap' && namespaces.length > 0 ? { namespaces } : {},
      ).map((a) => ({
        path: `bundle/${a.name}`,
        description: `${a.description} (${format}, ${bundlePhase})`,
        content: a.content,
      })),
    );
  };
  const where = s.level === 'mesh' ? `every workload of ${s.name}` : `the workloads of ${s.name}`;

  if (direction === 'rollback') {
    out.artifacts.push(...bundleFiles());
    out.steps.push(`roll the ${bundlePhase} bundle (bundle/) back out to ${where}`);
    if (phase === 'dual-trust')
      out.steps.push(
        `stop issuing SPIRE SVIDs to ${where}: delete their SPIRE entries and restart them onto the mesh CA`,
      );
    if (phase === 'inventoried') out.steps.push(`the SPIRE roots leave the bundle of ${s.name}`);
    if (phase === 'dual-issue') out.steps.push(`the mesh roots are trusted again by ${where}`);
    if (phase === 'spiffe-only') out.steps.push(`keep the mesh CA's key until ${s.name} is retired again`);
    return out;
  }

  switch (phase) {
    case 'dual-trust':
      out.artifacts.push(...bundleFiles());
      out.steps.push(`roll out the dual-trust bundle (mesh + SPIRE roots, bundle/) to ${where}`);
      out.steps.push(
        'wait until every proxy has loaded it (istio-agent / linkerd-proxy reload trust roots without a restart)',
      );
      break;
    case 'dual-issue': {
      out.artifacts.push(...(await spireEntryFiles(store, s, out.notes)));
      out.artifacts.push(
        ...(mc.composition === null
          ? []
          : emitBundle(
              withSequences(bundleForPhase(mc.composition, 'dual-issue'), () => undefined),
              'spire',
            ).map((a) => ({
              path: `spire/${a.name}`,
              description: a.description,
              content: a.content,
            }))),
      );
      out.steps.push(
        `create the SPIRE entries of ${where} (spire/entries.json: spire-server entry create -data)`,
      );
      out.steps.push('let SPIRE trust the mesh roots too (spire/bundle-set.*.json: spire-server bundle set)');
      out.steps.push(`restart ${where} so they fetch SPIRE SVIDs; re-import their certificates to record it`);
      break;
    }
    case 'spiffe-only':
      out.artifacts.push(...bundleFiles());
      out.steps.push(`roll out the SPIFFE-only bundle (the mesh roots removed, bundle/) to ${where}`);
      break;
    case 'retired':
      out.artifacts.push(...bundleFiles());
      out.steps.push(
        `decommission the ${s.mesh} CA: delete its signing key (${
          s.mesh === 'istio'
            ? 'the cacerts Secret in istio-system'
            : s.mesh === 'linkerd'
              ? 'the linkerd-identity-issuer Secret'
              : 'its Secret'
        }) and stop its issuer`,
      );
      out.steps.push('keep the final bundle (bundle/) as the only trust configuration');
      break;
    case 'inventoried':
      break;
  }
  return out;
}

/** The SPIRE entries for the scope's mapped workloads, against the stored entry dump. */
async function spireEntryFiles(
  store: Store,
  s: ReturnType<typeof parseScopeName>,
  notes: string[],
): Promise<RolloutArtifact[]> {
  const db = dbOf(store);
  const run = await db
    .selectFrom('mapping_runs')
    .selectAll()
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (run === undefined) {
    notes.push('no SPIRE entries: no accepted mapping run is stored (`meshbridge map`)');
    return [];
  }
  const rules = rulesFromObject(JSON.parse(run.rules), run.rules_file);
  const stored = await db
    .selectFrom('mappings')
    .select(['mesh', 'cluster', 'mesh_identity', 'spiffe_id'])
    .where('run_id', '=', run.id)
    .execute();
  const previous: PreviousMapping = {
    rulesHash: run.rules_hash,
    runId: run.id,
    createdAt: run.created_at,
    identities: stored.map((m) => ({
      mesh: m.mesh,
      cluster: m.cluster,
      meshIdentity: m.mesh_identity,
      spiffeId: m.spiffe_id,
    })),
  };
  let q = db
    .selectFrom('certificates as c')
    .innerJoin('cutover_certificates as cc', 'cc.fingerprint', 'c.fingerprint')
    .select(['c.fingerprint', 'c.mesh', 'c.cluster', 'c.mesh_identity', 'c.namespace', 'c.service_account'])
    .where('cc.issuer_kind', '=', 'mesh')
    .where('cc.mesh', '=', s.mesh);
  if (s.cluster !== null) q = q.where('cc.cluster', '=', s.cluster);
  if (s.namespace !== null) q = q.where('cc.namespace', '=', s.namespace);
  const workloads: MappableWorkload[] = (await q.orderBy('c.fingerprint').execute()).map((c) => ({
    fingerprint: c.fingerprint,
    mesh: c.mesh,
    cluster: c.cluster,
    meshIdentity: c.mesh_identity,
    namespace: c.namespace,
    serviceAccount: c.service_account,
  }));
  const result = mapWorkloads(workloads, rules, previous, { allowIdChanges: true });
  const dumpRow = await db
    .selectFrom('spire_entry_dumps')
    .selectAll()
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  let spireDump: { entries: SpireEntry[]; id: string; importedAt: string; source: string } | null = null;
  if (dumpRow !== undefined) {
    const entries = await db
      .selectFrom('spire_entries')
      .selectAll()
      .where('dump_id', '=', dumpRow.id)
      .execute();
    spireDump = {
      id: dumpRow.id,
      importedAt: dumpRow.imported_at,
      source: dumpRow.source,
      entries: entries.map((e) => ({
        id: e.entry_id,
        spiffeId: e.spiffe_id,
        parentId: e.parent_id,
        selectors: JSON.parse(e.selectors) as { type: string; value: string }[],
        x509SvidTtl: Number(e.x509_svid_ttl),
        jwtSvidTtl: Number(e.jwt_svid_ttl),
        federatesWith: JSON.parse(e.federates_with) as string[],
        dnsNames: JSON.parse(e.dns_names) as string[],
        hint: e.hint,
        admin: Number(e.admin) === 1,
        downstream: Number(e.downstream) === 1,
        storeSvid: Number(e.store_svid) === 1,
        expiresAt: Number(e.expires_at),
        revisionNumber: Number(e.revision_number),
        meshbridgeOwned: Number(e.meshbridge_owned) === 1,
      })),
    };
  }
  const emitted = emitMapping({ rules, result, emit: ['spire-entries'], spireDump });
  for (const p of emitted.problems) if (p.blocking) notes.push(`${p.message} [${p.code}]`);
  return emitted.files.map((f) => ({ path: f.path, description: f.description, content: f.content }));
}
