/**
 * Composition: every root meshbridge knows (mesh anchors from the inventory, SPIRE
 * roots, federated roots), per trust domain, with where each came from, when it
 * expires and in which phase it enters and leaves the bundle. Duplicates collapse by
 * fingerprint (per trust domain: bundles of different trust domains are never merged,
 * R110). Expired roots, and mesh roots expiring inside the planned overlap window, are
 * refused unless `allowExpiring` (SPIRE and federated roots rotate on their own: one
 * expiring inside the window is only warned about). Every emitter reads a `PhaseBundle` cut from one
 * composition; none of them decides what is trusted.
 */
import { createHash } from 'node:crypto';
import type { JwtAuthority } from '../spiffe/bundle/jwtbundle.js';
import { type Clock, systemClock, type Warning } from '../spiffe/errors.js';
import { TrustDomain } from '../spiffe/spiffeid/index.js';
import type { Certificate } from '../spiffe/x509/certificate.js';
import { verdictError } from './errors.js';
import { activeIn, DEFAULT_PHASES, ORIGINS, type Origin, type Phase, phaseIndex } from './phases.js';

/** One root as a source hands it over. */
export interface RootInput {
  cert: Certificate;
  /** The trust domain whose SVIDs this root verifies (R64: bundles do not name it themselves). */
  trustDomain: string;
  origin: Origin;
  /** Where it was read: an inventory locator, a file, a Workload API socket, a bundle endpoint URL. */
  source: string;
  /** Default: by origin (mesh: inventoried; spire, federated: dual-trust). */
  entersAt?: Phase;
  /** Default: by origin (mesh: spiffe-only; spire, federated: never). */
  leavesAt?: Phase | null;
}

/** A JWT authority kept for the `spiffe` format (jwt-svid keys are carried along, never judged here). */
export interface JwtKeyInput {
  trustDomain: string;
  origin: Origin;
  source: string;
  authority: JwtAuthority;
  entersAt?: Phase;
  leavesAt?: Phase | null;
}

export type RootStatus = 'ok' | 'expiring' | 'expired' | 'not-yet-valid';

export interface ComposedRoot {
  fingerprint: string;
  trustDomain: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  keyAlgorithm: string;
  /** Every origin that supplied it, in the order mesh, spire, federated. */
  origins: Origin[];
  /** Every source that showed it, sorted. */
  sources: string[];
  entersAt: Phase;
  leavesAt: Phase | null;
  status: RootStatus;
  cert: Certificate;
}

export interface ComposedJwtKey {
  kid: string;
  trustDomain: string;
  origins: Origin[];
  sources: string[];
  entersAt: Phase;
  leavesAt: Phase | null;
  authority: JwtAuthority;
}

export interface ComposedTrustDomain {
  name: string;
  /** Stable order: by entry phase, origin, notBefore, fingerprint. */
  roots: ComposedRoot[];
  jwtKeys: ComposedJwtKey[];
}

export interface Composition {
  evaluatedAt: Date;
  overlapSeconds: number;
  refreshHintSeconds: number;
  /** Sorted by name. */
  trustDomains: ComposedTrustDomain[];
  /** Tolerated findings: roots accepted with `allowExpiring`, roots that are not CAs, ... */
  warnings: Warning[];
}

export interface ComposeOptions {
  clock?: Clock;
  /** The planned overlap window in seconds (default 30 days). */
  overlapSeconds?: number;
  /** Accept expired roots and roots expiring inside the overlap window (each reported as a warning). */
  allowExpiring?: boolean;
  /** `spiffe_refresh_hint` in seconds (default 300, the spec's default poll interval). */
  refreshHintSeconds?: number;
}

export const DEFAULT_OVERLAP_SECONDS = 30 * 86_400;
export const DEFAULT_REFRESH_HINT_SECONDS = 300;

const ORIGIN_RANK: Record<Origin, number> = { mesh: 0, spire: 1, federated: 2 };

/**
 * Builds the composition. Throws `BUNDLE_ROOT_EXPIRED` / `BUNDLE_ROOT_EXPIRING`
 * (category verdict, details list every offender) unless `allowExpiring`.
 */
export function composeTrust(
  roots: Iterable<RootInput>,
  jwtKeys: Iterable<JwtKeyInput> = [],
  opts: ComposeOptions = {},
): Composition {
  const now = (opts.clock ?? systemClock)();
  const overlapSeconds = opts.overlapSeconds ?? DEFAULT_OVERLAP_SECONDS;
  const horizon = now.getTime() + overlapSeconds * 1000;
  const warnings: Warning[] = [];
  const byTd = new Map<string, { roots: Map<string, ComposedRoot>; jwt: Map<string, ComposedJwtKey> }>();
  const tdOf = (name: string) => {
    const td = TrustDomain.parse(name).name;
    let entry = byTd.get(td);
    if (entry === undefined) {
      entry = { roots: new Map(), jwt: new Map() };
      byTd.set(td, entry);
    }
    return entry;
  };

  for (const input of roots) {
    const td = tdOf(input.trustDomain);
    const entersAt = input.entersAt ?? DEFAULT_PHASES[input.origin].entersAt;
    const leavesAt = input.leavesAt === undefined ? DEFAULT_PHASES[input.origin].leavesAt : input.leavesAt;
    const c = input.cert;
    const existing = td.roots.get(c.fingerprint);
    if (existing !== undefined) {
      merge(existing, input.origin, input.source, entersAt, leavesAt);
      continue;
    }
    td.roots.set(c.fingerprint, {
      fingerprint: c.fingerprint,
      trustDomain: TrustDomain.parse(input.trustDomain).name,
      subject: c.subject,
      notBefore: c.notBefore,
      notAfter: c.notAfter,
      keyAlgorithm: c.keyAlgorithm,
      origins: [input.origin],
      sources: [input.source],
      entersAt,
      leavesAt,
      status: statusOf(c, now.getTime(), horizon),
      cert: c,
    });
  }
  for (const input of jwtKeys) {
    const td = tdOf(input.trustDomain);
    const entersAt = input.entersAt ?? DEFAULT_PHASES[input.origin].entersAt;
    const leavesAt = input.leavesAt === undefined ? DEFAULT_PHASES[input.origin].leavesAt : input.leavesAt;
    const key = `${input.authority.kid}\u0000${thumbprintOf(input.authority)}`;
    const existing = td.jwt.get(key);
    if (existing !== undefined) {
      merge(existing, input.origin, input.source, entersAt, leavesAt);
      continue;
    }
    td.jwt.set(key, {
      kid: input.authority.kid,
      trustDomain: TrustDomain.parse(input.trustDomain).name,
      origins: [input.origin],
      sources: [input.source],
      entersAt,
      leavesAt,
      authority: input.authority,
    });
  }

  const refused: ComposedRoot[] = [];
  const trustDomains: ComposedTrustDomain[] = [];
  for (const [name, entry] of [...byTd].sort(([a], [b]) => cmp(a, b))) {
    const list = [...entry.roots.values()];
    for (const r of list) {
      r.sources.sort(cmp);
      if (r.status === 'expiring' && !r.origins.includes('mesh')) {
        // SPIRE and federated trust domains rotate their roots themselves and publish the
        // next one ahead (R108): a short-lived root is normal there, kept current by sync.
        warnings.push({
          code: 'BUNDLE_ROOT_ROTATES',
          rule: 108,
          message: `${describe(r)} expires at ${r.notAfter.toISOString()}, inside the overlap window; its successor must be synced before then (spire sync --watch)`,
        });
      } else if (r.status === 'expired' || r.status === 'expiring') {
        if (opts.allowExpiring) {
          warnings.push({
            code: r.status === 'expired' ? 'BUNDLE_ROOT_EXPIRED' : 'BUNDLE_ROOT_EXPIRING',
            rule: 34,
            message: `${describe(r)} ${r.status === 'expired' ? 'expired' : 'expires'} at ${r.notAfter.toISOString()}; kept because of --allow-expiring`,
          });
        } else {
          refused.push(r);
        }
      }
      if (r.status === 'not-yet-valid') {
        warnings.push({
          code: 'BUNDLE_ROOT_NOT_YET_VALID',
          rule: 34,
          message: `${describe(r)} is not valid before ${r.notBefore.toISOString()}; it verifies nothing until then`,
        });
      }
      if (r.cert.basicConstraints?.ca !== true) {
        warnings.push({
          code: 'BUNDLE_ROOT_NOT_CA',
          rule: 27,
          message: `${describe(r)} is not a CA certificate (basicConstraints cA is not TRUE); kept as an operator-configured anchor`,
        });
      }
    }
    list.sort(rootOrder);
    const jwt = [...entry.jwt.values()].sort((a, b) => cmp(a.kid, b.kid));
    for (const k of jwt) k.sources.sort(cmp);
    trustDomains.push({ name, roots: list, jwtKeys: jwt });
  }
  if (refused.length > 0) {
    const expired = refused.filter((r) => r.status === 'expired');
    const code = expired.length > 0 ? 'BUNDLE_ROOT_EXPIRED' : 'BUNDLE_ROOT_EXPIRING';
    throw verdictError(
      code,
      `refusing to compose a bundle with ${refused.length} root(s) that ${expired.length > 0 ? 'expired or ' : ''}expire inside the ${Math.round(overlapSeconds / 86_400)}-day overlap window: ` +
        `${refused.map((r) => `${describe(r)} (notAfter ${r.notAfter.toISOString()})`).join('; ')}. ` +
        'Replace them, shorten the overlap, or pass --allow-expiring to keep them anyway',
      {
        details: {
          roots: refused.map((r) => ({
            fingerprint: r.fingerprint,
            trustDomain: r.trustDomain,
            subject: r.subject,
            notAfter: r.notAfter.toISOString(),
            status: r.status,
          })),
        },
      },
    );
  }
  return {
    evaluatedAt: now,
    overlapSeconds,
    refreshHintSeconds: opts.refreshHintSeconds ?? DEFAULT_REFRESH_HINT_SECONDS,
    trustDomains,
    warnings,
  };
}

function merge(
  target: { origins: Origin[]; sources: string[]; entersAt: Phase; leavesAt: Phase | null },
  origin: Origin,
  source: string,
  entersAt: Phase,
  leavesAt: Phase | null,
): void {
  if (!target.origins.includes(origin)) {
    target.origins.push(origin);
    target.origins.sort((a, b) => ORIGIN_RANK[a] - ORIGIN_RANK[b]);
  }
  if (!target.sources.includes(source)) target.sources.push(source);
  // The widest window wins: a root the mesh and SPIRE both rely on (SPIRE chained under
  // the mesh root) stays as long as either needs it.
  if (phaseIndex(entersAt) < phaseIndex(target.entersAt)) target.entersAt = entersAt;
  if (target.leavesAt !== null && (leavesAt === null || phaseIndex(leavesAt) > phaseIndex(target.leavesAt))) {
    target.leavesAt = leavesAt;
  }
}

function statusOf(c: Certificate, now: number, horizon: number): RootStatus {
  if (now > c.notAfter.getTime()) return 'expired';
  if (c.notAfter.getTime() < horizon) return 'expiring';
  if (now < c.notBefore.getTime()) return 'not-yet-valid';
  return 'ok';
}

function rootOrder(a: ComposedRoot, b: ComposedRoot): number {
  return (
    phaseIndex(a.entersAt) - phaseIndex(b.entersAt) ||
    ORIGIN_RANK[a.origins[0]!] - ORIGIN_RANK[b.origins[0]!] ||
    a.notBefore.getTime() - b.notBefore.getTime() ||
    cmp(a.fingerprint, b.fingerprint)
  );
}

function describe(r: ComposedRoot): string {
  return `${r.origins.join('+')} root "${r.subject || '<empty subject>'}" of ${r.trustDomain} (sha256 ${r.fingerprint.slice(0, 16)}…)`;
}

function thumbprintOf(a: JwtAuthority): string {
  return createHash('sha256')
    .update(a.publicKey.export({ format: 'der', type: 'spki' }))
    .digest('hex');
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------- the bundle of one phase

export interface PhaseTrustDomain {
  name: string;
  roots: ComposedRoot[];
  jwtKeys: ComposedJwtKey[];
  /** SHA-256 over the sorted root fingerprints and JWT keys: equal content, equal digest. */
  digest: string;
  /** `spiffe_sequence`: assigned by `withSequences` (from the store) or 1. */
  sequence: bigint;
}

export interface PhaseBundle {
  phase: Phase;
  evaluatedAt: Date;
  refreshHintSeconds: number;
  /** Sorted by name; trust domains with nothing trusted in this phase are kept (empty: R60, trusts nothing). */
  trustDomains: PhaseTrustDomain[];
  warnings: Warning[];
}

export interface BundleForPhaseOptions {
  /** Keep only this trust domain. */
  trustDomain?: string;
}

/** The roots (and JWT keys) trusted in `phase`. */
export function bundleForPhase(
  comp: Composition,
  phase: Phase,
  opts: BundleForPhaseOptions = {},
): PhaseBundle {
  const only = opts.trustDomain === undefined ? undefined : TrustDomain.parse(opts.trustDomain).name;
  const trustDomains: PhaseTrustDomain[] = [];
  for (const td of comp.trustDomains) {
    if (only !== undefined && td.name !== only) continue;
    const roots = td.roots.filter((r) => activeIn(phase, r.entersAt, r.leavesAt));
    const jwtKeys = td.jwtKeys.filter((k) => activeIn(phase, k.entersAt, k.leavesAt));
    trustDomains.push({ name: td.name, roots, jwtKeys, digest: digestOf(roots, jwtKeys), sequence: 1n });
  }
  if (only !== undefined && trustDomains.length === 0) {
    trustDomains.push({ name: only, roots: [], jwtKeys: [], digest: digestOf([], []), sequence: 1n });
  }
  return {
    phase,
    evaluatedAt: comp.evaluatedAt,
    refreshHintSeconds: comp.refreshHintSeconds,
    trustDomains,
    warnings: comp.warnings,
  };
}

export function digestOf(roots: readonly ComposedRoot[], jwtKeys: readonly ComposedJwtKey[]): string {
  const h = createHash('sha256');
  for (const fp of roots.map((r) => r.fingerprint).sort(cmp)) h.update(`x509:${fp}\n`);
  for (const k of [...jwtKeys].sort((a, b) => cmp(a.kid, b.kid))) {
    h.update(`jwt:${k.kid}:${thumbprintOf(k.authority)}\n`);
  }
  return h.digest('hex');
}

/** The last sequence published for a trust domain and the content it was published with. */
export interface SequenceState {
  sequence: bigint;
  digest: string;
}

/** R57: the same content keeps its number; any change takes the next one. */
export function nextSequence(previous: SequenceState | undefined, digest: string): bigint {
  if (previous === undefined) return 1n;
  return previous.digest === digest ? previous.sequence : previous.sequence + 1n;
}

/** Sets every trust domain's `sequence` from the previous state (e.g. read from the store). */
export function withSequences(
  bundle: PhaseBundle,
  previous: (trustDomain: string) => SequenceState | undefined,
): PhaseBundle {
  return {
    ...bundle,
    trustDomains: bundle.trustDomains.map((td) => ({
      ...td,
      sequence: nextSequence(previous(td.name), td.digest),
    })),
  };
}

/** All roots of the bundle, deduplicated across trust domains, in stable order (what pooled formats write). */
export function pooledRoots(bundle: PhaseBundle): ComposedRoot[] {
  const seen = new Set<string>();
  const out: ComposedRoot[] = [];
  for (const td of bundle.trustDomains) {
    for (const r of td.roots) {
      if (seen.has(r.fingerprint)) continue;
      seen.add(r.fingerprint);
      out.push(r);
    }
  }
  return out.sort(rootOrder);
}

export { ORIGINS };
