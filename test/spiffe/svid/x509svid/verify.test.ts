import { describe, expect, it } from 'vitest';
import type { X509BundleSource } from '../../../../src/spiffe/bundle/source.js';
import { X509Bundle, X509BundleSet } from '../../../../src/spiffe/bundle/x509bundle.js';
import { type Clock, SpiffeError } from '../../../../src/spiffe/errors.js';
import { TrustDomain } from '../../../../src/spiffe/spiffeid/index.js';
import {
  pickLeaf,
  VerificationCache,
  type VerifyX509SvidOptions,
  validateX509Path,
  verifyX509Svid,
} from '../../../../src/spiffe/svid/x509svid/index.js';
import {
  type Certificate,
  parseCertificate,
  parseCertificates,
} from '../../../../src/spiffe/x509/certificate.js';
import { readFixture } from '../../../helpers/fixtures.js';
import {
  createCaLeaf,
  createCert,
  createChain,
  createExpiredLeaf,
  createIntermediate,
  createIntermediateWithoutKeyCertSign,
  createLeaf,
  createRoot,
  createSameSubjectDifferentKey,
  createWithWrongKey,
  type TestCert,
  type TestChain,
  unknownCriticalExtension,
} from '../../../helpers/pki.js';

const at =
  (iso: string): Clock =>
  () =>
    new Date(iso);
const certsOf = (...parts: string[]) => parseCertificates(readFixture(...parts));
const bundleOf = (td: string, ...certs: (Certificate | TestCert)[]) =>
  new X509Bundle(
    TrustDomain.parse(td),
    certs.map((c) => ('cert' in c ? c.cert : c)),
  );

type Verdict = { code: 'OK'; warnings: string[]; chain: number } | { code: string; rule: number | undefined };

function verdictOf(
  certs: readonly Certificate[],
  source: X509BundleSource,
  opts: VerifyX509SvidOptions = {},
): Verdict {
  try {
    const r = verifyX509Svid(certs, source, opts);
    return { code: 'OK', warnings: r.warnings.map((w) => w.code), chain: r.chain.length };
  } catch (err) {
    if (!(err instanceof SpiffeError)) throw err;
    return { code: err.code, rule: err.rule };
  }
}

const codeOf = (certs: readonly Certificate[], source: X509BundleSource, opts: VerifyX509SvidOptions = {}) =>
  verdictOf(certs, source, opts).code;

// ---------------------------------------------------------------------------

describe('SPIFFE fixtures: path validation at pinned clocks', () => {
  const goodChain = () => certsOf('spiffe', 'go-spiffe', 'x509svid', 'good-leaf-and-intermediate.pem');
  // The bundle is supplied out of band for example.org; its root's own SAN is spiffe://local (R17 is a SHOULD).
  const localRoot = () =>
    bundleOf('example.org', ...certsOf('spiffe', 'java-spiffe', 'workloadapi', 'federated-bundle.pem'));

  it('good-leaf-and-intermediate verifies against federated-bundle.pem inside 2020-03-24T14:07:30Z–15:07:40Z', () => {
    const r = verifyX509Svid(goodChain(), localRoot(), { clock: at('2020-03-24T14:30:00Z') });
    expect(r.id.toString()).toBe('spiffe://example.org/workload-1');
    expect(r.trustDomain.name).toBe('example.org');
    expect(r.chain.map((c) => c.subjectAltName?.uris[0])).toEqual([
      'spiffe://example.org/workload-1',
      'spiffe://example.org',
      'spiffe://local',
    ]);
    expect(r.anchor.isSelfSigned()).toBe(true);
    // N2: the intermediate sets digitalSignature; accepted, noted.
    expect(r.warnings.map((w) => w.code)).toEqual(['SIGNING_CERT_DIGITAL_SIGNATURE']);
  });

  it('the same chain is valid in strict mode too (N2 is not a MUST)', () => {
    expect(codeOf(goodChain(), localRoot(), { clock: at('2020-03-24T14:30:00Z'), strict: true })).toBe('OK');
  });

  it('also verifies against the x5c of spiffebundle_valid_1.json (same root)', () => {
    const json = JSON.parse(
      readFixture('spiffe', 'go-spiffe', 'spiffebundle', 'spiffebundle_valid_1.json').toString(),
    );
    const x5c = json.keys.find((k: { use: string }) => k.use === 'x509-svid').x5c[0] as string;
    const bundle = bundleOf('example.org', parseCertificate(Buffer.from(x5c, 'base64')));
    expect(codeOf(goodChain(), bundle, { clock: at('2020-03-24T15:00:00Z') })).toBe('OK');
  });

  it.each([
    ['before the leaf window', '2020-03-24T14:07:00Z', 'SVID_NOT_YET_VALID'],
    ['after the leaf window', '2020-03-24T15:07:41Z', 'SVID_EXPIRED'],
    ['with the real clock', new Date().toISOString(), 'SVID_EXPIRED'],
  ])('is rejected %s', (_name, iso, code) => {
    expect(codeOf(goodChain(), localRoot(), { clock: at(iso) })).toBe(code);
  });

  it('accepts the chain in reverse presentation order', () => {
    expect(codeOf([...goodChain()].reverse(), localRoot(), { clock: at('2020-03-24T14:30:00Z') })).toBe('OK');
  });

  it('finds no bundle when the source only holds spiffe://local (R20: chosen by the leaf ID)', () => {
    const set = new X509BundleSet([
      bundleOf('local', ...certsOf('spiffe', 'java-spiffe', 'workloadapi', 'federated-bundle.pem')),
    ]);
    expect(verdictOf(goodChain(), set, { clock: at('2020-03-24T14:30:00Z') })).toMatchObject({
      code: 'BUNDLE_NOT_FOUND',
      rule: 20,
    });
  });

  it('rust-spiffe 1-svid-chain.der verifies against its own CA with the real clock', () => {
    const [leaf, ca] = certsOf('spiffe', 'rust-spiffe', 'svid', '1-svid-chain.der');
    const r = verifyX509Svid([leaf!, ca!], bundleOf('example.org', ca!));
    expect(r.id.toString()).toBe('spiffe://example.org/service');
    expect(r.chain).toEqual([leaf, ca]);
    expect(r.warnings).toEqual([]);
  });

  it.each([
    ['spiffe_leaf.der chains to ca.der (valid)', 'spiffe_leaf.der', 'OK'],
    ['no_spiffe_leaf.der has no SPIFFE ID (R21)', 'no_spiffe_leaf.der', 'SVID_NO_URI_SAN'],
    ['ca.der presented as a leaf is rejected (R26)', 'ca.der', 'SVID_NO_URI_SAN'],
  ])('rust-spiffe rustls: %s', (_name, file, code) => {
    const ca = certsOf('spiffe', 'rust-spiffe', 'rustls', 'ca.der');
    const leaf = certsOf('spiffe', 'rust-spiffe', 'rustls', file);
    expect(codeOf(leaf, bundleOf('example.org', ...ca), { clock: at('2026-06-01T00:00:00Z') })).toBe(code);
  });

  it.each([
    ['wrong-leaf-ca-true.pem', 'SVID_LEAF_IS_CA', 26],
    ['wrong-leaf-cert-sign.pem', 'SVID_LEAF_KEY_CERT_SIGN', 32],
    ['wrong-leaf-crl-sign.pem', 'SVID_LEAF_CRL_SIGN', 32],
    ['wrong-leaf-empty-id.pem', 'SVID_NO_URI_SAN', 21],
    ['wrong-leaf-no-digital-signature.pem', 'SVID_LEAF_NO_DIGITAL_SIGNATURE', 31],
  ])('go-spiffe %s is rejected as %s (R%i)', (file, code, rule) => {
    const certs = certsOf('spiffe', 'go-spiffe', 'x509svid', file);
    const bundle = bundleOf(
      'example.org',
      ...certsOf('spiffe', 'go-spiffe', 'x509svid', 'good-leaf-only.pem'),
    );
    expect(verdictOf(certs, bundle, { clock: at('2021-01-01T00:00:00Z') })).toEqual({ code, rule });
  });

  it('go-spiffe good-leaf-only.pem (signed by its own key) verifies when it is itself the authority', () => {
    const certs = certsOf('spiffe', 'go-spiffe', 'x509svid', 'good-leaf-only.pem');
    expect(
      verdictOf(certs, bundleOf('example.org', ...certs), { clock: at('2021-01-01T00:00:00Z') }),
    ).toMatchObject({
      code: 'OK',
      chain: 1,
    });
  });

  it('go-spiffe wrong-intermediate-no-ca.pem: a non-CA anchor is tolerated by default and refused in strict mode (R27)', () => {
    const [leaf, signing] = certsOf('spiffe', 'go-spiffe', 'x509svid', 'wrong-intermediate-no-ca.pem');
    const bundle = bundleOf('example.org', signing!);
    const clock = at('2021-01-01T00:00:00Z');
    expect(verdictOf([leaf!], bundle, { clock })).toMatchObject({
      code: 'OK',
      warnings: ['SIGNING_CERT_NOT_CA'],
    });
    expect(verdictOf([leaf!], bundle, { clock, strict: true })).toEqual({
      code: 'SIGNING_CERT_NOT_CA',
      rule: 27,
    });
  });

  it.each(['a', 'b', 'c', 'd', 'e'])(
    'java-spiffe leaf-%s (self-signed) validates only against itself (N12)',
    (x) => {
      const leaf = certsOf('spiffe', 'java-spiffe', 'certs', `leaf-${x}.crt.der`);
      const other = certsOf('spiffe', 'java-spiffe', 'certs', `leaf-${x === 'a' ? 'b' : 'a'}.crt.der`);
      const clock = at('2026-06-01T00:00:00Z');
      expect(codeOf(leaf, bundleOf('test', ...leaf), { clock })).toBe('OK');
      // Same subject CN=spiffe-leaf, different key: never linked by name.
      expect(leaf[0]!.issuer).toBe(other[0]!.subject);
      expect(codeOf(leaf, bundleOf('test', ...other), { clock })).toBe('CHAIN_SIGNATURE_INVALID');
    },
  );

  it('java-spiffe workloadapi/svid.der does not chain to the spiffe://local root (its CA is not in the set)', () => {
    const leaf = certsOf('spiffe', 'java-spiffe', 'workloadapi', 'svid.der');
    expect(codeOf(leaf, localRoot(), { clock: at('2020-05-26T09:00:00Z') })).toBe('CHAIN_SIGNATURE_INVALID');
  });
});

describe('mesh fixtures (Istio, Linkerd)', () => {
  const istio = (f: string) => certsOf('istio', f);

  it('Istio testcerts leaf with non-critical key usage: warning by default (R29/N3), error in strict mode', () => {
    const leaf = istio('testcerts-default_cert-chain.pem');
    const bundle = bundleOf('cluster.local', ...istio('testcerts-default_root-cert.pem'));
    const lenient = verifyX509Svid(leaf, bundle);
    expect(lenient.id.toString()).toBe('spiffe://cluster.local/ns/default/sa/default');
    expect(lenient.warnings.map((w) => [w.code, w.rule])).toEqual([
      ['SVID_KEY_USAGE_NOT_CRITICAL', 29],
      ['SIGNING_CERT_KEY_USAGE_MISSING', 29],
    ]);
    expect(verdictOf(leaf, bundle, { strict: true })).toEqual({
      code: 'SVID_KEY_USAGE_NOT_CRITICAL',
      rule: 29,
    });
  });

  it('Istio mounted-certs server leaf (URI + DNS SAN, R22) verifies with the same warnings', () => {
    const leaf = istio('testcerts-mountedcerts-server_cert-chain.pem');
    const bundle = bundleOf('cluster.local', ...istio('testcerts-default_root-cert.pem'));
    expect(verdictOf(leaf, bundle)).toMatchObject({ code: 'OK', chain: 2 });
  });

  it('Istio plug-in CA: workload-foo leaf + Istio CA verifies to the Root CA; strict refuses the non-critical CA key usage', () => {
    const chain = istio('workload-foo-cert.pem');
    const bundle = bundleOf('trust-domain-foo', ...istio('plugin-ca_root-cert.pem'));
    const r = verifyX509Svid(chain, bundle);
    expect(r.chain).toHaveLength(3);
    expect(r.warnings.map((w) => w.code)).toEqual([
      'SIGNING_CERT_KEY_USAGE_NOT_CRITICAL',
      'SIGNING_CERT_KEY_USAGE_MISSING',
    ]);
    expect(codeOf(chain, bundle, { strict: true })).toBe('SIGNING_CERT_KEY_USAGE_NOT_CRITICAL');
  });

  it('Istio plug-in CA with the two-root rotation bundle still finds the old root', () => {
    const bundle = bundleOf('trust-domain-foo', ...istio('plugin-ca_root-cert-combined.pem'));
    expect(codeOf(istio('workload-foo-cert.pem'), bundle)).toBe('OK');
  });

  it('Istio self-signed CA chain (empty subject, critical SAN) verifies inside its 24h window and is expired now', () => {
    const chain = istio('selfsigned-ca_workload-cert-chain.pem');
    const bundle = bundleOf('cluster.local', ...istio('selfsigned-ca_root-cert.pem'));
    expect(verdictOf(chain, bundle, { clock: at('2020-04-12T00:00:00Z'), strict: true })).toMatchObject({
      code: 'OK',
      warnings: [],
      chain: 2,
    });
    expect(codeOf(chain, bundle)).toBe('SVID_EXPIRED');
  });

  it('Istio ec-workload-cert.pem carries no SPIFFE ID (R21)', () => {
    expect(
      codeOf(istio('ec-workload-cert.pem'), bundleOf('cluster.local', ...istio('ec-root-cert.pem'))),
    ).toBe('SVID_NO_URI_SAN');
  });

  it('Linkerd leaves carry DNS identities, not SPIFFE IDs (R21)', () => {
    const leaf = certsOf('linkerd', 'proxy-integration_foo-ns1_ca1-cert.pem');
    expect(codeOf(leaf, bundleOf('cluster.local', ...certsOf('linkerd', 'proxy-integration_ca1.pem')))).toBe(
      'SVID_NO_URI_SAN',
    );
  });

  it.each([
    ['proxy-integration_foo-ns1_ca1-cert.pem', 'proxy-integration_ca1.pem'],
    ['rsa-ca_issuer.crt', 'rsa-ca_ca.crt'],
    // N12: same DN as its "self", no AKI, yet signed by the trust anchor (checked with `openssl dgst -verify`).
    ['issuer_valid-crt.pem', 'trust-anchors_valid.pem'],
  ])('Linkerd path validation: %s chains to %s by signature', (child, anchor) => {
    const [cert] = certsOf('linkerd', child);
    const r = validateX509Path(cert!, [], bundleOf('cluster.local', ...certsOf('linkerd', anchor)));
    expect(r.chain).toHaveLength(2);
    expect(cert!.isSelfSigned()).toBe(false);
  });
});

// ---------------------------------------------------------------------------

describe('verifyX509Svid guard clauses on generated chains: one rule, one code', () => {
  let n = 0;
  const td = () => `td${++n}.test`;

  async function chainWith(
    opts: Parameters<typeof createChain>[0] = {},
  ): Promise<TestChain & { bundle: X509Bundle }> {
    const chain = await createChain(opts);
    return { ...chain, bundle: bundleOf(opts.trustDomain ?? 'example.org', chain.root) };
  }

  it('accepts a valid leaf + intermediate with no warnings, in default and strict mode', async () => {
    const { leaf, intermediate, bundle } = await chainWith();
    for (const strict of [false, true]) {
      expect(verdictOf([leaf.cert, intermediate.cert], bundle, { strict })).toEqual({
        code: 'OK',
        warnings: [],
        chain: 3,
      });
    }
  });

  // [name, leaf spec, expected default verdict, expected strict verdict]
  const LEAF_CASES: [string, Parameters<typeof createLeaf>[1], string, string, string?][] = [
    ['R21 no URI SAN', { uris: [], dns: ['svc.example.org'] }, 'SVID_NO_URI_SAN', 'SVID_NO_URI_SAN'],
    [
      'R21 two URI SANs',
      { uris: ['spiffe://example.org/a', 'spiffe://example.org/b'] },
      'SVID_MULTIPLE_URI_SANS',
      'SVID_MULTIPLE_URI_SANS',
    ],
    ['R21 URI SAN is not a SPIFFE ID', { id: 'https://example.org/a' }, 'SVID_ID_INVALID', 'SVID_ID_INVALID'],
    ['R23 ID without path', { id: 'spiffe://example.org' }, 'SVID_ID_NO_PATH', 'SVID_ID_NO_PATH'],
    ['R26 CA leaf', { ca: true }, 'SVID_LEAF_IS_CA', 'SVID_LEAF_IS_CA'],
    ['R29 key usage missing', { keyUsage: null }, 'SVID_KEY_USAGE_MISSING', 'SVID_KEY_USAGE_MISSING'],
    [
      'R29 key usage not critical (N3)',
      { kuCritical: false },
      'OK',
      'SVID_KEY_USAGE_NOT_CRITICAL',
      'SVID_KEY_USAGE_NOT_CRITICAL',
    ],
    [
      'R31 no digitalSignature',
      { keyUsage: ['keyEncipherment'] },
      'SVID_LEAF_NO_DIGITAL_SIGNATURE',
      'SVID_LEAF_NO_DIGITAL_SIGNATURE',
    ],
    [
      'R32 keyCertSign on leaf',
      { keyUsage: ['digitalSignature', 'keyCertSign'] },
      'SVID_LEAF_KEY_CERT_SIGN',
      'SVID_LEAF_KEY_CERT_SIGN',
    ],
    [
      'R32 cRLSign on leaf',
      { keyUsage: ['digitalSignature', 'cRLSign'] },
      'SVID_LEAF_CRL_SIGN',
      'SVID_LEAF_CRL_SIGN',
    ],
    [
      'R33 EKU without serverAuth',
      { eku: ['clientAuth'] },
      'OK',
      'SVID_EKU_MISSING_AUTH',
      'SVID_EKU_MISSING_AUTH',
    ],
    ['R33 anyExtendedKeyUsage covers both', { eku: ['2.5.29.37.0'] }, 'OK', 'OK'],
    ['R33 EKU may be critical', { eku: ['serverAuth', 'clientAuth'], ekuCritical: true }, 'OK', 'OK'],
    [
      'R24 empty subject, SAN not critical',
      { subject: '', sanCritical: false },
      'OK',
      'SVID_SUBJECT_EMPTY_SAN_NOT_CRITICAL',
      'SVID_SUBJECT_EMPTY_SAN_NOT_CRITICAL',
    ],
    ['R24 named subject, SAN not critical', { subject: 'CN=workload', sanCritical: false }, 'OK', 'OK'],
    ['R22 extra DNS and IP SANs', { dns: ['a.example.org'], ips: ['10.0.0.1'] }, 'OK', 'OK'],
    [
      'R34 unhandled critical extension',
      { extensions: [unknownCriticalExtension()] },
      'CHAIN_UNHANDLED_CRITICAL_EXTENSION',
      'CHAIN_UNHANDLED_CRITICAL_EXTENSION',
    ],
  ];

  it.each(LEAF_CASES)('leaf: %s', async (_name, spec, lenient, strict, warning) => {
    const root = await createRoot();
    const inter = await createIntermediate(root);
    const leaf = await createLeaf(inter, spec);
    const bundle = bundleOf('example.org', root);
    const d = verdictOf([leaf.cert, inter.cert], bundle);
    expect(d.code).toBe(lenient);
    if (warning !== undefined) expect(d).toMatchObject({ warnings: [warning] });
    expect(codeOf([leaf.cert, inter.cert], bundle, { strict: true })).toBe(strict);
  });

  // [name, intermediate spec, default verdict, strict verdict, default warning]
  const INTERMEDIATE_CASES: [string, Parameters<typeof createIntermediate>[1], string, string, string?][] = [
    ['R27 not a CA', { ca: false }, 'SIGNING_CERT_NOT_CA', 'SIGNING_CERT_NOT_CA'],
    ['R27 no basicConstraints', { ca: undefined }, 'SIGNING_CERT_NOT_CA', 'SIGNING_CERT_NOT_CA'],
    [
      'R30 no keyCertSign',
      { keyUsage: ['cRLSign', 'digitalSignature'] },
      'SIGNING_CERT_NO_KEY_CERT_SIGN',
      'SIGNING_CERT_NO_KEY_CERT_SIGN',
    ],
    [
      'R30 no key usage at all',
      { keyUsage: null },
      'SIGNING_CERT_NO_KEY_CERT_SIGN',
      'SIGNING_CERT_NO_KEY_CERT_SIGN',
    ],
    [
      'R29 key usage not critical',
      { kuCritical: false },
      'OK',
      'SIGNING_CERT_KEY_USAGE_NOT_CRITICAL',
      'SIGNING_CERT_KEY_USAGE_NOT_CRITICAL',
    ],
    [
      'R25 SPIFFE ID with a path',
      { uris: ['spiffe://example.org/ca'] },
      'OK',
      'SIGNING_CERT_ID_HAS_PATH',
      'SIGNING_CERT_ID_HAS_PATH',
    ],
    [
      'N2 digitalSignature on a CA is fine',
      { keyUsage: ['keyCertSign', 'digitalSignature'] },
      'OK',
      'OK',
      'SIGNING_CERT_DIGITAL_SIGNATURE',
    ],
    ['R17 CA without any SPIFFE ID is allowed', { uris: [] }, 'OK', 'OK'],
    ['R34 pathLen 0 with no CA below', { pathLen: 0 }, 'OK', 'OK'],
    [
      'R34 unhandled critical extension',
      { extensions: [unknownCriticalExtension()] },
      'CHAIN_UNHANDLED_CRITICAL_EXTENSION',
      'CHAIN_UNHANDLED_CRITICAL_EXTENSION',
    ],
  ];

  it.each(INTERMEDIATE_CASES)('intermediate: %s', async (_name, spec, lenient, strict, warning) => {
    const root = await createRoot();
    const inter = await createIntermediate(root, spec);
    const leaf = await createLeaf(inter);
    const bundle = bundleOf('example.org', root);
    const d = verdictOf([leaf.cert, inter.cert], bundle);
    expect(d.code).toBe(lenient);
    if (warning !== undefined) expect(d).toMatchObject({ warnings: [warning] });
    expect(codeOf([leaf.cert, inter.cert], bundle, { strict: true })).toBe(strict);
  });

  const ANCHOR_CASES: [string, Parameters<typeof createRoot>[0], string, string, string[]][] = [
    ['R27 anchor not a CA', { ca: false }, 'OK', 'SIGNING_CERT_NOT_CA', ['SIGNING_CERT_NOT_CA']],
    [
      'R29 anchor without key usage',
      { keyUsage: null },
      'OK',
      'SIGNING_CERT_KEY_USAGE_MISSING',
      ['SIGNING_CERT_KEY_USAGE_MISSING'],
    ],
    [
      'R30 anchor without keyCertSign',
      { keyUsage: ['cRLSign'] },
      'OK',
      'SIGNING_CERT_NO_KEY_CERT_SIGN',
      ['SIGNING_CERT_NO_KEY_CERT_SIGN'],
    ],
    [
      'R34 anchor pathLen 0 above an intermediate',
      { pathLen: 0 },
      'CHAIN_PATH_LEN_EXCEEDED',
      'CHAIN_PATH_LEN_EXCEEDED',
      [],
    ],
    [
      'R34 anchor expired',
      { notAfter: new Date(Date.now() - 1000) },
      'CHAIN_CERT_EXPIRED',
      'CHAIN_CERT_EXPIRED',
      [],
    ],
    [
      'R34 anchor not yet valid',
      { notBefore: new Date(Date.now() + 60_000) },
      'CHAIN_CERT_NOT_YET_VALID',
      'CHAIN_CERT_NOT_YET_VALID',
      [],
    ],
  ];

  it.each(ANCHOR_CASES)('anchor: %s', async (_name, spec, lenient, strict, warnings) => {
    const root = await createRoot(spec);
    const inter = await createIntermediate(root);
    const leaf = await createLeaf(inter);
    const bundle = bundleOf('example.org', root);
    const d = verdictOf([leaf.cert, inter.cert], bundle);
    expect(d.code).toBe(lenient);
    if (d.code === 'OK') expect(d).toMatchObject({ warnings });
    expect(codeOf([leaf.cert, inter.cert], bundle, { strict: true })).toBe(strict);
  });

  it.each([
    [
      'leaf expired',
      'SVID_EXPIRED',
      34,
      async (c: TestChain) => ({ ...c, leaf: await createExpiredLeaf(c.intermediate) }),
    ],
    [
      'leaf not yet valid',
      'SVID_NOT_YET_VALID',
      34,
      async (c: TestChain) => ({
        ...c,
        leaf: await createLeaf(c.intermediate, { notBefore: new Date(Date.now() + 3600_000) }),
      }),
    ],
    [
      'intermediate expired',
      'CHAIN_CERT_EXPIRED',
      34,
      async (c: TestChain) => {
        const intermediate = await createIntermediate(c.root, { notAfter: new Date(Date.now() - 1000) });
        return { ...c, intermediate, leaf: await createLeaf(intermediate) };
      },
    ],
    [
      'leaf signed by the wrong key',
      'CHAIN_SIGNATURE_INVALID',
      34,
      async (c: TestChain) => ({ ...c, leaf: await createWithWrongKey(c.intermediate) }),
    ],
    [
      'intermediate signed by a same-name root with another key (N12)',
      'CHAIN_SIGNATURE_INVALID',
      34,
      async (c: TestChain) => ({ ...c, root: await createSameSubjectDifferentKey(c.root) }),
    ],
  ])('path: %s → %s', async (_name, code, rule, mutate) => {
    const c = await mutate(await createChain());
    expect(verdictOf([c.leaf.cert, c.intermediate.cert], bundleOf('example.org', c.root))).toEqual({
      code,
      rule,
    });
  });

  it('path: missing intermediate → CHAIN_NO_ANCHOR, even when the root is presented first', async () => {
    const { leaf, root } = await createChain();
    const bundle = bundleOf('example.org', root);
    expect(verdictOf([leaf.cert], bundle)).toEqual({ code: 'CHAIN_NO_ANCHOR', rule: 34 });
    expect(pickLeaf([root.cert, leaf.cert])).toBe(1);
    expect(verdictOf([root.cert, leaf.cert], bundle)).toEqual({ code: 'CHAIN_NO_ANCHOR', rule: 34 });
  });

  it('pickLeaf: the certificate that issued none of the others, non-CA first, first presented on a tie', async () => {
    const { leaf, intermediate, root } = await createChain();
    expect(pickLeaf([intermediate.cert, root.cert, leaf.cert])).toBe(2);
    expect(pickLeaf([leaf.cert, intermediate.cert])).toBe(0);
    const caLeaf = await createCaLeaf(intermediate);
    expect(pickLeaf([intermediate.cert, caLeaf.cert])).toBe(1);
    expect(pickLeaf([caLeaf.cert])).toBe(0);
  });

  it('path: an empty bundle trusts nothing → CHAIN_NO_ANCHOR (R60)', async () => {
    const { leaf, intermediate } = await createChain();
    expect(verdictOf([leaf.cert, intermediate.cert], bundleOf('example.org'))).toEqual({
      code: 'CHAIN_NO_ANCHOR',
      rule: 60,
    });
  });

  it('path: both same-name roots in the bundle → the one whose key signed wins (N12)', async () => {
    const { leaf, intermediate, root } = await createChain();
    const impostor = await createSameSubjectDifferentKey(root);
    const r = verifyX509Svid([leaf.cert, intermediate.cert], bundleOf('example.org', impostor, root));
    expect(r.anchor).toBe(root.cert);
  });

  it('path: a presented intermediate chain with a same-name impostor is skipped by signature', async () => {
    const { leaf, intermediate, root } = await createChain();
    const fakeRoot = await createSameSubjectDifferentKey(root);
    const fakeInter = await createIntermediate(fakeRoot, {
      subject: intermediate.subject,
      key: intermediate.key,
    });
    const r = verifyX509Svid([leaf.cert, fakeInter.cert, intermediate.cert], bundleOf('example.org', root));
    expect(r.chain[1]).toBe(intermediate.cert);
  });

  it('path: an operator anchor need not be self-signed (bundle holds only the intermediate)', async () => {
    const { leaf, intermediate } = await createChain();
    const r = verifyX509Svid([leaf.cert], bundleOf('example.org', intermediate));
    expect(r.chain).toEqual([leaf.cert, intermediate.cert]);
    expect(r.anchor.isSelfSigned()).toBe(false);
  });

  it('path: root → two intermediates → leaf, presented in any order', async () => {
    const root = await createRoot();
    const i1 = await createIntermediate(root, { subject: 'CN=I1' });
    const i2 = await createIntermediate(i1, { subject: 'CN=I2' });
    const leaf = await createLeaf(i2);
    const bundle = bundleOf('example.org', root);
    for (const order of [
      [leaf, i1, i2],
      [i1, i2, leaf],
      [i2, leaf, i1],
      [root, i1, leaf, i2],
    ]) {
      const r = verifyX509Svid(
        order.map((c) => c.cert),
        bundle,
      );
      expect(r.chain).toEqual([leaf.cert, i2.cert, i1.cert, root.cert]);
    }
    expect(codeOf([leaf.cert, i1.cert, i2.cert], bundle, { maxIntermediates: 1 })).toBe('CHAIN_NO_ANCHOR');
  });

  it('path: pathLen 0 on the first intermediate forbids a second one (R34)', async () => {
    const root = await createRoot();
    const i1 = await createIntermediate(root, { subject: 'CN=I1', pathLen: 0 });
    const i2 = await createIntermediate(i1, { subject: 'CN=I2' });
    const leaf = await createLeaf(i2);
    expect(codeOf([leaf.cert, i2.cert, i1.cert], bundleOf('example.org', root))).toBe(
      'CHAIN_PATH_LEN_EXCEEDED',
    );
  });

  it('path: URI name constraints scope the SPIFFE IDs below a CA (R28)', async () => {
    const { Extension } = await import('@peculiar/x509');
    const permitted = (host: string) => {
      const h = Buffer.from(host);
      const subtree = Buffer.concat([Buffer.from([0x30, h.length + 2, 0x86, h.length]), h]);
      return new Extension(
        '2.5.29.30',
        true,
        Buffer.concat([Buffer.from([0x30, subtree.length + 2, 0xa0, subtree.length]), subtree]),
      );
    };
    const root = await createRoot();
    for (const [host, code] of [
      ['example.org', 'OK'],
      ['other.org', 'CHAIN_NAME_CONSTRAINT_VIOLATION'],
    ] as const) {
      const inter = await createIntermediate(root, { extensions: [permitted(host)] });
      const leaf = await createLeaf(inter);
      expect(codeOf([leaf.cert, inter.cert], bundleOf('example.org', root))).toBe(code);
    }
  });

  it('R20: the bundle is picked by the leaf trust domain, never pooled', async () => {
    const a = await createChain({ trustDomain: 'a.test' });
    const b = await createChain({ trustDomain: 'b.test' });
    const set = new X509BundleSet([bundleOf('a.test', a.root), bundleOf('b.test', b.root)]);
    expect(verifyX509Svid([a.leaf.cert, a.intermediate.cert], set).trustDomain.name).toBe('a.test');
    // b's leaf signed by a's CA: a's roots must not vouch for b.test.
    const forged = await createLeaf(a.intermediate, { id: 'spiffe://b.test/workload' });
    expect(codeOf([forged.cert, a.intermediate.cert], set)).toBe('CHAIN_NO_ANCHOR');
    expect(codeOf([forged.cert, a.intermediate.cert], new X509BundleSet([bundleOf('a.test', a.root)]))).toBe(
      'BUNDLE_NOT_FOUND',
    );
  });

  it('R20: a source that answers with another trust domain’s bundle is TRUST_DOMAIN_MISMATCH', async () => {
    const { leaf, intermediate, root } = await createChain();
    const liar: X509BundleSource = { getX509BundleForTrustDomain: () => bundleOf('elsewhere.test', root) };
    expect(verdictOf([leaf.cert, intermediate.cert], liar)).toEqual({
      code: 'TRUST_DOMAIN_MISMATCH',
      rule: 20,
    });
  });

  it('accepts DER or PEM bytes directly', async () => {
    const { leaf, intermediate, root } = await createChain({ trustDomain: td() });
    const bundle = bundleOf(leaf.cert.subjectAltName!.uris[0]!.split('/')[2]!, root);
    expect(verifyX509Svid(Buffer.concat([leaf.der, intermediate.der]), bundle).chain).toHaveLength(3);
    expect(verifyX509Svid(leaf.pem + intermediate.pem, bundle).chain).toHaveLength(3);
    expect(() => verifyX509Svid([], bundle)).toThrow(
      expect.objectContaining({ code: 'SVID_NO_CERTIFICATES' }),
    );
  });

  it('works with RSA and P-384 chains', async () => {
    for (const key of ['RSA-2048', 'P-384'] as const) {
      const { leaf, intermediate, bundle } = await chainWith({ key });
      expect(codeOf([leaf.cert, intermediate.cert], bundle, { strict: true })).toBe('OK');
    }
  });
});

describe('VerificationCache', () => {
  /** Counts reads of `publicKey`, i.e. signature checks made with this certificate as issuer. */
  function counting(cert: Certificate): { cert: Certificate; reads: () => number } {
    let n = 0;
    const proxy = new Proxy(cert, {
      get(target, prop, receiver) {
        if (prop === 'publicKey') n++;
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    return { cert: proxy, reads: () => n };
  }

  it('remembers successful links so a chain costs one leaf signature', async () => {
    const root = await createRoot();
    const inter = await createIntermediate(root);
    const counted = counting(root.cert);
    const bundle = bundleOf('example.org', counted.cert);
    const cache = new VerificationCache();
    const first = await createLeaf(inter);
    verifyX509Svid([first.cert, inter.cert], bundle, { cache });
    expect(counted.reads()).toBe(1);
    expect(cache.has(root.cert.fingerprint, inter.cert.fingerprint)).toBe(true);
    expect(cache.has(inter.cert.fingerprint, first.cert.fingerprint)).toBe(true);
    const second = await createLeaf(inter);
    verifyX509Svid([second.cert, inter.cert], bundle, { cache });
    expect(counted.reads()).toBe(1);
    expect(cache.size).toBe(3);
  });

  it('never caches failures', async () => {
    const { root, intermediate } = await createChain();
    const bad = await createWithWrongKey(intermediate);
    const cache = new VerificationCache();
    expect(codeOf([bad.cert, intermediate.cert], bundleOf('example.org', root), { cache })).toBe(
      'CHAIN_SIGNATURE_INVALID',
    );
    expect(cache.has(intermediate.cert.fingerprint, bad.cert.fingerprint)).toBe(false);
  });

  it('redoes time checks on cached links', async () => {
    const root = await createRoot();
    const inter = await createIntermediate(root, { notAfter: new Date(Date.now() + 3600_000) });
    const leaf = await createLeaf(inter, { notAfter: new Date(Date.now() + 7200_000) });
    const bundle = bundleOf('example.org', root);
    const cache = new VerificationCache();
    expect(codeOf([leaf.cert, inter.cert], bundle, { cache })).toBe('OK');
    const later = () => new Date(Date.now() + 5400_000);
    expect(codeOf([leaf.cert, inter.cert], bundle, { cache, clock: later })).toBe('CHAIN_CERT_EXPIRED');
  });

  it('is bounded', () => {
    const cache = new VerificationCache(2);
    cache.remember('a', '1');
    cache.remember('b', '2');
    cache.has('a', '1');
    cache.remember('c', '3');
    expect([cache.has('a', '1'), cache.has('b', '2'), cache.has('c', '3')]).toEqual([true, false, true]);
  });
});

describe('generated certificate helpers', () => {
  it('build the broken shapes the suites rely on', async () => {
    const root = await createRoot();
    expect((await createCaLeaf(root)).cert.basicConstraints?.ca).toBe(true);
    expect((await createIntermediateWithoutKeyCertSign(root)).cert.keyUsage?.flags.has('keyCertSign')).toBe(
      false,
    );
    const twin = await createSameSubjectDifferentKey(root);
    expect(twin.cert.subject).toBe(root.cert.subject);
    expect(twin.cert.spki).not.toEqual(root.cert.spki);
    expect((await createCert({ subject: '' })).cert.subjectEmpty).toBe(true);
  });
});
