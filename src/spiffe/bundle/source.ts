import type { TrustDomain } from '../spiffeid/index.js';
import type { JwtBundle } from './jwtbundle.js';
import type { X509Bundle } from './x509bundle.js';

/**
 * Verification asks a source for the trust material of one trust domain (rule 20:
 * never a pooled set). A static file, a bundle set, a Workload API watcher and a
 * federation fetcher all satisfy these, so verifiers never change.
 * Implementations throw SpiffeError `BUNDLE_NOT_FOUND` (category 'verdict') when
 * they hold nothing for the trust domain.
 */
export interface X509BundleSource {
  getX509BundleForTrustDomain(td: TrustDomain): X509Bundle;
}

export interface JwtBundleSource {
  getJwtBundleForTrustDomain(td: TrustDomain): JwtBundle;
}
