/**
 * The three sources of roots, turned into composition inputs:
 * - mesh anchors from the inventory (their trust domain is the one of the workloads
 *   that chain to them; an anchor no workload chains to takes the mesh's only trust
 *   domain, or the caller's default);
 * - SPIRE roots and federated roots as stored by `spire sync` (X.509 roots and JWT keys);
 * - a loaded bundle (file or Workload API) for a named trust domain.
 */
import type { JWK } from 'jose';
import { createJwtAuthority } from '../spiffe/bundle/jwtbundle.js';
import type { SpiffeBundle } from '../spiffe/bundle/spiffebundle.js';
import type { Warning } from '../spiffe/errors.js';
import { SpiffeId } from '../spiffe/spiffeid/index.js';
import { parseCertificate } from '../spiffe/x509/certificate.js';
import type { JwtKeyInput, RootInput } from './compose.js';
import { isPhase, type Origin, type Phase } from './phases.js';

const LINKERD_IDENTITY = /^([^.]+)\.([^.]+)\.serviceaccount\.identity\.([^.]+)\.(.+)$/;

/** The fields of an inventoried certificate this module reads (an inventory row or a stored one). */
export interface InventoriedCertificate {
  fingerprint: string;
  mesh: string | null;
  cluster: string | null;
  namespace?: string | null;
  spiffeId: string | null;
  meshIdentity: string | null;
  anchorFingerprint: string | null;
  /** base64 DER. */
  der: string | null;
  /** Source locators or ids. */
  sources: string[];
}

export interface MeshRootsResult {
  roots: RootInput[];
  warnings: Warning[];
}

/** The trust domain an identity names: a SPIFFE ID's, or a Linkerd DNS identity's. */
export function trustDomainOfIdentity(identity: string | null): string | undefined {
  if (identity === null) return undefined;
  if (identity.toLowerCase().startsWith('spiffe://')) {
    try {
      return SpiffeId.parse(identity).trustDomain.name;
    } catch {
      return undefined;
    }
  }
  return LINKERD_IDENTITY.exec(identity.toLowerCase())?.[4];
}

export function meshRootsFromInventory(
  anchors: readonly InventoriedCertificate[],
  workloads: readonly InventoriedCertificate[],
  opts: { defaultTrustDomain?: string } = {},
): MeshRootsResult {
  const warnings: Warning[] = [];
  const byAnchor = new Map<string, Set<string>>();
  const byMesh = new Map<string, Set<string>>();
  for (const w of workloads) {
    const td = trustDomainOfIdentity(w.spiffeId ?? w.meshIdentity);
    if (td === undefined) continue;
    if (w.anchorFingerprint !== null) add(byAnchor, w.anchorFingerprint, td);
    add(byMesh, w.mesh ?? '', td);
  }
  const roots: RootInput[] = [];
  for (const a of anchors) {
    if (a.der === null) throw new TypeError(`anchor ${a.fingerprint} was loaded without its DER`);
    const cert = parseCertificate(Buffer.from(a.der, 'base64'));
    let tds = [...(byAnchor.get(a.fingerprint) ?? [])];
    if (tds.length === 0) {
      const meshTds = [...(byMesh.get(a.mesh ?? '') ?? [])];
      if (meshTds.length === 1) tds = meshTds;
      else if (opts.defaultTrustDomain !== undefined) tds = [opts.defaultTrustDomain];
      else {
        tds = ['cluster.local'];
        warnings.push({
          code: 'BUNDLE_TRUST_DOMAIN_ASSUMED',
          rule: 64,
          message: `no inventoried workload chains to anchor "${cert.subject}" (sha256 ${a.fingerprint.slice(0, 16)}…); it is filed under cluster.local (name the mesh trust domain with --trust-domain)`,
        });
      }
    }
    const source = [...a.sources].sort()[0] ?? `inventory:${a.fingerprint}`;
    for (const td of tds.sort()) roots.push({ cert, trustDomain: td, origin: 'mesh', source });
  }
  return { roots, warnings };
}

/** A stored SPIRE or federated root / JWT key row. */
export interface StoredRootRow {
  origin: 'spire' | 'federated';
  trustDomain: string;
  kind: 'x509-svid' | 'jwt-svid';
  keyId: string;
  material: string;
  source: string;
  entersPhase: string;
  leavesPhase: string | null;
}

export function rootsFromStored(rows: readonly StoredRootRow[]): {
  roots: RootInput[];
  jwtKeys: JwtKeyInput[];
} {
  const roots: RootInput[] = [];
  const jwtKeys: JwtKeyInput[] = [];
  for (const r of rows) {
    const phases = {
      ...(isPhase(r.entersPhase) ? { entersAt: r.entersPhase } : {}),
      ...(r.leavesPhase === null
        ? { leavesAt: null }
        : isPhase(r.leavesPhase)
          ? { leavesAt: r.leavesPhase }
          : {}),
    };
    if (r.kind === 'x509-svid') {
      roots.push({
        cert: parseCertificate(Buffer.from(r.material, 'base64')),
        trustDomain: r.trustDomain,
        origin: r.origin,
        source: r.source,
        ...phases,
      });
    } else {
      jwtKeys.push({
        trustDomain: r.trustDomain,
        origin: r.origin,
        source: r.source,
        authority: createJwtAuthority(r.keyId, JSON.parse(r.material) as JWK),
        ...phases,
      });
    }
  }
  return { roots, jwtKeys };
}

/** Roots and JWT keys of a loaded bundle, as `origin` roots of its trust domain. */
export function rootsFromBundle(
  bundle: SpiffeBundle,
  origin: Origin,
  source: string,
  phases: { entersAt?: Phase; leavesAt?: Phase | null } = {},
): { roots: RootInput[]; jwtKeys: JwtKeyInput[] } {
  const td = bundle.trustDomain.name;
  return {
    roots: bundle.x509Authorities.map((cert) => ({ cert, trustDomain: td, origin, source, ...phases })),
    jwtKeys: bundle.jwtAuthorities.map((authority) => ({
      trustDomain: td,
      origin,
      source,
      authority,
      ...phases,
    })),
  };
}

function add(m: Map<string, Set<string>>, k: string, v: string): void {
  let s = m.get(k);
  if (s === undefined) {
    s = new Set();
    m.set(k, s);
  }
  s.add(v);
}
