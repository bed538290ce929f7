/**
 * Property: on the path-validation part of X.509-SVID verification (R34), the kernel
 * agrees with `openssl verify` (OpenSSL 3.0, the independent referee) on generated
 * chains, valid and broken.
 *
 * openssl invocation, per run:
 *   openssl verify -no-CApath -no-CAstore -attime <epoch> -partial_chain \
 *     -CAfile bundle.pem [-untrusted presented.pem] leaf.pem
 *
 * Why these flags make the comparison fair:
 * - `-attime` pins openssl to the kernel's injected clock (whole seconds).
 * - `-CAfile` holds exactly the trust-domain bundle; `-no-CApath -no-CAstore` keep the
 *   system trust store out.
 * - `-partial_chain`: the kernel treats every bundle member as a trust anchor, even one
 *   that is not self-signed (operator anchor); without the flag openssl only stops at
 *   self-signed roots.
 * - `-untrusted` holds the other presented certificates in the order presented; the
 *   leaf is given to openssl separately (the kernel finds it itself, in any order).
 * - No `-purpose`: openssl then checks no EKU/purpose, like the kernel's path part. The
 *   SPIFFE leaf rules (cA=FALSE, leaf key usage, one URI SAN; R21-R33) are not RFC 5280
 *   path validation: openssl accepts a CA leaf, the kernel's verifyX509Svid must reject
 *   it with SVID_LEAF_IS_CA, and that is asserted separately.
 * - No `-x509_strict` / `-check_ss_sig`: anchors are trusted by configuration, so
 *   neither side re-checks an anchor's self-signature.
 * The kernel's path part is `validateX509Path` in strict mode (every MUST enforced);
 * the generator makes every certificate conform except for the one mutation under test,
 * so the default profile must give the same verdict (also asserted).
 *
 * Error classes compared (openssl error number → kernel codes):
 *   2/20/21 (no issuer) and 7 (signature failure) → CHAIN_NO_ANCHOR, CHAIN_SIGNATURE_INVALID
 *   9 (not yet valid) → SVID_NOT_YET_VALID, CHAIN_CERT_NOT_YET_VALID
 *   10 (expired) → SVID_EXPIRED, CHAIN_CERT_EXPIRED
 *   79 (INVALID_CA: OpenSSL's X509_check_ca wants cA=TRUE *and* keyCertSign when key usage
 *   is present) and 32 (no keyCertSign) → SIGNING_CERT_NOT_CA, SIGNING_CERT_NO_KEY_CERT_SIGN
 *   25 (path length) → CHAIN_PATH_LEN_EXCEEDED; 34 (unhandled critical) → CHAIN_UNHANDLED_CRITICAL_EXTENSION
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Bundle } from '../../../../src/spiffe/bundle/x509bundle.js';
import { SpiffeError } from '../../../../src/spiffe/errors.js';
import { TrustDomain } from '../../../../src/spiffe/spiffeid/index.js';
import { pickLeaf, validateX509Path, verifyX509Svid } from '../../../../src/spiffe/svid/x509svid/index.js';
import {
  createCaLeaf,
  createChain,
  createExpiredLeaf,
  createIntermediate,
  createIntermediateWithoutKeyCertSign,
  createLeaf,
  createRoot,
  createSameSubjectDifferentKey,
  createWithWrongKey,
  pemOf,
  type TestCert,
  unknownCriticalExtension,
} from '../../../helpers/pki.js';

const MUTATIONS = [
  'valid',
  'wrongKeyLeaf',
  'wrongKeyIntermediate',
  'expiredLeaf',
  'notYetValidLeaf',
  'expiredIntermediate',
  'caLeaf',
  'intermediateNoKeyCertSign',
  'intermediateNotCa',
  'missingIntermediate',
  'sameNameRoot',
  'rootPathLenZero',
  'leafUnknownCriticalExtension',
  'intermediateAsAnchor',
] as const;
type Mutation = (typeof MUTATIONS)[number];
type Order = 'leafFirst' | 'reversed' | 'withRoot';

interface Scenario {
  leaf: TestCert;
  presented: TestCert[];
  bundle: TestCert[];
}

const HOUR = 3600_000;

async function build(mutation: Mutation, order: Order, key: 'P-256' | 'P-384'): Promise<Scenario> {
  let { root, intermediate, leaf } = await createChain({ key });
  let bundle = [root];
  let includeIntermediate = true;
  switch (mutation) {
    case 'valid':
      break;
    case 'wrongKeyLeaf':
      leaf = await createWithWrongKey(intermediate);
      break;
    case 'wrongKeyIntermediate': {
      const rogue = await createRoot({ subject: root.subject, key });
      intermediate = await createIntermediate(root, { signingKey: rogue.key, key });
      leaf = await createLeaf(intermediate, { key });
      break;
    }
    case 'expiredLeaf':
      leaf = await createExpiredLeaf(intermediate);
      break;
    case 'notYetValidLeaf':
      leaf = await createLeaf(intermediate, { notBefore: new Date(Date.now() + HOUR) });
      break;
    case 'expiredIntermediate':
      intermediate = await createIntermediate(root, {
        notBefore: new Date(Date.now() - 48 * HOUR),
        notAfter: new Date(Date.now() - HOUR),
      });
      leaf = await createLeaf(intermediate);
      break;
    case 'caLeaf':
      leaf = await createCaLeaf(intermediate);
      break;
    case 'intermediateNoKeyCertSign':
      intermediate = await createIntermediateWithoutKeyCertSign(root);
      leaf = await createLeaf(intermediate);
      break;
    case 'intermediateNotCa':
      intermediate = await createIntermediate(root, { ca: false });
      leaf = await createLeaf(intermediate);
      break;
    case 'missingIntermediate':
      includeIntermediate = false;
      break;
    case 'sameNameRoot':
      bundle = [await createSameSubjectDifferentKey(root)];
      break;
    case 'rootPathLenZero':
      root = await createRoot({ pathLen: 0, key });
      intermediate = await createIntermediate(root, { key });
      leaf = await createLeaf(intermediate, { key });
      bundle = [root];
      break;
    case 'leafUnknownCriticalExtension':
      leaf = await createLeaf(intermediate, { extensions: [unknownCriticalExtension()] });
      break;
    case 'intermediateAsAnchor':
      bundle = [intermediate];
      break;
  }
  const others = includeIntermediate ? [intermediate] : [];
  const presented =
    order === 'leafFirst'
      ? [leaf, ...others]
      : order === 'reversed'
        ? [...others, leaf]
        : [root, ...others, leaf];
  return { leaf, presented, bundle };
}

interface OpensslResult {
  ok: boolean;
  error?: number;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'meshbridge-openssl-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function opensslVerify(s: Scenario, epochSeconds: number): OpensslResult {
  const leafFile = join(dir, 'leaf.pem');
  const caFile = join(dir, 'bundle.pem');
  const untrusted = join(dir, 'presented.pem');
  writeFileSync(leafFile, s.leaf.pem);
  writeFileSync(caFile, pemOf(...s.bundle));
  const others = s.presented.filter((c) => c !== s.leaf);
  const args = [
    'verify',
    '-no-CApath',
    '-no-CAstore',
    '-attime',
    String(epochSeconds),
    '-partial_chain',
    '-CAfile',
    caFile,
  ];
  if (others.length > 0) {
    writeFileSync(untrusted, pemOf(...others));
    args.push('-untrusted', untrusted);
  }
  args.push(leafFile);
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  const m = /error (\d+) at \d+ depth/.exec(`${r.stdout}\n${r.stderr}`);
  return r.status === 0 ? { ok: true } : { ok: false, error: m === null ? -1 : Number(m[1]) };
}

const CLASS_OF_OPENSSL: Record<number, string> = {
  2: 'no-path',
  20: 'no-path',
  21: 'no-path',
  30: 'no-path',
  7: 'no-path',
  // Self-signed certificate in the chain: a presented root that is not in the bundle.
  19: 'no-path',
  9: 'not-yet-valid',
  10: 'expired',
  79: 'invalid-ca',
  32: 'invalid-ca',
  25: 'path-len',
  34: 'critical-extension',
};

const CLASS_OF_KERNEL: Record<string, string> = {
  CHAIN_NO_ANCHOR: 'no-path',
  CHAIN_SIGNATURE_INVALID: 'no-path',
  SVID_NOT_YET_VALID: 'not-yet-valid',
  CHAIN_CERT_NOT_YET_VALID: 'not-yet-valid',
  SVID_EXPIRED: 'expired',
  CHAIN_CERT_EXPIRED: 'expired',
  SIGNING_CERT_NOT_CA: 'invalid-ca',
  SIGNING_CERT_NO_KEY_CERT_SIGN: 'invalid-ca',
  CHAIN_PATH_LEN_EXCEEDED: 'path-len',
  CHAIN_UNHANDLED_CRITICAL_EXTENSION: 'critical-extension',
};

function kernel(fn: () => unknown): { ok: true } | { ok: false; code: string } {
  try {
    fn();
    return { ok: true };
  } catch (err) {
    if (!(err instanceof SpiffeError)) throw err;
    return { ok: false, code: err.code };
  }
}

describe('kernel path validation agrees with openssl verify (property, fast-check)', () => {
  const arbitrary = fc.record({
    mutation: fc.constantFrom(...MUTATIONS),
    order: fc.constantFrom<Order>('leafFirst', 'reversed', 'withRoot'),
    key: fc.constantFrom<'P-256' | 'P-384'>('P-256', 'P-384'),
    clockOffsetSeconds: fc.integer({ min: -1800, max: 1800 }),
  });

  it('agrees on valid and broken chains (R34), and verifyX509Svid adds only the SPIFFE leaf rules', async () => {
    const seen = new Set<Mutation>();
    await fc.assert(
      fc.asyncProperty(arbitrary, async ({ mutation, order, key, clockOffsetSeconds }) => {
        seen.add(mutation);
        const s = await build(mutation, order, key);
        const epoch = Math.floor(Date.now() / 1000) + clockOffsetSeconds;
        const clock = () => new Date(epoch * 1000);
        const td = TrustDomain.parse('example.org');
        const bundle = new X509Bundle(
          td,
          s.bundle.map((c) => c.cert),
        );
        const certs = s.presented.map((c) => c.cert);
        const leafIndex = pickLeaf(certs);
        expect(certs[leafIndex]).toBe(s.leaf.cert);
        const others = certs.filter((_, i) => i !== leafIndex);

        const ref = opensslVerify(s, epoch);
        const strict = kernel(() => validateX509Path(s.leaf.cert, others, bundle, { clock, strict: true }));
        const lenient = kernel(() => validateX509Path(s.leaf.cert, others, bundle, { clock }));
        const context = { mutation, order, key, ref, strict };
        expect(strict.ok, JSON.stringify(context)).toBe(ref.ok);
        expect(lenient).toEqual(strict);
        if (!strict.ok && !ref.ok) {
          expect(CLASS_OF_KERNEL[strict.code], JSON.stringify(context)).toBe(CLASS_OF_OPENSSL[ref.error!]);
        }

        const full = kernel(() => verifyX509Svid(certs, bundle, { clock }));
        if (mutation === 'caLeaf') expect(full).toEqual({ ok: false, code: 'SVID_LEAF_IS_CA' });
        else expect(full, JSON.stringify(context)).toEqual(strict);
      }),
      {
        numRuns: 26,
        examples: MUTATIONS.map((mutation, i) => [
          {
            mutation,
            order: (['leafFirst', 'reversed', 'withRoot'] as const)[i % 3]!,
            key: 'P-256',
            clockOffsetSeconds: 0,
          },
        ]),
      },
    );
    expect(seen.size).toBe(MUTATIONS.length);
  }, 60_000);
});
