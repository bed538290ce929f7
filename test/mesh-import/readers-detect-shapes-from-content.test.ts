/**
 * Readers: the content decides the shape (never the file name), each certificate keeps
 * its locator (file + object + key), and identities come from the SANs.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCertificate } from '../../src/devca/issue.js';
import { buildInventory, deriveIdentity, readContent } from '../../src/mesh-import/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { codes, FIXTURE_DAY, fixtureFp, importPaths } from './helpers.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mb-readers-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pem = (mesh: string, f: string) => readFileSync(fixturePath(mesh, f), 'utf8');
const der = (mesh: string, f: string) =>
  Buffer.from(
    pem(mesh, f)
      .replace(/-----[^-]+-----/g, '')
      .replace(/\s+/g, ''),
    'base64',
  );
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const build = (...exs: ReturnType<typeof readContent>[]) => buildInventory(exs, { clock: () => FIXTURE_DAY });

describe('shape detection', () => {
  it('DER certificates (one or concatenated) and a DER PKCS#8 key, whatever the file is called', async () => {
    const root = der('istio', 'plugin-ca_root-cert.pem');
    const inter = der('istio', 'plugin-ca_ca-cert.pem');
    const ex = readContent(Buffer.concat([inter, root]), 'chain.txt');
    expect(ex.shape).toBe('der');
    expect(ex.certificates.map((c) => c.block)).toEqual([1, 2]);
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      format: 'der',
      type: 'pkcs8',
    });
    const kx = readContent(key, 'key.bin');
    expect(kx.keys).toEqual([expect.objectContaining({ keyType: 'ec-p256' })]);
    const inv = await build(ex);
    expect(inv.intermediates[0]!.anchorFingerprint).toBe(fixtureFp('istio', 'plugin-ca_root-cert.pem'));
  });

  it('PEM with CRLF line endings, a BOM and openssl -text output around it', () => {
    const text = `\ufeffCertificate:\r\n    Data: ...\r\n${pem('linkerd', 'trust-anchors_valid.pem').replace(/\n/g, '\r\n')}`;
    const ex = readContent(Buffer.from(text), 'anchor');
    expect(ex.shape).toBe('pem');
    expect(ex.certificates).toHaveLength(1);
  });

  it('an encrypted private key is recorded as present but unreadable, never as a problem', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const enc = privateKey
      .export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'x' })
      .toString();
    const ex = readContent(Buffer.from(enc), 'enc.pem');
    expect(ex.keys).toEqual([{ source: 'enc.pem', keyType: 'encrypted', spkiSha256: null }]);
    expect(ex.problems).toEqual([]);
  });

  it('a Secret of unknown name with tls.crt is generic; --mesh linkerd reads it as the Linkerd issuer', () => {
    const secret = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'my-issuer', namespace: 'linkerd' },
      type: 'kubernetes.io/tls',
      data: {
        'tls.crt': b64(pem('linkerd', 'rsa-ca_issuer.crt')),
        'tls.key': b64(''),
        'ca.crt': b64(pem('linkerd', 'rsa-ca_ca.crt')),
      },
    });
    expect(readContent(Buffer.from(secret), 's.json').sources.map((s) => s.kind)).toEqual([
      'kubernetes-tls-secret',
      'kubernetes-tls-secret',
      'kubernetes-tls-secret',
    ]);
    const forced = readContent(Buffer.from(secret), 's.json', { mesh: 'linkerd' });
    expect(new Set(forced.sources.map((s) => s.kind))).toEqual(new Set(['linkerd-identity-issuer']));
    expect(forced.certificates.find((c) => c.source.endsWith('[tls.crt]'))!.hint).toBe('issuer');
  });

  it('a ConfigMap of any name holding ca-bundle.crt is Linkerd trust roots; other ConfigMaps are scanned for PEM', () => {
    const cm = (name: string, key: string) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: x\ndata:\n  ${key}: |\n${pem(
        'linkerd',
        'trust-anchors_valid.pem',
      )
        .trim()
        .split('\n')
        .map((l) => `    ${l}`)
        .join('\n')}\n`;
    expect(readContent(Buffer.from(cm('renamed', 'ca-bundle.crt')), 'a.yaml').sources[0]).toMatchObject({
      kind: 'linkerd-trust-roots',
      mesh: 'linkerd',
    });
    const other = readContent(Buffer.from(cm('random', 'whatever.pem')), 'b.yaml');
    expect(other.sources[0]).toMatchObject({
      kind: 'kubernetes-configmap',
      locator: 'b.yaml#configmap/x/random[whatever.pem]',
      mesh: null,
    });
    expect(other.certificates[0]!.hint).toBe('none');
  });

  it("the cluster's own CA (kube-root-ca.crt, service-account token Secrets) is not mesh material", () => {
    const ca = b64(pem('istio', 'testcerts-default_root-cert.pem'));
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'kube-root-ca.crt', namespace: 'shop' },
          data: { 'ca.crt': pem('istio', 'testcerts-default_root-cert.pem') },
        },
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'default-token-x', namespace: 'shop' },
          type: 'kubernetes.io/service-account-token',
          data: { 'ca.crt': ca, token: b64('t') },
        },
      ],
    };
    const ex = readContent(Buffer.from(JSON.stringify(list)), 'all.json');
    expect(ex.shape).toBe('kubernetes');
    expect(ex.certificates).toEqual([]);
  });

  it('Linkerd values in JSON and the pre-2.10 global.identityTrustAnchorsPEM', () => {
    const anchors = pem('linkerd', 'trust-anchors_valid.pem');
    const json = readContent(
      Buffer.from(JSON.stringify({ identityTrustAnchorsPEM: anchors })),
      'values.json',
    );
    expect(json.shape).toBe('linkerd-values');
    const old = readContent(
      Buffer.from(`global:\n  identityTrustAnchorsPEM: ${JSON.stringify(anchors)}\n`),
      'old-values.yaml',
    );
    expect(old.sources[0]).toMatchObject({ kind: 'linkerd-values', key: 'global.identityTrustAnchorsPEM' });
    expect(old.certificates[0]!.hint).toBe('anchor');
  });

  it('older ztunnel dumps (snake_case, ca_cert + cert_chain) and a bare array of entries', () => {
    const entry = {
      identity: 'spiffe://cluster.local/ns/foo/sa/foo',
      state: 'Available',
      ca_cert: [{ pem: b64(pem('istio', 'workload-foo-cert.pem')) }],
      cert_chain: [],
    };
    expect(readContent(Buffer.from(JSON.stringify({ certificates: [entry] })), 'z.json').shape).toBe(
      'ztunnel-cert-dump',
    );
    const bare = readContent(Buffer.from(JSON.stringify([entry])), 'z2.json');
    expect(bare.shape).toBe('ztunnel-cert-dump');
    expect(bare.certificates).toHaveLength(2);
  });

  it('Envoy inline_string data sources are read as PEM text', () => {
    const dump = {
      static_secrets: [
        {
          name: 'ROOTCA',
          secret: {
            validation_context: { trusted_ca: { inline_string: pem('istio', 'plugin-ca_root-cert.pem') } },
          },
        },
      ],
    };
    const ex = readContent(Buffer.from(JSON.stringify(dump)), 'static.json');
    expect(ex.certificates).toEqual([
      expect.objectContaining({
        hint: 'anchor',
        source: 'static.json#static_secrets[ROOTCA][validation_context.trusted_ca]',
      }),
    ]);
  });

  it('folder walks skip hidden entries such as the ..data internals of a mounted Secret volume', async () => {
    const vol = join(dir, 'vol');
    mkdirSync(join(vol, '..2026_11_23'), { recursive: true });
    writeFileSync(join(vol, '..2026_11_23', 'root-cert.pem'), pem('istio', 'plugin-ca_root-cert.pem'));
    symlinkSync('..2026_11_23', join(vol, '..data'));
    symlinkSync('..data/root-cert.pem', join(vol, 'root-cert.pem'));
    const inv = await importPaths(['vol'], { cwd: dir });
    expect(inv.anchors).toHaveLength(1);
    expect(inv.anchors[0]!.sources).toEqual(['vol/root-cert.pem']);
  });
});

describe('identities', () => {
  const san = (p: { uris?: string[]; dnsNames?: string[] }) => ({
    uris: p.uris ?? [],
    dnsNames: p.dnsNames ?? [],
    ips: [],
    emails: [],
  });

  it('Istio: spiffe://td/ns/X/sa/Y gives namespace and service account', () => {
    expect(deriveIdentity(san({ uris: ['spiffe://prod.example/ns/shop/sa/web'] }))).toMatchObject({
      spiffeId: 'spiffe://prod.example/ns/shop/sa/web',
      meshIdentity: 'spiffe://prod.example/ns/shop/sa/web',
      namespace: 'shop',
      serviceAccount: 'web',
      trustDomain: 'prod.example',
      mesh: 'istio',
      findings: [],
    });
  });

  it('other SPIFFE paths keep the ID but no namespace', () => {
    expect(deriveIdentity(san({ uris: ['spiffe://example.org/billing/api'] }))).toMatchObject({
      spiffeId: 'spiffe://example.org/billing/api',
      namespace: null,
      mesh: null,
    });
  });

  it('Linkerd: <sa>.<ns>.serviceaccount.identity.<cp-ns>.<td>', () => {
    expect(
      deriveIdentity(san({ dnsNames: ['web.emojivoto.serviceaccount.identity.linkerd-cp.prod.example'] })),
    ).toMatchObject({
      spiffeId: null,
      meshIdentity: 'web.emojivoto.serviceaccount.identity.linkerd-cp.prod.example',
      namespace: 'emojivoto',
      serviceAccount: 'web',
      controlPlaneNamespace: 'linkerd-cp',
      trustDomain: 'prod.example',
      mesh: 'linkerd',
    });
  });

  it('a non-SPIFFE URI, an invalid SPIFFE ID and two URI SANs are findings', () => {
    expect(deriveIdentity(san({ uris: ['https://x.example/a'] })).findings.map((f) => f.code)).toEqual([
      'NON_SPIFFE_URI_SAN',
    ]);
    const invalid = deriveIdentity(san({ uris: ['spiffe://Upper.Case/x'] }));
    expect(invalid.spiffeId).toBeNull();
    expect(invalid.findings[0]).toMatchObject({
      code: 'NON_SPIFFE_URI_SAN',
      details: { error: 'ID_TRUST_DOMAIN_CHARS' },
    });
    const two = deriveIdentity(san({ uris: ['spiffe://a/ns/x/sa/y', 'spiffe://a/ns/x/sa/z'] }));
    expect(two.spiffeId).toBeNull();
    expect(two.findings.map((f) => f.code)).toEqual(['MULTIPLE_URI_SANS']);
  });
});

describe('key strength', () => {
  it('an EC P-192 leaf is a weak key even though the kernel names the curve by OID', async () => {
    const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const leafKey = generateKeyPairSync('ec', { namedCurve: 'prime192v1' });
    const leaf = issueCertificate(
      {
        subject: '',
        publicKey: leafKey.publicKey,
        notBefore: new Date(FIXTURE_DAY.getTime() - 3_600_000),
        notAfter: new Date(FIXTURE_DAY.getTime() + 86_400_000 * 10),
        uris: ['spiffe://a/ns/b/sa/c'],
      },
      { subject: 'CN=ca', ...ca },
    );
    const inv = await build(readContent(leaf.der, 'weak.der'));
    expect(inv.workloads[0]!.keySize).toBe(192);
    expect(codes(inv)).toEqual(['CHAIN_NO_ANCHOR', 'WEAK_KEY']);
  });
});
