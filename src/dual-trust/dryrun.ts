/**
 * The dry run: would this bundle break anything? Every candidate certificate (the
 * inventoried workloads, files named on the command line) is verified with the kernel
 * against the new bundle and against today's; a certificate that verifies today and
 * would not with the new bundle is a break.
 */
import type { X509BundleSource } from '../spiffe/bundle/source.js';
import type { Clock } from '../spiffe/errors.js';
import { VerificationCache } from '../spiffe/svid/x509svid/index.js';
import type { Certificate } from '../spiffe/x509/certificate.js';
import { identityOf, verifyPeer } from './peer.js';

export interface DryRunCandidate {
  /** Where it came from: an inventory locator or a file name. */
  source: string;
  /** Leaf and intermediates, any order. */
  chain: readonly Certificate[];
}

/** One result, as `bundle verify --json` prints it (`spiffeId` or `meshIdentity`, never both). */
export type DryRunResult = {
  source: string;
  fingerprint: string;
  valid: boolean;
  code?: string;
} & ({ spiffeId: string } | { meshIdentity: string | null });

export interface DryRunBreak {
  source: string;
  fingerprint: string;
  identity: string | null;
  code: string;
  message: string;
}

export interface DryRunReport {
  total: number;
  valid: number;
  invalid: number;
  results: DryRunResult[];
  /** Certificates valid under `current` and invalid under the new bundle. */
  breaks: DryRunBreak[];
}

export interface DryRunOptions {
  /** The bundle to judge. */
  bundle: X509BundleSource;
  /** Today's bundle; without it nothing counts as a break. */
  current?: X509BundleSource;
  clock?: Clock;
  cache?: VerificationCache;
}

export function dryRun(candidates: Iterable<DryRunCandidate>, opts: DryRunOptions): DryRunReport {
  const cache = opts.cache ?? new VerificationCache(100_000);
  const vopts = { cache, ...(opts.clock ? { clock: opts.clock } : {}) };
  const results: DryRunResult[] = [];
  const breaks: DryRunBreak[] = [];
  let valid = 0;
  for (const c of candidates) {
    const verdict = verifyPeer(c.chain, opts.bundle, vopts);
    const id = verdict.identity ?? identityOf(verdict.leaf);
    const named =
      id?.kind === 'spiffe'
        ? { spiffeId: id.spiffeId }
        : { meshIdentity: id?.kind === 'mesh' ? id.meshIdentity : null };
    if (verdict.valid) {
      valid++;
      results.push({ source: c.source, fingerprint: verdict.leaf.fingerprint, ...named, valid: true });
      continue;
    }
    results.push({
      source: c.source,
      fingerprint: verdict.leaf.fingerprint,
      ...named,
      valid: false,
      code: verdict.code,
    });
    if (opts.current !== undefined && verifyPeer(c.chain, opts.current, vopts).valid) {
      breaks.push({
        source: c.source,
        fingerprint: verdict.leaf.fingerprint,
        identity: id === undefined ? null : id.kind === 'spiffe' ? id.spiffeId : id.meshIdentity,
        code: verdict.code,
        message: verdict.message,
      });
    }
  }
  return { total: results.length, valid, invalid: results.length - valid, results, breaks };
}
