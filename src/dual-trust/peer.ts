/**
 * One verdict for one presented certificate chain against one trust source, with the
 * kernel: an X.509-SVID (a SPIFFE ID in the URI SAN) through `verifyX509Svid`; a
 * Linkerd identity (`<sa>.<ns>.serviceaccount.identity.<cp-ns>.<td>` as DNS SAN, no
 * URI SAN) through `validateX509Path` against its trust domain's bundle. Anything else
 * carries no workload identity and is `PEER_NO_IDENTITY`.
 */

import type { X509BundleSource } from '../spiffe/bundle/source.js';
import { type Clock, SpiffeError } from '../spiffe/errors.js';
import { SpiffeId, TrustDomain } from '../spiffe/spiffeid/index.js';
import {
  pickLeaf,
  type VerificationCache,
  validateX509Path,
  verifyX509Svid,
} from '../spiffe/svid/x509svid/index.js';
import type { Certificate } from '../spiffe/x509/certificate.js';

const LINKERD_IDENTITY = /^([^.]+)\.([^.]+)\.serviceaccount\.identity\.([^.]+)\.(.+)$/;

export type PeerIdentity =
  | { kind: 'spiffe'; spiffeId: string; trustDomain: string; workloadKey: string }
  | { kind: 'mesh'; meshIdentity: string; trustDomain: string; workloadKey: string };

/**
 * The identity a leaf carries. `workloadKey` names the workload independent of the
 * trust domain and format: `ns/<ns>/sa/<sa>` for Istio-style SPIFFE IDs and Linkerd
 * identities, the full ID otherwise. The simulation matches edges to certificates by it,
 * so a workload keeps its name when SPIRE re-issues it in another trust domain.
 */
export function identityOf(leaf: Certificate): PeerIdentity | undefined {
  const uris = leaf.subjectAltName?.uris ?? [];
  if (uris.length === 1 && uris[0]!.toLowerCase().startsWith('spiffe://')) {
    try {
      const id = SpiffeId.parse(uris[0]!);
      return {
        kind: 'spiffe',
        spiffeId: id.toString(),
        trustDomain: id.trustDomain.name,
        workloadKey: workloadKeyOf(id.toString()),
      };
    } catch {
      return undefined;
    }
  }
  if (uris.length > 0) return undefined;
  for (const dns of leaf.subjectAltName?.dnsNames ?? []) {
    const m = LINKERD_IDENTITY.exec(dns.toLowerCase());
    if (m === null) continue;
    return {
      kind: 'mesh',
      meshIdentity: dns.toLowerCase(),
      trustDomain: m[4]!,
      workloadKey: `ns/${m[2]}/sa/${m[1]}`,
    };
  }
  return undefined;
}

/** `ns/<ns>/sa/<sa>` for Istio-style SPIFFE IDs and Linkerd identities; the identity itself otherwise. */
export function workloadKeyOf(identity: string): string {
  const text = identity.trim();
  const spiffe = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/([^/]+)$/i.exec(text);
  if (spiffe !== null) return `ns/${spiffe[1]}/sa/${spiffe[2]}`;
  const linkerd = LINKERD_IDENTITY.exec(text.toLowerCase());
  if (linkerd !== null) return `ns/${linkerd[2]}/sa/${linkerd[1]}`;
  const short = /^ns\/([^/]+)\/sa\/([^/]+)$/.exec(text);
  if (short !== null) return text;
  return text;
}

export type PeerVerdict =
  | { valid: true; identity: PeerIdentity; leaf: Certificate; anchor: Certificate }
  | { valid: false; identity: PeerIdentity | undefined; leaf: Certificate; code: string; message: string };

export interface VerifyPeerOptions {
  clock?: Clock;
  cache?: VerificationCache;
}

/** Verifies leaf + intermediates (any order) against `source`. Never throws for a verdict. */
export function verifyPeer(
  chain: readonly Certificate[],
  source: X509BundleSource,
  opts: VerifyPeerOptions = {},
): PeerVerdict {
  if (chain.length === 0) throw new TypeError('verifyPeer needs at least one certificate');
  const leafIndex = pickLeaf(chain);
  const leaf = chain[leafIndex]!;
  const vopts = {
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.cache ? { cache: opts.cache } : {}),
  };
  const hasUri = (leaf.subjectAltName?.uris.length ?? 0) > 0;
  const linkerd = hasUri ? undefined : identityOf(leaf);
  try {
    if (linkerd === undefined) {
      // An X.509-SVID (or no identity at all: the kernel says why — no URI SAN, several, not a SPIFFE ID).
      const v = verifyX509Svid(chain, source, vopts);
      const spiffeId = v.id.toString();
      return {
        valid: true,
        identity: {
          kind: 'spiffe',
          spiffeId,
          trustDomain: v.trustDomain.name,
          workloadKey: workloadKeyOf(spiffeId),
        },
        leaf,
        anchor: v.anchor,
      };
    }
    const bundle = source.getX509BundleForTrustDomain(TrustDomain.parse(linkerd.trustDomain));
    const others = chain.filter((_, i) => i !== leafIndex);
    const path = validateX509Path(leaf, others, bundle, vopts);
    return { valid: true, identity: linkerd, leaf, anchor: path.anchor };
  } catch (err) {
    if (!(err instanceof SpiffeError)) throw err;
    return {
      valid: false,
      identity: linkerd ?? identityOf(leaf),
      leaf,
      code: err.code,
      message: err.message,
    };
  }
}
