import type { PhaseBundle } from '../compose.js';
import type { Artifact, EmitOptions } from './artifact.js';
import { pemOf } from './pem.js';
import { emitSpiffe } from './spiffe.js';

/**
 * `spire`: what a SPIRE server needs to trust the mesh during the overlap.
 * - `bundle-set.<td>.json`, one per trust domain other than SPIRE's own, for
 *   `spire-server bundle set -format spiffe -id spiffe://<td> -path <file>` (SPIRE
 *   refuses to set a federated bundle for its own trust domain);
 * - `upstream-bundle.pem`: the mesh roots, for `UpstreamAuthority "disk"`
 *   `bundle_file_path`, when the team chains SPIRE under the mesh root (then SPIRE's
 *   own trust domain carries the mesh roots as upstream authorities);
 * - `upstream-authority.conf`: the matching server.conf plugin block.
 */
export function emitSpire(bundle: PhaseBundle, opts: EmitOptions): Artifact[] {
  const spireTd =
    opts.spireTrustDomain ??
    bundle.trustDomains.find((td) => td.roots.some((r) => r.origins.includes('spire')))?.name;
  const foreign = bundle.trustDomains.filter(
    (td) => td.name !== spireTd && td.roots.length + td.jwtKeys.length > 0,
  );
  const out: Artifact[] = [];
  for (const a of emitSpiffe({ ...bundle, trustDomains: foreign }, {})) {
    out.push({
      ...a,
      name: `bundle-set.${a.trustDomain}.json`,
      description: `spire-server bundle set -format spiffe -id spiffe://${a.trustDomain} -path bundle-set.${a.trustDomain}.json`,
    });
  }
  const meshRoots = (
    spireTd === undefined ? bundle.trustDomains : bundle.trustDomains.filter((t) => t.name === spireTd)
  )
    .flatMap((td) => td.roots)
    .filter((r) => r.origins.includes('mesh'));
  const seen = new Set<string>();
  const upstream = meshRoots.filter((r) => !seen.has(r.fingerprint) && seen.add(r.fingerprint));
  const pemText = pemOf(
    upstream.length > 0
      ? upstream
      : bundle.trustDomains.flatMap((t) => t.roots).filter((r) => r.origins.includes('mesh')),
  );
  out.push({
    name: 'upstream-bundle.pem',
    mediaType: 'application/x-pem-file',
    content: pemText,
    description: 'UpstreamAuthority "disk" bundle_file_path: the mesh root(s) SPIRE chains under',
  });
  out.push({
    name: 'upstream-authority.conf',
    mediaType: 'text/plain',
    content: [
      '# server.conf plugin block to chain SPIRE under the mesh root (UpstreamAuthority "disk").',
      '# cert_file_path / key_file_path: a CA certificate and key issued by the mesh root for SPIRE',
      '# (never produced by meshbridge); bundle_file_path: upstream-bundle.pem from this output.',
      'UpstreamAuthority "disk" {',
      '    plugin_data {',
      '        cert_file_path = "/run/spire/upstream/intermediate.pem"',
      '        key_file_path = "/run/spire/upstream/intermediate.key"',
      '        bundle_file_path = "/run/spire/upstream/upstream-bundle.pem"',
      '    }',
      '}',
      '',
    ].join('\n'),
    description: 'server.conf UpstreamAuthority "disk" block',
  });
  return out;
}
