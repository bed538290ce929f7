import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import type { Clock } from '../spiffe/errors.js';
import { systemClock } from '../spiffe/errors.js';
import type { SpiffeId, TrustDomain } from '../spiffe/spiffeid/index.js';
import { EKU, type IssuedCertificate, type Issuer, issueCertificate, toPem } from './issue.js';

/** A development CA for one trust domain: an X.509 root and a JWT signing key. */
export interface DevCa {
  trustDomain: TrustDomain;
  root: IssuedCertificate;
  rootKey: KeyObject;
  jwtKey: KeyObject;
  jwtKid: string;
}

export interface MintedSvid {
  id: SpiffeId;
  /** Leaf first. */
  chain: IssuedCertificate[];
  privateKey: KeyObject;
  /** Leaf + chain PEM, the shape SPIRE's helpers write. */
  certPem: string;
  keyPem: string;
}

const DAY = 86_400_000;

export function createDevCa(trustDomain: TrustDomain, opts: { clock?: Clock; days?: number } = {}): DevCa {
  const now = (opts.clock ?? systemClock)();
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const subject = `O=meshbridge dev CA,CN=${trustDomain.name}`;
  const root = issueCertificate(
    {
      subject,
      publicKey,
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: new Date(now.getTime() + (opts.days ?? 365) * DAY),
      ca: true,
      keyUsage: ['keyCertSign', 'cRLSign'],
      // R17/R25: the signing authority's own SVID names the trust domain, no path.
      uris: [trustDomain.idString()],
    },
    { subject, privateKey, publicKey },
  );
  const jwt = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { trustDomain, root, rootKey: privateKey, jwtKey: jwt.privateKey, jwtKid: kidFor(jwt.publicKey) };
}

export function devCaIssuer(ca: DevCa): Issuer {
  return {
    subject: `O=meshbridge dev CA,CN=${ca.trustDomain.name}`,
    privateKey: ca.rootKey,
    publicKey: createPublicKey(ca.rootKey),
  };
}

/** Mints an X.509-SVID that satisfies every MUST of X509-SVID.md (rules 21-33). */
export function mintX509Svid(
  ca: DevCa,
  id: SpiffeId,
  opts: { clock?: Clock; ttlSeconds?: number; dnsNames?: string[] } = {},
): MintedSvid {
  const now = (opts.clock ?? systemClock)();
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const leaf = issueCertificate(
    {
      subject: 'O=meshbridge dev',
      publicKey,
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: new Date(now.getTime() + (opts.ttlSeconds ?? 3600) * 1000),
      keyUsage: ['digitalSignature', 'keyEncipherment', 'keyAgreement'],
      extKeyUsage: [EKU.serverAuth, EKU.clientAuth],
      uris: [id.toString()],
      ...(opts.dnsNames ? { dnsNames: opts.dnsNames } : {}),
    },
    devCaIssuer(ca),
  );
  return {
    id,
    chain: [leaf],
    privateKey,
    certPem: leaf.pem,
    keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

export function jwtPublicJwk(ca: DevCa): Record<string, unknown> {
  const jwk = createPublicKey(ca.jwtKey).export({ format: 'jwk' }) as Record<string, unknown>;
  return { ...jwk, kid: ca.jwtKid, use: 'jwt-svid' };
}

export function kidFor(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ format: 'der', type: 'spki' }))
    .digest('base64url')
    .slice(0, 32);
}

export function rootPem(ca: DevCa): string {
  return ca.root.pem;
}

export function privateKeyFromPem(pem: string | Buffer): KeyObject {
  return createPrivateKey(pem);
}

export { toPem };
