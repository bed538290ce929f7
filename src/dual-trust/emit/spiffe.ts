import { SpiffeBundle } from '../../spiffe/bundle/spiffebundle.js';
import { TrustDomain } from '../../spiffe/spiffeid/index.js';
import type { PhaseBundle, PhaseTrustDomain } from '../compose.js';
import type { Artifact, EmitOptions } from './artifact.js';

/** The SPIFFE bundle of one trust domain of the phase: x5c roots, jwt-svid keys, sequence, refresh hint. */
export function spiffeBundleOf(bundle: PhaseBundle, td: PhaseTrustDomain): SpiffeBundle {
  return new SpiffeBundle(TrustDomain.parse(td.name), {
    x509Authorities: td.roots.map((r) => r.cert),
    jwtAuthorities: td.jwtKeys.map((k) => k.authority),
    refreshHint: bundle.refreshHintSeconds,
    sequenceNumber: td.sequence,
  });
}

/** `spiffe`: one SPIFFE bundle (JWKS) per trust domain (R64: a bundle is bound to its name out of band). */
export function emitSpiffe(bundle: PhaseBundle, opts: EmitOptions): Artifact[] {
  return bundle.trustDomains
    .filter((td) => opts.trustDomain === undefined || td.name === opts.trustDomain)
    .map((td) => ({
      name: `bundle.${td.name}.json`,
      mediaType: 'application/json' as const,
      content: `${spiffeBundleOf(bundle, td).marshal({ indent: 2 })}\n`,
      description: `SPIFFE bundle of ${td.name}: ${td.roots.length} X.509 root(s), ${td.jwtKeys.length} JWT key(s), spiffe_sequence ${td.sequence}`,
      trustDomain: td.name,
    }));
}
