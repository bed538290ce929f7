import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CodedError } from '../spiffe/errors.js';
import { TrustDomain } from '../spiffe/spiffeid/index.js';
import { createDevCa, type DevCa, jwtPublicJwk, kidFor, type MintedSvid } from './devca.js';

/** Layout of a dev CA folder; `meshbridge dev mint` writes it and the examples read it. */
export const DEVCA_FILES = {
  caCert: 'ca.pem',
  caKey: 'ca.key',
  jwtKey: 'jwt.key',
  bundle: 'bundle.pem',
  jwtBundle: 'jwt-bundle.json',
} as const;

/** Writes atomically (temp + rename) so a reader never sees half a key; keys are 0600. */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, path);
}

/** Loads the CA in `dir`, or creates one there. A CA for another trust domain is refused. */
export function loadOrCreateDevCa(dir: string, trustDomain: TrustDomain): { ca: DevCa; created: boolean } {
  const certPath = join(dir, DEVCA_FILES.caCert);
  if (existsSync(certPath)) {
    const ca = loadDevCa(dir);
    if (!ca.trustDomain.equals(trustDomain)) {
      throw new CodedError(
        'DEVCA_TRUST_DOMAIN_MISMATCH',
        'input',
        `${dir} holds a CA for ${ca.trustDomain.name}, not ${trustDomain.name}; use another --out folder`,
      );
    }
    return { ca, created: false };
  }
  mkdirSync(dir, { recursive: true });
  const ca = createDevCa(trustDomain);
  writeFileAtomic(join(dir, DEVCA_FILES.caKey), ca.rootKey.export({ format: 'pem', type: 'pkcs8' }), 0o600);
  writeFileAtomic(join(dir, DEVCA_FILES.jwtKey), ca.jwtKey.export({ format: 'pem', type: 'pkcs8' }), 0o600);
  writeFileAtomic(certPath, ca.root.pem);
  writeFileAtomic(join(dir, DEVCA_FILES.bundle), ca.root.pem);
  writeFileAtomic(
    join(dir, DEVCA_FILES.jwtBundle),
    `${JSON.stringify({ keys: [jwtPublicJwk(ca)] }, null, 2)}\n`,
  );
  return { ca, created: true };
}

export function loadDevCa(dir: string): DevCa {
  try {
    const pem = readFileSync(join(dir, DEVCA_FILES.caCert), 'utf8');
    const x = new X509Certificate(pem);
    const uri = /URI:spiffe:\/\/([^,/\s]+)/.exec(x.subjectAltName ?? '');
    if (!uri) throw new Error('the CA certificate names no trust domain');
    const rootKey = createPrivateKey(readFileSync(join(dir, DEVCA_FILES.caKey)));
    const jwtKey = createPrivateKey(readFileSync(join(dir, DEVCA_FILES.jwtKey)));
    const der = Buffer.from(x.raw);
    return {
      trustDomain: TrustDomain.parse(uri[1]!),
      root: { der, pem, fingerprint: x.fingerprint256.replaceAll(':', '').toLowerCase() },
      rootKey,
      jwtKey,
      jwtKid: kidFor(createPublicKey(jwtKey)),
    };
  } catch (err) {
    if (err instanceof CodedError) throw err;
    throw new CodedError(
      'DEVCA_UNREADABLE',
      'input',
      `cannot load the dev CA in ${dir}: ${(err as Error).message}`,
    );
  }
}

/** `<last path segment>.pem` (leaf + chain) and `.key`, as `dev mint` promises. */
export function writeSvidFiles(dir: string, svid: MintedSvid): { cert: string; key: string } {
  const base = svid.id.segments().at(-1) ?? svid.id.trustDomain.name;
  const cert = join(dir, `${base}.pem`);
  const key = join(dir, `${base}.key`);
  writeFileAtomic(key, svid.keyPem, 0o600);
  writeFileAtomic(cert, svid.certPem);
  return { cert, key };
}
