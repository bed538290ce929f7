/**
 * `meshbridge spire sync --bundle FILE | --socket URI [--watch] [--trust-domain TD] [--federated]`:
 * stores SPIRE's roots (and federated trust domains' roots) for the dual-trust bundles.
 *
 * - `--bundle FILE`: PEM, a SPIFFE bundle (`spire-server bundle show -format spiffe`), a
 *   bundle map, or `spire-server bundle list -format spiffe` output (`* spiffe://td`
 *   headers, each followed by a bundle: federated trust domains). PEM and lone SPIFFE
 *   bundles name no trust domain (R64): `--trust-domain`, else the one every root's
 *   SPIFFE URI SAN names. `--federated` files the roots as a federated trust domain's.
 * - `--socket unix:///run/spire/sockets/agent.sock`: the Workload API. The trust domain
 *   of the default SVID is SPIRE's own; every other bundle is federated. `--watch` keeps
 *   syncing on every update until interrupted.
 */

import { loadBundle } from '../../spiffe/bundle/load.js';
import { parseBundleMap } from '../../spiffe/bundle/set.js';
import { SpiffeBundle } from '../../spiffe/bundle/spiffebundle.js';
import { SpiffeError } from '../../spiffe/errors.js';
import { SpiffeId, TrustDomain } from '../../spiffe/spiffeid/index.js';
import { WorkloadApiClient } from '../../spiffe/workloadapi/index.js';
import { type SaveTrustRootsResult, saveTrustRoots, type TrustRootRow } from '../../store/dual-trust-repo.js';
import type { Store } from '../../store/index.js';
import { type CommandContext, UsageError } from '../context.js';
import { readInputFile } from '../inputs.js';
import { pass } from '../output.js';
import { withStore } from './bundle-trust.js';

export interface SpireBundleSyncOptions {
  bundle?: string;
  socket?: string;
  watch?: boolean;
  trustDomain?: string;
  federated?: boolean;
}

export interface SyncedTrustDomain {
  trustDomain: string;
  origin: 'spire' | 'federated';
  source: string;
  x509Authorities: number;
  jwtAuthorities: number;
  sequence: string | null;
  added: number;
  removed: number;
  kept: number;
}

export interface SpireBundleSyncResult {
  source: string;
  trustDomains: SyncedTrustDomain[];
  /** With --watch: how many updates were stored. */
  updates?: number;
}

/** Entry point for `spire sync` when `--bundle` or `--socket` is given. */
export async function syncSpireBundles(
  ctx: CommandContext,
  opts: SpireBundleSyncOptions,
  signal?: AbortSignal,
): Promise<SpireBundleSyncResult> {
  if (opts.bundle !== undefined && opts.socket !== undefined) {
    throw new UsageError('give --bundle or --socket, not both');
  }
  if (opts.watch && opts.socket === undefined) throw new UsageError('--watch needs --socket');
  if (opts.bundle !== undefined) {
    const bundles = bundlesOfFile(readInputFile(ctx.io.cwd, opts.bundle, 'bundle file'), opts);
    const trustDomains = await withStore(ctx, (store) => saveAll(store, bundles, opts.bundle!));
    return { source: opts.bundle, trustDomains };
  }
  if (opts.socket === undefined) throw new UsageError('nothing to sync: give --bundle FILE or --socket URI');
  const client = new WorkloadApiClient({ address: opts.socket, env: ctx.io.env });
  try {
    if (!opts.watch) {
      const bundles = await fromWorkloadApi(client, opts);
      const trustDomains = await withStore(ctx, (store) => saveAll(store, bundles, opts.socket!));
      return { source: opts.socket, trustDomains };
    }
    return await watch(ctx, client, opts, signal);
  } finally {
    client.close();
  }
}

interface Tagged {
  bundle: SpiffeBundle;
  origin: 'spire' | 'federated';
}

function bundlesOfFile(bytes: Buffer, opts: SpireBundleSyncOptions): Tagged[] {
  const origin = opts.federated ? 'federated' : 'spire';
  const text = bytes.toString('utf8');
  // `spire-server bundle list -format spiffe`: "* spiffe://td" then a JSON bundle, per federated trust domain.
  if (/^\*\s+spiffe:\/\//m.test(text)) {
    const out: Tagged[] = [];
    const parts = text.split(/^\*\s+(spiffe:\/\/\S+)\s*$/m);
    for (let i = 1; i < parts.length; i += 2) {
      const td = TrustDomain.parse(parts[i]!);
      if (opts.trustDomain !== undefined && TrustDomain.parse(opts.trustDomain).name !== td.name) continue;
      out.push({ bundle: SpiffeBundle.parse(td, parts[i + 1]!.trim()).bundle, origin: 'federated' });
    }
    return out;
  }
  const trimmed = text.trimStart();
  if (
    trimmed.startsWith('{') &&
    /"trust_domains"\s*:/.test(text) &&
    !/"keys"\s*:\s*\[/.test(text.slice(0, 200))
  ) {
    const map = parseBundleMap(bytes);
    return map.set
      .all()
      .filter(
        (b) =>
          opts.trustDomain === undefined || b.trustDomain.name === TrustDomain.parse(opts.trustDomain).name,
      )
      .map((bundle) => ({ bundle, origin }));
  }
  const td = opts.trustDomain ?? inferTrustDomain(bytes);
  return [{ bundle: loadBundle(bytes, { trustDomain: td }).bundle, origin }];
}

/** The one trust domain every root's SPIFFE URI SAN names (SPIRE CA certificates carry `spiffe://<td>`). */
function inferTrustDomain(bytes: Buffer): string {
  const loaded = loadBundle(bytes, { trustDomain: 'unnamed.invalid' });
  const names = new Set<string>();
  for (const c of loaded.bundle.x509Authorities) {
    for (const uri of c.subjectAltName?.uris ?? []) {
      try {
        names.add(SpiffeId.parse(uri).trustDomain.name);
      } catch {
        // not a SPIFFE ID
      }
    }
  }
  if (names.size === 1 && loaded.bundle.x509Authorities.length > 0) return [...names][0]!;
  throw new UsageError(
    'a bundle file does not name its trust domain (R64): give --trust-domain TD',
    'TRUST_DOMAIN_REQUIRED',
  );
}

async function fromWorkloadApi(client: WorkloadApiClient, opts: SpireBundleSyncOptions): Promise<Tagged[]> {
  const x509 = await client.fetchX509Context({ timeoutMs: 15_000 });
  let jwt: Map<string, SpiffeBundle> | undefined;
  try {
    const set = await client.fetchJwtBundles({ timeoutMs: 3_000 });
    jwt = new Map(set.all().map((b) => [b.trustDomain.name, SpiffeBundle.fromJwtBundle(b)]));
  } catch (err) {
    if (!(err instanceof SpiffeError)) throw err;
    jwt = undefined; // an agent without JWT support: X.509 roots only
  }
  return tagContext(x509.svids[0]!.id.trustDomain.name, x509.bundles.all(), jwt, opts);
}

function tagContext(
  own: string,
  x509Bundles: readonly {
    trustDomain: TrustDomain;
    authorities(): readonly import('../../spiffe/x509/certificate.js').Certificate[];
  }[],
  jwt: Map<string, SpiffeBundle> | undefined,
  opts: SpireBundleSyncOptions,
): Tagged[] {
  const only = opts.trustDomain === undefined ? undefined : TrustDomain.parse(opts.trustDomain).name;
  const out: Tagged[] = [];
  for (const b of x509Bundles) {
    if (only !== undefined && b.trustDomain.name !== only) continue;
    const j = jwt?.get(b.trustDomain.name);
    out.push({
      bundle: new SpiffeBundle(b.trustDomain, {
        x509Authorities: b.authorities(),
        ...(j === undefined ? {} : { jwtAuthorities: j.jwtAuthorities }),
      }),
      origin: b.trustDomain.name === own && !opts.federated ? 'spire' : 'federated',
    });
  }
  return out;
}

async function saveAll(store: Store, bundles: Tagged[], source: string): Promise<SyncedTrustDomain[]> {
  const out: SyncedTrustDomain[] = [];
  for (const { bundle, origin } of bundles) {
    const rows: TrustRootRow[] = [
      ...bundle.x509Authorities.map((c) => ({
        kind: 'x509-svid' as const,
        keyId: c.fingerprint,
        material: Buffer.from(c.der).toString('base64'),
        subject: c.subject,
        notBefore: c.notBefore.toISOString(),
        notAfter: c.notAfter.toISOString(),
      })),
      ...bundle.jwtAuthorities.map((a) => ({
        kind: 'jwt-svid' as const,
        keyId: a.kid,
        material: JSON.stringify(a.jwk),
      })),
    ];
    const saved: SaveTrustRootsResult = await saveTrustRoots(store, {
      origin,
      trustDomain: bundle.trustDomain.name,
      source,
      rows,
      sourceSequence: bundle.sequenceNumber?.toString() ?? null,
      refreshHint: bundle.refreshHint ?? null,
    });
    out.push({
      trustDomain: bundle.trustDomain.name,
      origin,
      source,
      x509Authorities: bundle.x509Authorities.length,
      jwtAuthorities: bundle.jwtAuthorities.length,
      sequence: bundle.sequenceNumber?.toString() ?? null,
      added: saved.added,
      removed: saved.removed,
      kept: saved.kept,
    });
  }
  return out;
}

async function watch(
  ctx: CommandContext,
  client: WorkloadApiClient,
  opts: SpireBundleSyncOptions,
  signal: AbortSignal | undefined,
): Promise<SpireBundleSyncResult> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  signal?.addEventListener('abort', stop, { once: true });
  const onSignal = () => stop();
  if (signal === undefined) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  let updates = 0;
  let last: SyncedTrustDomain[] = [];
  let chain = Promise.resolve();
  let failure: unknown;
  try {
    await withStore(ctx, async (store) => {
      const handle = client.watchX509Context({
        onUpdate: (update) => {
          const tagged = tagContext(
            update.svids[0]!.id.trustDomain.name,
            update.bundles.all(),
            undefined,
            opts,
          );
          chain = chain.then(async () => {
            try {
              last = await saveAll(store, tagged, opts.socket!);
              updates++;
              if (!ctx.out.json) printSynced(ctx, last, `update ${updates}`);
            } catch (err) {
              failure = err;
              stop();
            }
          });
        },
        onError: (err) => {
          if (!ctx.out.json) ctx.out.err(`meshbridge: Workload API: ${err.message} [${err.code}] (retrying)`);
        },
      });
      await new Promise<void>((resolve) => {
        if (controller.signal.aborted) resolve();
        else controller.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      handle.close();
      await chain;
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (failure !== undefined) throw failure;
  return { source: opts.socket!, trustDomains: last, updates };
}

export function printSynced(ctx: CommandContext, synced: SyncedTrustDomain[], label?: string): void {
  for (const s of synced) {
    ctx.out.out(
      `${pass(ctx.out)} ${label === undefined ? '' : `${label}: `}stored ${s.x509Authorities} X.509 root(s) and ${s.jwtAuthorities} JWT key(s) of ${s.trustDomain} as ${s.origin} roots from ${s.source}`,
    );
    ctx.out.out(
      `  ${s.added} added, ${s.removed} removed, ${s.kept} unchanged${s.sequence === null ? '' : `; source spiffe_sequence ${s.sequence}`}`,
    );
  }
}
