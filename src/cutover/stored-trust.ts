/**
 * The trust the store holds, composed: inventory anchors (mesh roots) plus stored
 * SPIRE and federated roots, for one scope. The CLI's bundle commands, `serve`'s
 * bundle endpoint and the demo all compose through here.
 */
import {
  type Composition,
  composeTrust,
  type InventoriedCertificate,
  meshRootsFromInventory,
  rootsFromStored,
  type Scope,
} from '../dual-trust/index.js';
import type { Clock, Warning } from '../spiffe/errors.js';
import { type Certificate, parseCertificate } from '../spiffe/x509/certificate.js';
import { loadTrustRoots } from '../store/dual-trust-repo.js';
import { loadInventory, type Store, type StoredCertificate } from '../store/index.js';

export interface TrustOptions {
  scope: Scope;
  clock?: Clock;
  overlapSeconds?: number;
  refreshHintSeconds?: number;
  allowExpiring?: boolean;
  /** Trust domain for mesh anchors no inventoried workload chains to. */
  meshTrustDomain?: string;
}

export interface StoredTrust {
  composition: Composition;
  warnings: Warning[];
}

export async function composeFromStore(store: Store, opts: TrustOptions): Promise<StoredTrust> {
  const filter = {
    ...(opts.scope.mesh === undefined ? {} : { mesh: opts.scope.mesh }),
    ...(opts.scope.cluster === undefined ? {} : { cluster: opts.scope.cluster }),
  };
  const [anchorsInv, workloadsInv, roots] = await Promise.all([
    loadInventory(store, { ...filter, role: 'anchor', withDer: true, problems: 'none' }),
    loadInventory(store, { ...filter, role: 'workload', problems: 'none' }),
    loadTrustRoots(store),
  ]);
  const locator = new Map(anchorsInv.sources.map((s) => [s.id, s.locator]));
  const mesh = meshRootsFromInventory(
    anchorsInv.certificates.map((c) => view(c, locator)),
    workloadsInv.certificates.map((c) => view(c, locator)),
    opts.meshTrustDomain === undefined ? {} : { defaultTrustDomain: opts.meshTrustDomain },
  );
  const stored = rootsFromStored(roots);
  const composition = composeTrust([...mesh.roots, ...stored.roots], stored.jwtKeys, {
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.overlapSeconds === undefined ? {} : { overlapSeconds: opts.overlapSeconds }),
    ...(opts.refreshHintSeconds === undefined ? {} : { refreshHintSeconds: opts.refreshHintSeconds }),
    ...(opts.allowExpiring ? { allowExpiring: true } : {}),
  });
  return { composition, warnings: [...mesh.warnings, ...composition.warnings] };
}

function view(c: StoredCertificate, locator: Map<string, string>): InventoriedCertificate {
  return {
    fingerprint: c.fingerprint,
    mesh: c.mesh,
    cluster: c.cluster,
    namespace: c.namespace,
    spiffeId: c.spiffeId,
    meshIdentity: c.meshIdentity,
    anchorFingerprint: c.anchorFingerprint,
    der: c.der,
    sources: c.sourceIds.map((id) => locator.get(id) ?? id),
  };
}

export interface InventoriedChain {
  source: string;
  identity: string;
  scope: string;
  chain: Certificate[];
}

/** Every inventoried workload of the scope with the intermediates its issuer links lead through. */
export async function inventoriedChains(store: Store, scope: Scope): Promise<InventoriedChain[]> {
  const filter = {
    ...(scope.mesh === undefined ? {} : { mesh: scope.mesh }),
    ...(scope.cluster === undefined ? {} : { cluster: scope.cluster }),
  };
  const inv = await loadInventory(store, { ...filter, withDer: true, problems: 'none' });
  const locator = new Map(inv.sources.map((s) => [s.id, s.locator]));
  const byFp = new Map(inv.certificates.map((c) => [c.fingerprint, c]));
  const out: InventoriedChain[] = [];
  for (const c of inv.certificates) {
    if (c.role !== 'workload' || c.der === null) continue;
    if (scope.namespace !== undefined && c.namespace !== scope.namespace) continue;
    const chain = [parseCertificate(Buffer.from(c.der, 'base64'))];
    let next = c.issuerFingerprint;
    const seen = new Set([c.fingerprint]);
    while (next !== null && !seen.has(next)) {
      seen.add(next);
      const issuer = byFp.get(next);
      if (issuer === undefined || issuer.role !== 'intermediate' || issuer.der === null) break;
      chain.push(parseCertificate(Buffer.from(issuer.der, 'base64')));
      next = issuer.issuerFingerprint;
    }
    const sources = c.sourceIds.map((id) => locator.get(id) ?? id).sort();
    out.push({
      source: sources[0] ?? `inventory:${c.fingerprint}`,
      identity: c.spiffeId ?? c.meshIdentity ?? c.fingerprint,
      scope: [c.mesh ?? '-', c.cluster ?? '-', c.namespace ?? '-'].join('/'),
      chain,
    });
  }
  return out;
}
