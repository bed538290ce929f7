import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpiffeError } from '../../../src/spiffe/errors.js';
import { type Certificate, parseCertificate } from '../../../src/spiffe/x509/certificate.js';
import { verifySignature } from '../../../src/spiffe/x509/signature.js';
import { createCert, createRoot, generateKeyPair } from '../../helpers/pki.js';

/**
 * Self-signed certificates minted by the openssl CLI (the independent referee) for
 * each signature algorithm, then checked through node:crypto by the kernel.
 */
const SUPPORTED: [string, string, string[]][] = [
  [
    'ECDSA P-256 / SHA-256',
    'ecdsa-with-SHA256',
    ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-sha256'],
  ],
  [
    'ECDSA P-384 / SHA-384',
    'ecdsa-with-SHA384',
    ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-sha384'],
  ],
  [
    'ECDSA P-521 / SHA-512',
    'ecdsa-with-SHA512',
    ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521', '-sha512'],
  ],
  [
    'ECDSA P-256 / SHA-512',
    'ecdsa-with-SHA512',
    ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-sha512'],
  ],
  ['RSA PKCS#1 v1.5 / SHA-256', 'sha256WithRSAEncryption', ['-newkey', 'rsa:2048', '-sha256']],
  ['RSA PKCS#1 v1.5 / SHA-384', 'sha384WithRSAEncryption', ['-newkey', 'rsa:2048', '-sha384']],
  ['RSA PKCS#1 v1.5 / SHA-512', 'sha512WithRSAEncryption', ['-newkey', 'rsa:2048', '-sha512']],
  [
    'RSA-PSS / SHA-256, salt 32, rsaEncryption key',
    'rsassa-pss',
    ['-newkey', 'rsa:2048', '-sha256', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'],
  ],
  [
    'RSA-PSS / SHA-384, salt 48, RSASSA-PSS key',
    'rsassa-pss',
    ['-newkey', 'rsa-pss', '-pkeyopt', 'rsa_keygen_bits:2048', '-sha384', '-sigopt', 'rsa_pss_saltlen:48'],
  ],
  ['Ed25519', 'ed25519', ['-newkey', 'ed25519']],
];

const UNSUPPORTED: [string, string[]][] = [
  ['RSA / SHA-1', ['-newkey', 'rsa:2048', '-sha1']],
  ['Ed448', ['-newkey', 'ed448']],
];

let dir: string;
const minted = new Map<string, Certificate>();

function mint(name: string, args: string[]): Certificate {
  const out = join(dir, `${minted.size}.der`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      ...args,
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      out,
      '-outform',
      'DER',
      '-subj',
      '/CN=sig',
      '-days',
      '1',
    ],
    { stdio: 'ignore' },
  );
  const cert = parseCertificate(readFileSync(out));
  minted.set(name, cert);
  return cert;
}

function freshKeyLike(cert: Certificate): { publicKey: KeyObject } {
  const [kind, size] = cert.keyAlgorithm.split(' ');
  if (kind === 'EC') return generateKeyPairSync('ec', { namedCurve: size! });
  if (kind === 'RSA') return generateKeyPairSync('rsa', { modulusLength: Number(size) });
  if (kind === 'RSA-PSS') return generateKeyPairSync('rsa-pss', { modulusLength: Number(size) });
  return generateKeyPairSync('ed25519');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshbridge-sig-'));
  for (const [name, , args] of SUPPORTED) mint(name, args);
  for (const [name, args] of UNSUPPORTED) mint(name, args);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('verifySignature through node:crypto', () => {
  it.each(SUPPORTED.map(([name, alg]) => [name, alg] as const))('%s verifies (%s)', (name, alg) => {
    const cert = minted.get(name)!;
    expect(cert.signatureAlgorithm.name).toBe(alg);
    expect(verifySignature(cert, cert.publicKey)).toBe(true);
    expect(cert.isSelfSigned()).toBe(true);
  });

  it('parses RSASSA-PSS parameters (hash, MGF1 hash, salt length)', () => {
    expect(minted.get('RSA-PSS / SHA-256, salt 32, rsaEncryption key')!.signatureAlgorithm.pss).toEqual({
      hash: 'sha256',
      mgf1Hash: 'sha256',
      saltLength: 32,
    });
    expect(minted.get('RSA-PSS / SHA-384, salt 48, RSASSA-PSS key')!.signatureAlgorithm.pss?.saltLength).toBe(
      48,
    );
  });

  it.each(SUPPORTED.map(([name]) => name))('%s fails under a fresh key of the same type', (name) => {
    const cert = minted.get(name)!;
    const { publicKey } = freshKeyLike(cert);
    expect(publicKey.asymmetricKeyType).toBe(cert.publicKey.asymmetricKeyType);
    expect(verifySignature(cert, publicKey)).toBe(false);
  });

  it('returns false for a key of the wrong type instead of throwing', () => {
    const ec = minted.get('ECDSA P-256 / SHA-256')!;
    const rsa = minted.get('RSA PKCS#1 v1.5 / SHA-256')!;
    const ed = minted.get('Ed25519')!;
    expect(verifySignature(ec, rsa.publicKey)).toBe(false);
    expect(verifySignature(rsa, ec.publicKey)).toBe(false);
    expect(verifySignature(ed, ec.publicKey)).toBe(false);
  });

  it('returns false for a damaged signature', async () => {
    const root = await createRoot();
    const sig = root.cert.signature;
    const broken = {
      ...root.cert,
      signature: Uint8Array.from(sig, (b, i) => (i === sig.length - 1 ? b ^ 1 : b)),
    };
    expect(verifySignature(root.cert, root.key.publicKey)).toBe(true);
    expect(verifySignature(broken as Certificate, root.key.publicKey)).toBe(false);
    expect(
      verifySignature(
        { ...root.cert, signature: new Uint8Array([0x30, 0x00]) } as Certificate,
        root.key.publicKey,
      ),
    ).toBe(false);
  });

  it.each(UNSUPPORTED.map(([name]) => name))('%s raises SIGNATURE_ALGORITHM_UNSUPPORTED', (name) => {
    const cert = minted.get(name)!;
    try {
      verifySignature(cert, cert.publicKey);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(SpiffeError);
      expect((err as SpiffeError).code).toBe('SIGNATURE_ALGORITHM_UNSUPPORTED');
    }
    expect(cert.isSelfSigned()).toBe(false);
  });

  it('verifies certificates from the test PKI across key types (P-384 issuer, RSA subject)', async () => {
    const issuer = await createCert({ key: 'P-384', ca: true, keyUsage: ['keyCertSign'] });
    const rsaKey = await generateKeyPair('RSA-2048');
    const child = await createCert({ issuer, key: rsaKey });
    expect(child.cert.signatureAlgorithm.name).toBe('ecdsa-with-SHA384');
    expect(verifySignature(child.cert, createPublicKey(issuer.key.privateKey))).toBe(true);
    expect(verifySignature(child.cert, child.cert.publicKey)).toBe(false);
  });
});
