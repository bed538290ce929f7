/**
 * Trust as a verifier sees it: an `X509BundleSource` per trust domain (R20), built
 * from a phase bundle or from an artifact read back. A pooled set (a PEM file, an
 * Istio `root-cert.pem`, a Linkerd `ca-bundle.crt`) is what the mesh data planes
 * read: the same roots for every trust domain. It is modelled as such, so a dry run
 * judges a bundle the way the proxy that loads it will.
 */
import type { X509BundleSource } from '../spiffe/bundle/source.js';
import { X509Bundle } from '../spiffe/bundle/x509bundle.js';
import { SpiffeError } from '../spiffe/errors.js';
import type { TrustDomain } from '../spiffe/spiffeid/index.js';
import type { Certificate } from '../spiffe/x509/certificate.js';
import type { PhaseBundle } from './compose.js';

export interface TrustSet extends X509BundleSource {
  /** Roots trusted for every trust domain (pooled formats). */
  readonly pooled: readonly Certificate[];
  /** Roots trusted for one trust domain only. */
  readonly perTrustDomain: ReadonlyMap<string, readonly Certificate[]>;
  /** Every distinct root, pooled first. */
  allRoots(): Certificate[];
}

/** A trust set: `pooled` roots answer for any trust domain, `perTrustDomain` only for theirs. */
export function trustSet(
  perTrustDomain: ReadonlyMap<string, readonly Certificate[]> = new Map(),
  pooled: readonly Certificate[] = [],
): TrustSet {
  const cache = new Map<string, X509Bundle>();
  return {
    pooled,
    perTrustDomain,
    allRoots() {
      const seen = new Set<string>();
      const out: Certificate[] = [];
      for (const c of [...pooled, ...[...perTrustDomain.values()].flat()]) {
        if (seen.has(c.fingerprint)) continue;
        seen.add(c.fingerprint);
        out.push(c);
      }
      return out;
    },
    getX509BundleForTrustDomain(td: TrustDomain): X509Bundle {
      let b = cache.get(td.name);
      if (b === undefined) {
        const own = perTrustDomain.get(td.name);
        if (own === undefined && pooled.length === 0) {
          throw new SpiffeError(
            'BUNDLE_NOT_FOUND',
            'verdict',
            `no X.509 bundle for trust domain "${td.name}"`,
            {
              rule: 20,
              details: { trustDomain: td.name },
            },
          );
        }
        b = new X509Bundle(td, [...(own ?? []), ...pooled]);
        cache.set(td.name, b);
      }
      return b;
    },
  };
}

/** Per-trust-domain trust of a phase bundle (what SPIFFE-aware verifiers and the endpoint use). */
export function trustOfPhase(bundle: PhaseBundle): TrustSet {
  return trustSet(new Map(bundle.trustDomains.map((td) => [td.name, td.roots.map((r) => r.cert)])));
}

/** Pooled trust of a phase bundle: every root for every trust domain (what `root-cert.pem` gives a proxy). */
export function pooledTrustOfPhase(bundle: PhaseBundle): TrustSet {
  const seen = new Set<string>();
  const pooled: Certificate[] = [];
  for (const td of bundle.trustDomains) {
    for (const r of td.roots) {
      if (!seen.has(r.fingerprint)) {
        seen.add(r.fingerprint);
        pooled.push(r.cert);
      }
    }
  }
  return trustSet(new Map(), pooled);
}
