import { encodePem } from '../../spiffe/pem/pem.js';
import { type ComposedRoot, type PhaseBundle, pooledRoots } from '../compose.js';
import type { Artifact, EmitOptions } from './artifact.js';

/** Plain concatenation, stable order, exactly one trailing newline ('' for no roots). */
export function pemOf(roots: readonly ComposedRoot[]): string {
  return roots.map((r) => encodePem('CERTIFICATE', r.cert.der)).join('');
}

/** `pem`: every root of the phase (all trust domains pooled, or `trustDomain` only). */
export function emitPem(bundle: PhaseBundle, opts: EmitOptions): Artifact[] {
  const td = opts.trustDomain;
  const roots =
    td === undefined ? pooledRoots(bundle) : (bundle.trustDomains.find((t) => t.name === td)?.roots ?? []);
  return [
    {
      name: td === undefined ? 'bundle.pem' : `bundle.${td}.pem`,
      mediaType: 'application/x-pem-file',
      content: pemOf(roots),
      description: `${roots.length} root(s) as PEM${td === undefined ? '' : ` for ${td}`}`,
      ...(td === undefined ? {} : { trustDomain: td }),
    },
  ];
}
