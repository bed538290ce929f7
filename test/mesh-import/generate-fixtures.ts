/**
 * Generates the mesh material the upstream repositories lack (see the "Gaps" sections of
 * ../shared/fixtures/istio/SOURCES.md and ../shared/fixtures/linkerd/SOURCES.md), in the
 * exact shapes istiod, the Linkerd identity controller, kubectl, istioctl, Envoy and
 * ztunnel write. Keys are fresh each run; names, layout, extensions and lifetimes are
 * fixed, so the shapes are deterministic.
 *
 *   npx tsx test/mesh-import/generate-fixtures.ts [out-dir]     (default .cache/fixtures)
 *
 * realistic/   what a healthy mesh exports (imports with no problems at `now`)
 * problems/    one file per problem code the inventory reports
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { EKU, type IssuedCertificate, type Issuer, issueCertificate, toPem } from '../../src/devca/issue.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface Ca extends Issuer {
  cert: IssuedCertificate;
}

export interface GeneratedLeaf {
  fingerprint: string;
  identity: string;
  namespace: string;
  serviceAccount: string;
  anchor: string;
}

export interface GeneratedFixtures {
  dir: string;
  now: Date;
  linkerd: {
    oldAnchor: string;
    newAnchor: string;
    issuer: string;
    /** The issuer of the kubernetes.io/tls Secret (signed by the new anchor). */
    tlsIssuer: string;
    leaves: GeneratedLeaf[];
  };
  istio: {
    root: string;
    intermediate: string;
    /** cert-manager style cacerts intermediate (same root). */
    tlsIntermediate: string;
    selfSignedRoot: string;
    leaves: GeneratedLeaf[];
    /** Per trust domain anchors of the Envoy SPIFFE validator dump. */
    spiffeBundles: Record<string, string>;
  };
  problems: Record<string, string>;
}

function ec(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

function rsa(bits: number): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('rsa', { modulusLength: bits });
}

function rootCa(
  subject: string,
  now: Date,
  opts: { days?: number; pathLen?: number; key?: ReturnType<typeof ec> } = {},
): Ca {
  const k = opts.key ?? ec();
  const cert = issueCertificate(
    {
      subject,
      publicKey: k.publicKey,
      notBefore: new Date(now.getTime() - DAY),
      notAfter: new Date(now.getTime() + (opts.days ?? 3650) * DAY),
      ca: true,
      ...(opts.pathLen === undefined ? {} : { pathLen: opts.pathLen }),
      keyUsage: ['keyCertSign', 'cRLSign'],
    },
    { subject, privateKey: k.privateKey, publicKey: k.publicKey },
  );
  return { subject, privateKey: k.privateKey, publicKey: k.publicKey, cert };
}

function subCa(
  parent: Ca,
  subject: string,
  now: Date,
  opts: { days?: number; pathLen?: number; dnsNames?: string[] } = {},
): Ca {
  const k = ec();
  const cert = issueCertificate(
    {
      subject,
      publicKey: k.publicKey,
      notBefore: new Date(now.getTime() - DAY),
      notAfter: new Date(now.getTime() + (opts.days ?? 365) * DAY),
      ca: true,
      ...(opts.pathLen === undefined ? {} : { pathLen: opts.pathLen }),
      keyUsage: ['keyCertSign', 'cRLSign'],
      ...(opts.dnsNames ? { dnsNames: opts.dnsNames } : {}),
    },
    parent,
  );
  return { subject, privateKey: k.privateKey, publicKey: k.publicKey, cert };
}

/** An Istio workload leaf: empty subject, one critical URI SAN, cA=FALSE, 24h. */
function istioLeaf(
  ca: Ca,
  td: string,
  ns: string,
  sa: string,
  now: Date,
  lifetimeMs = DAY,
): IssuedCertificate {
  const k = ec();
  return issueCertificate(
    {
      subject: '',
      publicKey: k.publicKey,
      notBefore: new Date(now.getTime() - 2 * 60_000),
      notAfter: new Date(now.getTime() - 2 * 60_000 + lifetimeMs),
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      extKeyUsage: [EKU.serverAuth, EKU.clientAuth],
      uris: [`spiffe://${td}/ns/${ns}/sa/${sa}`],
    },
    ca,
  );
}

/**
 * What the linkerd-identity controller issues: CN = the DNS identity and one DNS SAN equal
 * to it, no URI SAN, no basicConstraints, no SKI, AKI = issuer SKI, KU dS+kE, EKU
 * server+client, a small sequential serial, NotBefore = t-20s, NotAfter = t+24h+20s.
 */
function linkerdLeaf(issuer: Ca, ns: string, sa: string, serial: number, now: Date): IssuedCertificate {
  const k = ec();
  const name = `${sa}.${ns}.serviceaccount.identity.linkerd.cluster.local`;
  return issueCertificate(
    {
      subject: `CN=${name}`,
      publicKey: k.publicKey,
      serial: BigInt(serial),
      notBefore: new Date(now.getTime() - 20_000),
      notAfter: new Date(now.getTime() + DAY + 20_000),
      basicConstraints: false,
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      extKeyUsage: [EKU.serverAuth, EKU.clientAuth],
      dnsNames: [name],
      subjectKeyIdentifier: false,
    },
    issuer,
  );
}

const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');
const pkcs8 = (k: KeyObject): string => k.export({ format: 'pem', type: 'pkcs8' }).toString();
const sec1 = (k: KeyObject): string => k.export({ format: 'pem', type: 'sec1' }).toString();
const pkcs1 = (k: KeyObject): string => k.export({ format: 'pem', type: 'pkcs1' }).toString();

function meta(name: string, namespace: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    namespace,
    resourceVersion: '4711',
    uid: '0b0e5a43-6c2b-4f1e-9d0a-3f1c2b3a4d5e',
    creationTimestamp: '2026-01-01T00:00:00Z',
    ...extra,
  };
}

function secret(
  name: string,
  namespace: string,
  type: string,
  data: Record<string, string>,
  extra: Record<string, unknown> = {},
) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(name, namespace, extra),
    type,
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  };
}

function configMap(
  name: string,
  namespace: string,
  data: Record<string, string>,
  extra: Record<string, unknown> = {},
) {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(name, namespace, extra), data };
}

function write(path: string, content: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}

const yaml = (...docs: unknown[]): string => docs.map((d) => stringify(d, { lineWidth: 0 })).join('---\n');

export function generateFixtures(dir: string, opts: { now?: Date } = {}): GeneratedFixtures {
  const now = opts.now ?? new Date();
  rmSync(dir, { recursive: true, force: true });
  const real = join(dir, 'realistic');
  const bad = join(dir, 'problems');

  // ------------------------------------------------------------ Linkerd
  const oldAnchor = rootCa('CN=root.linkerd.cluster.local', now, { pathLen: 1, days: 300 });
  const newAnchor = rootCa('CN=root.linkerd.cluster.local,O=rotated', now, { pathLen: 1 });
  const issuer = subCa(oldAnchor, 'CN=identity.linkerd.cluster.local', now, { pathLen: 0, days: 200 });
  const tlsIssuer = subCa(newAnchor, 'CN=identity.linkerd.cluster.local,O=cert-manager', now, {
    pathLen: 0,
    days: 90,
  });
  const bundle = oldAnchor.cert.pem + newAnchor.cert.pem;
  write(
    join(real, 'linkerd', 'trust-roots.yaml'),
    yaml(
      configMap(
        'linkerd-identity-trust-roots',
        'linkerd',
        { 'ca-bundle.crt': bundle },
        {
          labels: {
            'linkerd.io/control-plane-component': 'identity',
            'linkerd.io/control-plane-ns': 'linkerd',
          },
        },
      ),
    ),
  );
  write(
    join(real, 'linkerd', 'issuer-tls-secret.yaml'),
    yaml(
      secret('linkerd-identity-issuer', 'linkerd', 'kubernetes.io/tls', {
        'tls.crt': tlsIssuer.cert.pem,
        'tls.key': sec1(tlsIssuer.privateKey),
        'ca.crt': newAnchor.cert.pem,
      }),
    ),
  );
  // linkerd.io/tls scheme, as `kubectl get secret -o json` prints it.
  write(
    join(real, 'linkerd', 'issuer-secret.json'),
    JSON.stringify(
      secret('linkerd-identity-issuer', 'linkerd', 'Opaque', {
        'crt.pem': issuer.cert.pem,
        'key.pem': sec1(issuer.privateKey),
      }),
      null,
      2,
    ),
  );
  write(
    join(real, 'linkerd', 'values.yaml'),
    yaml({
      identityTrustDomain: 'cluster.local',
      identityTrustAnchorsPEM: bundle,
      identity: {
        issuer: {
          scheme: 'linkerd.io/tls',
          issuanceLifetime: '24h0m0s',
          clockSkewAllowance: '20s',
          tls: { crtPEM: issuer.cert.pem },
        },
      },
    }),
  );
  const workloads: [string, string][] = [
    ['emojivoto', 'web'],
    ['emojivoto', 'emoji'],
    ['emojivoto', 'voting'],
    ['booksapp', 'default'],
  ];
  const linkerdLeaves: GeneratedLeaf[] = [];
  workloads.forEach(([ns, sa], i) => {
    const leaf = linkerdLeaf(issuer, ns, sa, i + 1, now);
    // Delivered to the proxy as leaf + issuer chain (CertifyResponse).
    write(join(real, 'linkerd', 'proxies', `${ns}-${sa}.pem`), leaf.pem + issuer.cert.pem);
    linkerdLeaves.push({
      fingerprint: leaf.fingerprint,
      identity: `${sa}.${ns}.serviceaccount.identity.linkerd.cluster.local`,
      namespace: ns,
      serviceAccount: sa,
      anchor: oldAnchor.cert.fingerprint,
    });
  });

  // ------------------------------------------------------------ Istio
  const rootKey = rsa(2048);
  const root = rootCa('O=Istio,CN=Root CA', now, { key: rootKey });
  const intermediate = subCa(root, 'O=Istio,CN=Intermediate CA,L=cluster-1', now, {
    dnsNames: ['istiod.istio-system.svc'],
  });
  const tlsIntermediate = subCa(root, 'O=Istio,CN=Intermediate CA,L=cluster-2', now, {
    dnsNames: ['istiod.istio-system.svc'],
  });
  write(
    join(real, 'istio', 'cacerts.yaml'),
    yaml(
      secret('cacerts', 'istio-system', 'Opaque', {
        'ca-cert.pem': intermediate.cert.pem,
        'ca-key.pem': pkcs8(intermediate.privateKey),
        'root-cert.pem': root.cert.pem,
        'cert-chain.pem': intermediate.cert.pem + root.cert.pem,
      }),
    ),
  );
  write(
    join(real, 'istio', 'cacerts-cert-manager.yaml'),
    yaml(
      secret('cacerts', 'istio-system', 'kubernetes.io/tls', {
        'tls.crt': tlsIntermediate.cert.pem,
        'tls.key': sec1(tlsIntermediate.privateKey),
        'ca.crt': root.cert.pem,
      }),
    ),
  );
  // istiod's self-signed CA: O=<trust domain>, RSA-2048, PKCS#1 key; cert-chain.pem and key.pem written empty.
  const selfKey = rsa(2048);
  const selfSigned = rootCa('O=cluster.local', now, { key: selfKey });
  const istioCaSecret = secret('istio-ca-secret', 'istio-system', 'istio.io/ca-root', {
    'ca-cert.pem': selfSigned.cert.pem,
    'ca-key.pem': pkcs1(selfKey.privateKey),
    'root-cert.pem': selfSigned.cert.pem,
    'cert-chain.pem': '',
    'key.pem': '',
  });
  write(join(real, 'istio', 'istio-ca-secret.yaml'), yaml(istioCaSecret));
  // istio-ca-root-cert in every namespace; multi-document YAML.
  write(
    join(real, 'istio', 'root-cert-configmaps.yaml'),
    yaml(
      ...['default', 'shop', 'payments'].map((ns) =>
        configMap(
          'istio-ca-root-cert',
          ns,
          { 'root-cert.pem': root.cert.pem },
          { labels: { 'istio.io/config': 'true' } },
        ),
      ),
    ),
  );
  // A kubectl List with stringData and an unrelated Secret.
  write(
    join(real, 'istio', 'secrets-list.json'),
    JSON.stringify(
      {
        apiVersion: 'v1',
        kind: 'List',
        metadata: { resourceVersion: '' },
        items: [
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: meta('cacerts', 'istio-system'),
            type: 'Opaque',
            stringData: {
              'ca-cert.pem': intermediate.cert.pem,
              'root-cert.pem': root.cert.pem,
              'cert-chain.pem': intermediate.cert.pem,
            },
          },
          secret('db-password', 'shop', 'Opaque', { password: 'not-a-certificate' }),
        ],
      },
      null,
      2,
    ),
  );
  const web = istioLeaf(intermediate, 'cluster.local', 'shop', 'web', now);
  const cart = istioLeaf(intermediate, 'cluster.local', 'shop', 'cart', now);
  const pay = istioLeaf(intermediate, 'cluster.local', 'payments', 'api', now);
  // istioctl proxy-config secret <pod> -o json: the SecretsConfigDump alone, protojson camelCase.
  write(
    join(real, 'istio', 'pc-secret-web.json'),
    JSON.stringify(
      {
        dynamicActiveSecrets: [
          {
            name: 'default',
            versionInfo: now.toISOString(),
            lastUpdated: now.toISOString(),
            secret: {
              '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
              name: 'default',
              tlsCertificate: {
                certificateChain: { inlineBytes: b64(web.pem + intermediate.cert.pem + root.cert.pem) },
                privateKey: { inlineBytes: b64('[redacted]') },
              },
            },
          },
          {
            name: 'ROOTCA',
            versionInfo: now.toISOString(),
            lastUpdated: now.toISOString(),
            secret: {
              '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
              name: 'ROOTCA',
              validationContext: { trustedCa: { inlineBytes: b64(root.cert.pem) } },
            },
          },
        ],
      },
      null,
      2,
    ),
  );
  // Envoy admin /config_dump (snake_case) with a SPIFFE validator holding one bundle per trust domain.
  const remote = rootCa('O=remote.example,CN=Remote Root', now);
  write(
    join(real, 'istio', 'envoy-spiffe-config-dump.json'),
    JSON.stringify(
      {
        configs: [
          {
            '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump',
            bootstrap: { node: { id: 'sidecar~10.0.0.7~cart.shop~shop.svc.cluster.local' } },
          },
          {
            '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump',
            dynamic_active_secrets: [
              {
                name: 'default',
                last_updated: now.toISOString(),
                secret: {
                  '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
                  name: 'default',
                  tls_certificate: {
                    certificate_chain: { inline_bytes: b64(cart.pem + intermediate.cert.pem) },
                    private_key: { inline_bytes: b64('[redacted]') },
                  },
                },
              },
              {
                name: 'ROOTCA',
                last_updated: now.toISOString(),
                secret: {
                  '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
                  name: 'ROOTCA',
                  validation_context: {
                    custom_validator_config: {
                      name: 'envoy.tls.cert_validator.spiffe',
                      typed_config: {
                        '@type':
                          'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig',
                        trust_domains: [
                          { name: 'cluster.local', trust_bundle: { inline_bytes: b64(root.cert.pem) } },
                          { name: 'remote.example', trust_bundle: { inline_bytes: b64(remote.cert.pem) } },
                        ],
                      },
                    },
                  },
                },
              },
            ],
          },
        ],
      },
      null,
      2,
    ),
  );
  // ztunnel /config_dump certificates (shape from istio/ztunnel src/admin.rs; pem is base64 of PEM text).
  const certDump = (c: IssuedCertificate, notBefore: Date, notAfter: Date) => ({
    pem: b64(c.pem),
    serialNumber: '1',
    validFrom: notBefore.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    expirationTime: notAfter.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  });
  write(
    join(real, 'istio', 'ztunnel-config-dump.json'),
    JSON.stringify(
      {
        workloads: {},
        services: {},
        certificates: [
          {
            identity: 'spiffe://cluster.local/ns/payments/sa/api',
            state: 'Available',
            certChain: [
              certDump(pay, new Date(now.getTime() - 120_000), new Date(now.getTime() + DAY - 120_000)),
              certDump(intermediate.cert, now, now),
            ],
            rootCerts: [certDump(root.cert, now, now)],
          },
          {
            identity: 'spiffe://cluster.local/ns/shop/sa/pending',
            state: 'Initializing',
            certChain: [],
            rootCerts: [],
          },
        ],
      },
      null,
      2,
    ),
  );
  const istioLeaves: GeneratedLeaf[] = [
    {
      fingerprint: web.fingerprint,
      identity: 'spiffe://cluster.local/ns/shop/sa/web',
      namespace: 'shop',
      serviceAccount: 'web',
      anchor: root.cert.fingerprint,
    },
    {
      fingerprint: cart.fingerprint,
      identity: 'spiffe://cluster.local/ns/shop/sa/cart',
      namespace: 'shop',
      serviceAccount: 'cart',
      anchor: root.cert.fingerprint,
    },
    {
      fingerprint: pay.fingerprint,
      identity: 'spiffe://cluster.local/ns/payments/sa/api',
      namespace: 'payments',
      serviceAccount: 'api',
      anchor: root.cert.fingerprint,
    },
  ];

  // ------------------------------------------------------------ problems
  const problems: Record<string, string> = {};
  const v1Key = ec();
  const v1 = issueCertificate(
    {
      subject: 'CN=Legacy v1 CA',
      publicKey: v1Key.publicKey,
      notBefore: new Date(now.getTime() - DAY),
      notAfter: new Date(now.getTime() + 900 * DAY),
      version: 1,
    },
    { subject: 'CN=Legacy v1 CA', privateKey: v1Key.privateKey, publicKey: v1Key.publicKey },
  );
  const v1Ca: Ca = {
    subject: 'CN=Legacy v1 CA',
    privateKey: v1Key.privateKey,
    publicKey: v1Key.publicKey,
    cert: v1,
  };
  write(join(bad, 'v1-ca-chain.pem'), istioLeaf(v1Ca, 'legacy.example', 'old', 'app', now).pem + v1.pem);
  problems.CA_V1_WITHOUT_EXTENSIONS = v1.fingerprint;

  const noSignKey = ec();
  const noSign = issueCertificate(
    {
      subject: 'CN=CA without keyCertSign',
      publicKey: noSignKey.publicKey,
      notBefore: new Date(now.getTime() - DAY),
      notAfter: new Date(now.getTime() + 900 * DAY),
      ca: true,
      keyUsage: ['digitalSignature', 'cRLSign'],
    },
    root,
  );
  write(join(bad, 'ca-without-keycertsign.pem'), noSign.pem);
  problems.CA_WITHOUT_KEY_CERT_SIGN = noSign.fingerprint;

  const weakKey = rsa(1024);
  const weak = issueCertificate(
    {
      subject: '',
      publicKey: weakKey.publicKey,
      notBefore: new Date(now.getTime() - HOUR),
      notAfter: new Date(now.getTime() + 30 * DAY),
      uris: ['spiffe://cluster.local/ns/legacy/sa/weak'],
    },
    intermediate,
  );
  write(join(bad, 'weak-rsa-1024.pem'), weak.pem);
  problems.WEAK_KEY = weak.fingerprint;

  const uriKey = ec();
  const nonSpiffe = issueCertificate(
    {
      subject: '',
      publicKey: uriKey.publicKey,
      notBefore: new Date(now.getTime() - HOUR),
      notAfter: new Date(now.getTime() + 30 * DAY),
      uris: ['https://shop.example.com/web'],
    },
    intermediate,
  );
  write(join(bad, 'non-spiffe-uri.pem'), nonSpiffe.pem);
  problems.NON_SPIFFE_URI_SAN = nonSpiffe.fingerprint;

  const twoUris = issueCertificate(
    {
      subject: '',
      publicKey: ec().publicKey,
      notBefore: new Date(now.getTime() - HOUR),
      notAfter: new Date(now.getTime() + 30 * DAY),
      uris: ['spiffe://cluster.local/ns/a/sa/one', 'spiffe://cluster.local/ns/a/sa/two'],
    },
    intermediate,
  );
  write(join(bad, 'two-uri-sans.pem'), twoUris.pem);
  problems.MULTIPLE_URI_SANS = twoUris.fingerprint;

  // 24h leaf with 2h left: in the last 20% of its life.
  const soon = istioLeaf(intermediate, 'cluster.local', 'shop', 'stale', new Date(now.getTime() - 22 * HOUR));
  write(join(bad, 'expiring-leaf.pem'), soon.pem);
  problems.CERT_EXPIRING_SOON = soon.fingerprint;

  const expired = istioLeaf(intermediate, 'cluster.local', 'shop', 'gone', new Date(now.getTime() - 3 * DAY));
  write(join(bad, 'expired-leaf.pem'), expired.pem);
  problems.CERT_EXPIRED = expired.fingerprint;

  const future = istioLeaf(intermediate, 'cluster.local', 'shop', 'early', new Date(now.getTime() + 2 * DAY));
  write(join(bad, 'not-yet-valid-leaf.pem'), future.pem);
  problems.CERT_NOT_YET_VALID = future.fingerprint;

  const orphanCa = rootCa('CN=Orphan Root', now);
  const orphan = istioLeaf(subCa(orphanCa, 'CN=Orphan Intermediate', now), 'orphan.example', 'x', 'y', now);
  write(join(bad, 'orphan-leaf.pem'), orphan.pem);
  problems.CHAIN_NO_ANCHOR = orphan.fingerprint;

  const dupRoot = rootCa('CN=Duplicated Root', now);
  write(join(bad, 'duplicate-root-bundle.pem'), dupRoot.cert.pem + dupRoot.cert.pem);
  problems.DUPLICATE_ROOT = dupRoot.cert.fingerprint;

  // The plug-in root re-issued with its own key and new dates: two anchors, one key.
  const reissued = issueCertificate(
    {
      subject: root.subject,
      publicKey: root.publicKey,
      notBefore: new Date(now.getTime() - HOUR),
      notAfter: new Date(now.getTime() + 5000 * DAY),
      ca: true,
      keyUsage: ['keyCertSign', 'cRLSign'],
    },
    root,
  );
  write(join(bad, 'reissued-root.pem'), reissued.pem);

  const mismatch = subCa(root, 'O=Istio,CN=Mismatched CA', now);
  write(
    join(bad, 'key-mismatch-cacerts.yaml'),
    yaml(
      secret('cacerts', 'istio-system', 'Opaque', {
        'ca-cert.pem': mismatch.cert.pem,
        'ca-key.pem': pkcs8(ec().privateKey),
        'root-cert.pem': root.cert.pem,
        'cert-chain.pem': mismatch.cert.pem,
      }),
    ),
  );
  problems.KEY_CERT_MISMATCH = mismatch.cert.fingerprint;

  // Armour intact, DER inside cut short: a corrupt block, not an unreadable file.
  const cut = Buffer.from(web.der).subarray(0, web.der.length - 40);
  write(join(bad, 'corrupt-block.pem'), root.cert.pem + toPem('CERTIFICATE', cut));
  problems.CORRUPT_PEM_BLOCK = 'block 2';

  return {
    dir,
    now,
    linkerd: {
      oldAnchor: oldAnchor.cert.fingerprint,
      newAnchor: newAnchor.cert.fingerprint,
      issuer: issuer.cert.fingerprint,
      tlsIssuer: tlsIssuer.cert.fingerprint,
      leaves: linkerdLeaves,
    },
    istio: {
      root: root.cert.fingerprint,
      intermediate: intermediate.cert.fingerprint,
      tlsIntermediate: tlsIntermediate.cert.fingerprint,
      selfSignedRoot: selfSigned.cert.fingerprint,
      leaves: istioLeaves,
      spiffeBundles: { 'cluster.local': root.cert.fingerprint, 'remote.example': remote.cert.fingerprint },
    },
    problems,
  };
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const out = resolve(process.argv[2] ?? join(repoRoot, '.cache', 'fixtures'));
  const g = generateFixtures(out);
  process.stdout.write(`generated mesh fixtures in ${g.dir}\n`);
}
