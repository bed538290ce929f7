/**
 * A small platform in the middle of a cutover, for broker tests: a SPIRE-like dev CA
 * (example.org, X.509 and JWT), an Istio-shaped mesh CA (cluster.local: root ->
 * plug-in intermediate -> workload leaves with empty subject and non-critical key
 * usage), a Linkerd trust anchor -> identity issuer -> DNS-identity leaves, and a
 * foreign CA (evil.org) nobody trusts. Files are written to a temp folder so the
 * broker reads them through its config, as in production.
 */
import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  createDevCa,
  type DevCa,
  devCaIssuer,
  EKU,
  type IssuedCertificate,
  type Issuer,
  issueCertificate,
  jwtPublicJwk,
  mintX509Svid,
} from '../../../src/devca/index.js';
import { SpiffeId, TrustDomain } from '../../../src/spiffe/spiffeid/index.js';
import { signJwtSvid } from '../../../src/spiffe/svid/jwtsvid/index.js';

export const BROKER_ID = 'spiffe://example.org/ns/meshbridge/sa/broker';

export interface ClientCert {
  certPem: string;
  keyPem: string;
}

function keyPair(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

function pemKey(k: KeyObject): string {
  return k.export({ format: 'pem', type: 'pkcs8' }).toString();
}

const MIN = 60_000;
const DAY = 86_400_000;

export interface Pki {
  spire: DevCa;
  foreign: DevCa;
  istioRoot: IssuedCertificate;
  istioIssuer: Issuer;
  istioIntermediate: IssuedCertificate;
  linkerdAnchor: IssuedCertificate;
  linkerdIssuer: Issuer;
  linkerdIssuerCert: IssuedCertificate;
  broker: ClientCert;
}

export function createPki(): Pki {
  const now = Date.now();
  const spire = createDevCa(TrustDomain.parse('example.org'));
  const foreign = createDevCa(TrustDomain.parse('evil.org'));

  /** A CA certificate for `subject`, signed by `signer` (itself when omitted), valid `days`. */
  const ca = (subject: string, days: number, signer?: Issuer, pathLen?: number) => {
    const keys = keyPair();
    const issuer: Issuer = { subject, ...keys };
    const cert = issueCertificate(
      {
        subject,
        publicKey: keys.publicKey,
        notBefore: new Date(now - MIN),
        notAfter: new Date(now + days * DAY),
        ca: true,
        ...(pathLen === undefined ? {} : { pathLen }),
        keyUsage: ['keyCertSign', 'cRLSign'],
      },
      signer ?? issuer,
    );
    return { issuer, cert };
  };

  // Istio plug-in CA: self-signed root, intermediate (the istiod signing cert), no SPIFFE URIs on CAs.
  const root = ca('O=cluster.local,CN=Root CA', 3650);
  const inter = ca('O=cluster.local,CN=Intermediate CA', 365, root.issuer);
  // Linkerd: anchor CN=root.linkerd.cluster.local -> issuer CN=identity.linkerd.cluster.local (pathlen 0).
  const anchor = ca('CN=root.linkerd.cluster.local', 3650, undefined, 1);
  const identity = ca('CN=identity.linkerd.cluster.local', 365, anchor.issuer, 0);
  const istioRoot = root.cert;
  const istioIssuer = inter.issuer;
  const istioIntermediate = inter.cert;
  const linkerdAnchor = anchor.cert;
  const linkerdIssuer = identity.issuer;
  const linkerdIssuerCert = identity.cert;

  const brokerSvid = mintX509Svid(spire, SpiffeId.parse(BROKER_ID), { dnsNames: ['localhost'] });
  return {
    spire,
    foreign,
    istioRoot,
    istioIssuer,
    istioIntermediate,
    linkerdAnchor,
    linkerdIssuer,
    linkerdIssuerCert,
    broker: { certPem: brokerSvid.certPem, keyPem: brokerSvid.keyPem },
  };
}

/** A SPIRE-issued X.509-SVID. */
export function spireSvid(
  pki: Pki,
  id: string,
  opts: { ttlSeconds?: number; clock?: () => Date } = {},
): ClientCert {
  const s = mintX509Svid(pki.spire, SpiffeId.parse(id), opts);
  return { certPem: s.certPem, keyPem: s.keyPem };
}

/** An expired SPIRE SVID (valid yesterday for an hour). */
export function expiredSvid(pki: Pki, id: string): ClientCert {
  return spireSvid(pki, id, { clock: () => new Date(Date.now() - DAY), ttlSeconds: 3600 });
}

/** An Istio-issued workload cert: empty subject, critical SAN, non-critical KU, leaf + intermediate. */
export function istioCert(pki: Pki, namespace: string, sa: string): ClientCert {
  const now = Date.now();
  const k = keyPair();
  const leaf = issueCertificate(
    {
      subject: '',
      publicKey: k.publicKey,
      notBefore: new Date(now - MIN),
      notAfter: new Date(now + DAY),
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      keyUsageCritical: false,
      extKeyUsage: [EKU.serverAuth, EKU.clientAuth],
      uris: [`spiffe://cluster.local/ns/${namespace}/sa/${sa}`],
      sanCritical: true,
    },
    pki.istioIssuer,
  );
  return { certPem: leaf.pem + pki.istioIntermediate.pem, keyPem: pemKey(k.privateKey) };
}

/** A Linkerd identity-controller leaf: CN = DNS SAN = <sa>.<ns>.serviceaccount.identity.linkerd.cluster.local. */
export function linkerdCert(pki: Pki, namespace: string, sa: string): ClientCert {
  const now = Date.now();
  const k = keyPair();
  const name = `${sa}.${namespace}.serviceaccount.identity.linkerd.cluster.local`;
  const leaf = issueCertificate(
    {
      subject: `CN=${name}`,
      publicKey: k.publicKey,
      notBefore: new Date(now - 20_000),
      notAfter: new Date(now + DAY),
      basicConstraints: false,
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      extKeyUsage: [EKU.serverAuth, EKU.clientAuth],
      dnsNames: [name],
    },
    pki.linkerdIssuer,
  );
  return { certPem: leaf.pem + pki.linkerdIssuerCert.pem, keyPem: pemKey(k.privateKey) };
}

/** A CA certificate (cA=TRUE) that carries a workload's SPIFFE ID, signed by the SPIRE root. */
export function caAsClient(pki: Pki, id: string): ClientCert {
  const now = Date.now();
  const k = keyPair();
  const cert = issueCertificate(
    {
      subject: 'O=meshbridge dev,CN=rogue intermediate',
      publicKey: k.publicKey,
      notBefore: new Date(now - MIN),
      notAfter: new Date(now + DAY),
      ca: true,
      keyUsage: ['digitalSignature', 'keyCertSign', 'cRLSign'],
      extKeyUsage: [EKU.serverAuth, EKU.clientAuth],
      uris: [id],
    },
    devCaIssuer(pki.spire),
  );
  return { certPem: cert.pem, keyPem: pemKey(k.privateKey) };
}

export function jwtSvid(ca: DevCa, id: string, audience: string | string[] = BROKER_ID, ttl = 300): string {
  return signJwtSvid({ id, audience, ttl, key: ca.jwtKey, kid: ca.jwtKid });
}

function b64url(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

/** `alg: none`: an unsigned token. */
export function jwtAlgNone(id: string): string {
  const now = Math.floor(Date.now() / 1000);
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: id, aud: BROKER_ID, exp: now + 300, iat: now })}.`;
}

/** HS256 with the public JWK as the shared secret (the classic key-confusion attempt). */
export function jwtHs256(ca: DevCa, id: string): string {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64url({ alg: 'HS256', typ: 'JWT', kid: ca.jwtKid })}.${b64url({ sub: id, aud: BROKER_ID, exp: now + 300, iat: now })}`;
  const mac = createHmac('sha256', JSON.stringify(jwtPublicJwk(ca)))
    .update(input)
    .digest('base64url');
  return `${input}.${mac}`;
}

// ---------------------------------------------------------------- files and config

export interface Workspace {
  dir: string;
  write(name: string, content: string): string;
  remove(): void;
}

export function workspace(prefix = 'mb-broker-'): Workspace {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    write(name, content) {
      const p = join(dir, name);
      writeFileSync(p, content);
      return p;
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes the trust material of `pki` and returns the `trust:` YAML section. */
export function writeTrust(ws: Workspace, pki: Pki): string {
  ws.write('spire-bundle.pem', pki.spire.root.pem);
  ws.write('spire-jwt.json', JSON.stringify({ keys: [jwtPublicJwk(pki.spire)] }));
  ws.write('istio-root.pem', pki.istioRoot.pem);
  ws.write('linkerd-anchors.pem', pki.linkerdAnchor.pem);
  ws.write('broker.pem', pki.broker.certPem);
  ws.write('broker.key', pki.broker.keyPem);
  return `
  trust:
    - { kind: spire, label: spire, trustDomain: example.org, bundles: [spire-bundle.pem, spire-jwt.json] }
    - { kind: mesh, label: istio, trustDomain: cluster.local, bundles: [istio-root.pem] }
    - { kind: mesh, label: linkerd, trustDomain: cluster.local, identityForm: linkerd-dns, bundles: [linkerd-anchors.pem] }
  linkerd:
    template: "spiffe://example.org/ns/{namespace}/sa/{serviceAccount}"`;
}

/** Every log line, kept for the secret grep. */
export class LogSink extends Writable {
  readonly lines: string[] = [];
  private partial = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    const text = this.partial + chunk.toString();
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    this.lines.push(...parts.filter((l) => l !== ''));
    cb();
  }
  get text(): string {
    return this.lines.join('\n') + (this.partial === '' ? '' : `\n${this.partial}`);
  }
  records(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

// ---------------------------------------------------------------- HTTPS client

export interface CallOptions {
  method?: string;
  path: string;
  body?: unknown;
  /** Send `body` form-encoded. */
  form?: boolean;
  /** Send these bytes as the body, as they are (content-type from `headers`, else JSON). */
  raw?: string;
  client?: ClientCert;
  bearer?: string;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown>;
  text: string;
}

/** One request on a fresh TLS connection (so each call presents its own client certificate). */
export function call(baseUrl: string, opts: CallOptions): Promise<CallResult> {
  const url = new URL(opts.path, baseUrl);
  let payload: string | undefined;
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.body !== undefined) {
    if (opts.form === true) {
      payload = new URLSearchParams(opts.body as Record<string, string>).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else {
      payload = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
  }
  if (opts.raw !== undefined) {
    payload = opts.raw;
    headers['content-type'] ??= 'application/json';
  }
  if (opts.bearer !== undefined) headers.authorization = `Bearer ${opts.bearer}`;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method: opts.method ?? (opts.body === undefined && opts.raw === undefined ? 'GET' : 'POST'),
        headers,
        agent: false,
        rejectUnauthorized: false,
        ...(opts.client === undefined ? {} : { cert: opts.client.certPem, key: opts.client.keyPem }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> = {};
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json, text });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
