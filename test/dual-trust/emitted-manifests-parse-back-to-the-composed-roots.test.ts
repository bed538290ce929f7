/**
 * Every format comes from one composition: each emitted file parses back (YAML/JSON/PEM),
 * its certificates equal the composed set, the Istio and Linkerd outputs are read back
 * by meshbridge's own importers (`readContent` + `buildInventory`) with exactly those
 * roots as anchors, and `readBundleArtifact` (what `bundle verify --bundle` reads) agrees.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import {
  type Artifact,
  bundleForPhase,
  composeTrust,
  emitBundle,
  FORMATS,
  type PhaseBundle,
  pooledRoots,
  type RootInput,
  readBundleArtifact,
  withSequences,
} from '../../src/dual-trust/index.js';
import { createJwtAuthority } from '../../src/spiffe/bundle/jwtbundle.js';
import { SpiffeBundle } from '../../src/spiffe/bundle/spiffebundle.js';
import { parseCertificates } from '../../src/spiffe/x509/certificate.js';
import { readFixture } from '../helpers/fixtures.js';
import { clock, fixtureCerts, importFiles, spireCa } from './helpers.js';

const TD = 'trust-domain-foo';
const PARTNER = 'partner.example';

function compose(): PhaseBundle {
  const combined = fixtureCerts('istio', 'plugin-ca_root-cert-combined.pem');
  const spire = spireCa(TD);
  const partner = spireCa(PARTNER);
  const jwtKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  const roots: RootInput[] = [
    ...combined.map((cert) => ({ cert, trustDomain: TD, origin: 'mesh' as const, source: 'cacerts' })),
    { cert: spire.cert, trustDomain: TD, origin: 'spire', source: 'spire.json' },
    {
      cert: partner.cert,
      trustDomain: PARTNER,
      origin: 'federated',
      source: 'https://partner.example/bundle',
    },
  ];
  const composition = composeTrust(
    roots,
    [
      {
        trustDomain: TD,
        origin: 'spire',
        source: 'spire.json',
        authority: createJwtAuthority('spire-jwt-1', jwtKey),
      },
    ],
    { clock },
  );
  return withSequences(bundleForPhase(composition, 'dual-trust'), (td) =>
    td === TD ? { sequence: 41n, digest: 'older content' } : undefined,
  );
}

const fps = (pem: string | Uint8Array) => parseCertificates(pem).map((c) => c.fingerprint);
const sorted = (xs: string[]) => [...xs].sort();

async function importedAnchors(a: Artifact): Promise<string[]> {
  const inv = await importFiles([[a.name, a.content]]);
  return sorted(inv.anchors.map((c) => c.fingerprint));
}

describe('emitters: one composition, every format', () => {
  const bundle = compose();
  const pooled = pooledRoots(bundle).map((r) => r.fingerprint);
  const perTd = (td: string) =>
    bundle.trustDomains.find((t) => t.name === td)!.roots.map((r) => r.fingerprint);

  it('assigns the next spiffe_sequence when the content changed, 1 for a new trust domain', () => {
    expect(bundle.trustDomains.map((t) => [t.name, t.sequence])).toEqual([
      [PARTNER, 1n],
      [TD, 42n],
    ]);
    const same = withSequences(bundle, (td) => ({
      sequence: 7n,
      digest: bundle.trustDomains.find((t) => t.name === td)!.digest,
    }));
    expect(same.trustDomains.map((t) => t.sequence)).toEqual([7n, 7n]);
  });

  it('pem: plain concatenation in stable order with one trailing newline', () => {
    const [a] = emitBundle(bundle, 'pem');
    expect(fps(a!.content)).toEqual(pooled);
    expect(a!.content.endsWith('-----END CERTIFICATE-----\n')).toBe(true);
    expect(a!.content.endsWith('\n\n')).toBe(false);
    expect(emitBundle(bundle, 'pem')[0]!.content).toBe(a!.content);
    expect(fps(emitBundle(bundle, 'pem', { trustDomain: PARTNER })[0]!.content)).toEqual(perTd(PARTNER));
  });

  it('spiffe: one JWKS per trust domain with x5c roots, the jwt-svid key, sequence and refresh hint', () => {
    const files = emitBundle(bundle, 'spiffe');
    expect(files.map((f) => f.name)).toEqual([`bundle.${PARTNER}.json`, `bundle.${TD}.json`]);
    for (const f of files) {
      const parsed = SpiffeBundle.parse(f.trustDomain!, f.content, { strict: true }).bundle;
      expect(parsed.x509Authorities.map((c) => c.fingerprint)).toEqual(perTd(f.trustDomain!));
      expect(parsed.refreshHint).toBe(300);
      const doc = JSON.parse(f.content) as { keys: { use: string; kid?: string; x5c?: string[] }[] };
      expect(
        doc.keys
          .filter((k) => k.use === 'x509-svid')
          .every((k) => k.kid === undefined && k.x5c?.length === 1),
      ).toBe(true);
    }
    const own = SpiffeBundle.parse(TD, files[1]!.content).bundle;
    expect(own.jwtAuthorities.map((k) => k.kid)).toEqual(['spire-jwt-1']);
    expect(own.sequenceNumber).toBe(42n);
  });

  it('istio-cacerts: a cacerts Secret whose multi-root root-cert.pem the importer reads back', async () => {
    const [a] = emitBundle(bundle, 'istio-cacerts');
    const doc = parseYaml(a!.content) as {
      kind: string;
      metadata: { name: string; namespace: string };
      data: Record<string, string>;
    };
    expect(doc).toMatchObject({ kind: 'Secret', metadata: { name: 'cacerts', namespace: 'istio-system' } });
    expect(Object.keys(doc.data)).toEqual(['root-cert.pem']);
    expect(fps(Buffer.from(doc.data['root-cert.pem']!, 'base64'))).toEqual(pooled);
    expect(await importedAnchors(a!)).toEqual(sorted(pooled));
  });

  it('istio-cacerts over the current Secret keeps its other keys unchanged', async () => {
    const b64 = (f: string) => readFixture('istio', f).toString('base64');
    const base = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'cacerts', namespace: 'istio-system' },
      type: 'Opaque',
      data: {
        'ca-cert.pem': b64('plugin-ca_ca-cert.pem'),
        'ca-key.pem': b64('plugin-ca_ca-key.pem'),
        'cert-chain.pem': b64('plugin-ca_cert-chain.pem'),
        'root-cert.pem': b64('plugin-ca_root-cert.pem'),
      },
    };
    const [a] = emitBundle(bundle, 'istio-cacerts', { cacertsBase: base });
    const doc = parseYaml(a!.content) as { data: Record<string, string> };
    expect(Object.keys(doc.data)).toEqual(['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem']);
    expect(doc.data['ca-key.pem']).toBe(base.data['ca-key.pem']);
    expect(fps(Buffer.from(doc.data['root-cert.pem']!, 'base64'))).toEqual(pooled);
    const inv = await importFiles([[a!.name, a!.content]]);
    expect(sorted(inv.anchors.map((c) => c.fingerprint))).toEqual(sorted(pooled));
    expect(inv.intermediates.map((c) => c.subject)).toEqual([
      'CN=Istio CA,O=Istio,L=Sunnyvale,ST=California,C=US',
    ]);
  });

  it('istio-mesh-config: one caCertificates entry per root with its trust domains', () => {
    const [a] = emitBundle(bundle, 'istio-mesh-config');
    const doc = parseYaml(a!.content) as {
      meshConfig: { caCertificates: { pem: string; trustDomains: string[] }[] };
    };
    const entries = doc.meshConfig.caCertificates;
    expect(entries.flatMap((e) => fps(e.pem))).toEqual(pooled);
    for (const e of entries) {
      const fp = fps(e.pem)[0]!;
      expect(e.trustDomains).toEqual(
        bundle.trustDomains.filter((t) => t.roots.some((r) => r.fingerprint === fp)).map((t) => t.name),
      );
    }
    const read = readBundleArtifact(a!.content);
    expect(sorted(read.trust.perTrustDomain.get(TD)!.map((c) => c.fingerprint))).toEqual(sorted(perTd(TD)));
    expect(read.trust.perTrustDomain.get(PARTNER)!.map((c) => c.fingerprint)).toEqual(perTd(PARTNER));
  });

  it('istio-root-configmap: istio-ca-root-cert per namespace, labelled, read back by the importer', async () => {
    const [a] = emitBundle(bundle, 'istio-root-configmap', { namespaces: ['shop', 'payments'] });
    const docs = parseAllDocuments(a!.content).map((d) => d.toJS()) as {
      metadata: { name: string; namespace: string; labels: Record<string, string> };
      data: Record<string, string>;
    }[];
    expect(
      docs.map((d) => [d.metadata.name, d.metadata.namespace, d.metadata.labels['istio.io/config']]),
    ).toEqual([
      ['istio-ca-root-cert', 'shop', 'true'],
      ['istio-ca-root-cert', 'payments', 'true'],
    ]);
    for (const d of docs) expect(fps(d.data['root-cert.pem']!)).toEqual(pooled);
    expect(await importedAnchors(a!)).toEqual(sorted(pooled));
  });

  it('linkerd: the trust-roots ConfigMap and the Helm value, both read back by the importer', async () => {
    const files = emitBundle(bundle, 'linkerd');
    expect(files.map((f) => f.name)).toEqual(['linkerd-identity-trust-roots.yaml', 'linkerd-values.yaml']);
    const cm = parseYaml(files[0]!.content) as {
      metadata: { name: string; namespace: string };
      data: Record<string, string>;
    };
    expect(cm.metadata).toMatchObject({ name: 'linkerd-identity-trust-roots', namespace: 'linkerd' });
    expect(fps(cm.data['ca-bundle.crt']!)).toEqual(pooled);
    const values = parseYaml(files[1]!.content) as { identityTrustAnchorsPEM: string };
    expect(fps(values.identityTrustAnchorsPEM)).toEqual(pooled);
    for (const f of files) expect(await importedAnchors(f)).toEqual(sorted(pooled));
  });

  it('spire: bundle set input for foreign trust domains only, and the mesh roots as the upstream bundle', () => {
    const files = emitBundle(bundle, 'spire');
    expect(files.map((f) => f.name)).toEqual([
      `bundle-set.${PARTNER}.json`,
      'upstream-bundle.pem',
      'upstream-authority.conf',
    ]);
    const set = SpiffeBundle.parse(PARTNER, files[0]!.content, { strict: true }).bundle;
    expect(set.x509Authorities.map((c) => c.fingerprint)).toEqual(perTd(PARTNER));
    const meshRoots = bundle.trustDomains
      .find((t) => t.name === TD)!
      .roots.filter((r) => r.origins.includes('mesh'))
      .map((r) => r.fingerprint);
    expect(fps(files[1]!.content)).toEqual(meshRoots);
    expect(files[2]!.content).toContain('UpstreamAuthority "disk"');
  });

  it('trust-manager: a Bundle with the roots in line', () => {
    const [a] = emitBundle(bundle, 'trust-manager');
    const doc = parseYaml(a!.content) as {
      apiVersion: string;
      kind: string;
      spec: { sources: { inLine?: string }[] };
    };
    expect([doc.apiVersion, doc.kind]).toEqual(['trust.cert-manager.io/v1alpha1', 'Bundle']);
    expect(doc.spec.sources.flatMap((s) => (s.inLine ? fps(s.inLine) : []))).toEqual(pooled);
  });

  it('readBundleArtifact reads every format back to the composed roots', () => {
    for (const format of FORMATS) {
      for (const a of emitBundle(bundle, format)) {
        if (a.mediaType === 'text/plain') continue;
        const read = readBundleArtifact(
          a.content,
          a.trustDomain === undefined ? {} : { trustDomain: a.trustDomain },
        );
        const expected =
          format === 'spire' && a.name === 'upstream-bundle.pem'
            ? fps(a.content)
            : a.trustDomain !== undefined
              ? perTd(a.trustDomain)
              : pooled;
        expect({
          format,
          name: a.name,
          roots: sorted(read.trust.allRoots().map((c) => c.fingerprint)),
        }).toEqual({
          format,
          name: a.name,
          roots: sorted(expected),
        });
      }
    }
  });
});
