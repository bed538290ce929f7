/**
 * Test PKI for the dual-trust suites: certificates issued under any CA we hold a key
 * for (fixture CAs included: the issuer name is copied byte for byte from the CA's own
 * subject), Istio- and Linkerd-shaped leaves, a SPIRE-like CA, and `openssl verify` as
 * the referee.
 */
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bitString, seq } from '../../src/devca/der-writer.js';
import { type CertificateTemplate, EKU, issueCertificate } from '../../src/devca/issue.js';
import { buildInventory } from '../../src/mesh-import/build.js';
import type { Inventory, Mesh } from '../../src/mesh-import/inventory.js';
import { readContent } from '../../src/mesh-import/read.js';
import { readTlv } from '../../src/spiffe/internal/der.js';
import { encodePem } from '../../src/spiffe/pem/pem.js';
import { type Certificate, parseCertificate, parseCertificates } from '../../src/spiffe/x509/certificate.js';
import { readFixture } from '../helpers/fixtures.js';

/** The instant the fixtures' SOURCES.md judged validity at. */
export const AT = new Date('2026-11-23T12:00:00Z');
export const clock = () => AT;
const DAY = 86_400_000;

export interface Ca {
  cert: Certificate;
  key: KeyObject;
}

export interface Issued {
  cert: Certificate;
  key: KeyObject;
  pem: string;
}

/** Issues `tpl` (minus its key) under `issuer`, the issuer name copied from the CA's subject DER. */
export function issueUnder(
  issuer: Ca,
  tpl: Omit<CertificateTemplate, 'publicKey'>,
  key: KeyObject = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
): Issued {
  const issued = issueCertificate(
    { ...tpl, publicKey: createPublicKey(key) },
    { subject: 'CN=placeholder', privateKey: issuer.key, publicKey: issuer.cert.publicKey },
  );
  const der = issued.der;
  const outer = readTlv(der, 0);
  const tbs = readTlv(der, outer.valueStart, outer.end);
  const alg = readTlv(der, tbs.end, outer.end);
  const children: Uint8Array[] = [];
  for (let pos = tbs.valueStart, i = 0; pos < tbs.end; i++) {
    const t = readTlv(der, pos, tbs.end);
    children.push(i === 3 ? issuer.cert.subjectDer : der.subarray(t.start, t.end));
    pos = t.end;
  }
  const newTbs = seq(...children);
  const ec = issuer.key.asymmetricKeyType === 'ec';
  const sig = sign('sha256', newTbs, ec ? { key: issuer.key, dsaEncoding: 'der' } : issuer.key);
  const out = seq(newTbs, der.subarray(alg.start, alg.end), bitString(sig));
  const cert = parseCertificate(out);
  return { cert, key, pem: encodePem('CERTIFICATE', cert.der) };
}

/** A self-signed CA (P-256 unless an RSA key is given). */
export function selfSignedCa(
  subject: string,
  opts: { days?: number; pathLen?: number; uris?: string[] } = {},
): Ca {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const issued = issueCertificate(
    {
      subject,
      publicKey: createPublicKey(key),
      notBefore: new Date(AT.getTime() - DAY),
      notAfter: new Date(AT.getTime() + (opts.days ?? 3650) * DAY),
      ca: true,
      ...(opts.pathLen === undefined ? {} : { pathLen: opts.pathLen }),
      keyUsage: ['keyCertSign', 'cRLSign'],
      ...(opts.uris ? { uris: opts.uris } : {}),
    },
    { subject, privateKey: key, publicKey: createPublicKey(key) },
  );
  return { cert: parseCertificate(issued.der), key };
}

/** An intermediate CA under `issuer`. */
export function intermediateCa(
  issuer: Ca,
  subject: string,
  opts: { pathLen?: number; days?: number } = {},
): Ca {
  const i = issueUnder(issuer, {
    subject,
    notBefore: new Date(AT.getTime() - DAY),
    notAfter: new Date(AT.getTime() + (opts.days ?? 365) * DAY),
    ca: true,
    pathLen: opts.pathLen ?? 0,
    keyUsage: ['keyCertSign', 'cRLSign'],
  });
  return { cert: i.cert, key: i.key };
}

/** What istiod issues: empty subject, critical SAN with the SPIFFE ID, non-critical KU, 24 h. */
export function istioLeaf(issuer: Ca, spiffeId: string, hours = 24): Issued {
  return issueUnder(issuer, {
    subject: '',
    notBefore: new Date(AT.getTime() - 120_000),
    notAfter: new Date(AT.getTime() + hours * 3_600_000),
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    keyUsageCritical: false,
    extKeyUsage: [EKU.serverAuth, EKU.clientAuth],
    uris: [spiffeId],
  });
}

/** What linkerd-identity issues (SOURCES.md Gaps): CN = the DNS identity, one DNS SAN, no basicConstraints. */
export function linkerdLeaf(issuer: Ca, identity: string): Issued {
  return issueUnder(issuer, {
    subject: `CN=${identity}`,
    notBefore: new Date(AT.getTime() - 20_000),
    notAfter: new Date(AT.getTime() + 24 * 3_600_000 + 20_000),
    basicConstraints: false,
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    extKeyUsage: [EKU.serverAuth, EKU.clientAuth],
    dnsNames: [identity],
  });
}

/** A SPIRE-like server CA: self-signed, `spiffe://<td>` URI SAN, as SPIRE publishes it. */
export function spireCa(trustDomain: string): Ca {
  return selfSignedCa(`C=US,O=SPIFFE,CN=${trustDomain}`, { days: 7, uris: [`spiffe://${trustDomain}`] });
}

/** An X.509-SVID as the SPIRE agent hands it out (1 h, critical KU). */
export function spireSvid(ca: Ca, spiffeId: string): Issued {
  return issueUnder(ca, {
    subject: 'C=US,O=SPIRE',
    notBefore: new Date(AT.getTime() - 60_000),
    notAfter: new Date(AT.getTime() + 3_600_000),
    keyUsage: ['digitalSignature', 'keyEncipherment', 'keyAgreement'],
    extKeyUsage: [EKU.serverAuth, EKU.clientAuth],
    uris: [spiffeId],
  });
}

export function fixtureCerts(...parts: string[]): Certificate[] {
  return parseCertificates(readFixture(...parts));
}

export function fixtureKey(...parts: string[]): KeyObject {
  return createPrivateKey(readFixture(...parts));
}

export function pemOfCerts(certs: readonly Certificate[]): string {
  return certs.map((c) => encodePem('CERTIFICATE', c.der)).join('');
}

/**
 * `openssl verify` as the referee: the leaf (first) against `bundle` as the only
 * trust (-partial_chain: every bundle member is an anchor, as in the kernel), the rest
 * of the chain as untrusted intermediates, at `at`. No purpose check (SPIFFE leaf
 * rules are the kernel's own).
 */
export function opensslVerify(
  bundle: readonly Certificate[],
  chain: readonly Certificate[],
  at: Date = AT,
): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'mb-openssl-'));
  try {
    const ca = join(dir, 'bundle.pem');
    const leaf = join(dir, 'leaf.pem');
    const untrusted = join(dir, 'untrusted.pem');
    writeFileSync(ca, pemOfCerts(bundle));
    writeFileSync(leaf, pemOfCerts([chain[0]!]));
    const args = [
      'verify',
      '-no-CApath',
      '-no-CAstore',
      '-partial_chain',
      '-attime',
      String(Math.floor(at.getTime() / 1000)),
    ];
    args.push('-CAfile', ca);
    if (chain.length > 1) {
      writeFileSync(untrusted, pemOfCerts(chain.slice(1)));
      args.push('-untrusted', untrusted);
    }
    args.push(leaf);
    if (bundle.length === 0) return false;
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    return r.status === 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Reads files with the project's own importer (shape detection + inventory build), as `meshbridge import` does. */
export async function importFiles(
  files: readonly [string, string | Uint8Array][],
  mesh?: Mesh,
): Promise<Inventory> {
  const extractions = files.map(([name, content]) =>
    readContent(typeof content === 'string' ? Buffer.from(content) : content, name, {
      explicit: true,
      ...(mesh === undefined ? {} : { mesh }),
    }),
  );
  return await buildInventory(extractions, { clock, ...(mesh === undefined ? {} : { mesh }) });
}
