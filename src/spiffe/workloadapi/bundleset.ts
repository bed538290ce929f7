import { bundleNotFound, type JwtBundle } from '../bundle/jwtbundle.js';
import type { JwtBundleSource } from '../bundle/source.js';
import { TrustDomain } from '../spiffeid/index.js';

/**
 * JWT bundles of several trust domains from FetchJWTBundles, one per trust domain,
 * never pooled (R20), used only for JWT-SVIDs (R89). Same shape as
 * `X509BundleSet` in bundle/x509bundle.ts.
 */
export class JwtBundleSet implements JwtBundleSource {
  private readonly bundles = new Map<string, JwtBundle>();

  constructor(bundles: Iterable<JwtBundle> = []) {
    for (const b of bundles) this.add(b);
  }

  /** Adds or replaces the bundle of `bundle.trustDomain`. */
  add(bundle: JwtBundle): void {
    this.bundles.set(bundle.trustDomain.name, bundle);
  }

  remove(td: TrustDomain | string): boolean {
    return this.bundles.delete(nameOf(td));
  }

  has(td: TrustDomain | string): boolean {
    return this.bundles.has(nameOf(td));
  }

  get(td: TrustDomain | string): JwtBundle | undefined {
    return this.bundles.get(nameOf(td));
  }

  get size(): number {
    return this.bundles.size;
  }

  /** Bundles sorted by trust-domain name. */
  all(): JwtBundle[] {
    return [...this.bundles.values()].sort((a, b) => (a.trustDomain.name < b.trustDomain.name ? -1 : 1));
  }

  /** R102: the bundle of the token's trust domain; `BUNDLE_NOT_FOUND` ('verdict') otherwise. */
  getJwtBundleForTrustDomain(td: TrustDomain): JwtBundle {
    const b = this.bundles.get(td.name);
    if (b === undefined) throw bundleNotFound(td, 'JWT');
    return b;
  }
}

function nameOf(td: TrustDomain | string): string {
  return typeof td === 'string' ? TrustDomain.parse(td).name : td.name;
}
