/**
 * The SPIFFE bundle endpoint plugin serves the mesh's trust domain over HTTPS
 * (`https_web`, and `https_spiffe` with an SVID); a second meshbridge process
 * (`meshbridge bundle fetch`, a child process through tsx) fetches it, checks it, and
 * refuses every tampered answer with a code: a changed certificate, a certificate
 * changed consistently under the same sequence number, the wrong trust domain, a
 * sequence going backwards, broken JSON, an untrusted server, the wrong endpoint ID.
 */
import { spawn } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EKU, issueCertificate } from '../../src/devca/issue.js';
import {
  bundleEndpointPlugin,
  fetchFederatedBundle,
  httpsSpiffeTls,
  httpsWebTls,
  RefreshingBundleSource,
  StaticBundleSource,
} from '../../src/dual-trust/index.js';
import { SpiffeBundle } from '../../src/spiffe/bundle/spiffebundle.js';
import { SpiffeId } from '../../src/spiffe/spiffeid/index.js';
import { parseCertificate } from '../../src/spiffe/x509/certificate.js';
import { repoRoot } from '../helpers/fixtures.js';
import { type Ca, issueUnder, pemOfCerts } from './helpers.js';

const TD = 'cluster.local';
const ENDPOINT_ID = 'spiffe://example.org/meshbridge/bundle-endpoint';

/** `meshbridge <args>` in its own process. */
function meshbridge(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const tsx = pathToFileURL(join(repoRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
    const child = spawn(process.execPath, ['--import', tsx, join(repoRoot, 'src/cli/main.ts'), ...args], {
      cwd,
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function serverCert(ca: Ca, dns: string): { cert: string; key: string } {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const now = Date.now();
  const issued = issueUnder(
    ca,
    {
      subject: `CN=${dns}`,
      notBefore: new Date(now - 3_600_000),
      notAfter: new Date(now + 86_400_000),
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      extKeyUsage: [EKU.serverAuth],
      dnsNames: [dns],
    },
    key,
  );
  return { cert: issued.pem, key: key.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

/** A root whose validity covers the real clock (the child process judges at now). */
function liveRoot(subject: string, uris: string[] = []): Ca {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const now = Date.now();
  const der = issueCertificate(
    {
      subject,
      publicKey: createPublicKey(key),
      notBefore: new Date(now - 86_400_000),
      notAfter: new Date(now + 365 * 86_400_000),
      ca: true,
      keyUsage: ['keyCertSign', 'cRLSign'],
      uris,
    },
    { subject, privateKey: key, publicKey: createPublicKey(key) },
  ).der;
  return { cert: parseCertificate(der), key };
}

/** An X.509-SVID valid now (the child process judges at the real clock). */
function liveSvid(ca: Ca, id: string) {
  const now = Date.now();
  return issueUnder(ca, {
    subject: 'O=SPIRE',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3_600_000),
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    extKeyUsage: [EKU.serverAuth, EKU.clientAuth],
    uris: [id],
  });
}

type Mode = 'genuine' | 'x5c-swapped' | 'consistent-swap' | 'wrong-td' | 'sequence-back' | 'broken-json';

describe('SPIFFE bundle endpoint and federation client', () => {
  let dir: string;
  let web: FastifyInstance;
  let spiffe: FastifyInstance;
  let webUrl: string;
  let spiffeUrl: string;
  let mode: Mode = 'genuine';
  const meshRoot = liveRoot('O=Istio,CN=Root CA');
  const spireRoot = liveRoot(`CN=${TD},O=SPIRE`, [`spiffe://${TD}`]);
  const other = liveRoot('O=Other,CN=Root CA');
  const partnerRoot = liveRoot('CN=partner', ['spiffe://partner.example']);
  const genuine = new SpiffeBundle(SpiffeId.parse(`spiffe://${TD}`).trustDomain, {
    x509Authorities: [meshRoot.cert, spireRoot.cert],
    refreshHint: 300,
    sequenceNumber: 5n,
  });
  const tlsCa = liveRoot('CN=meshbridge test web CA');
  const endpointCa = liveRoot('CN=example.org,O=SPIRE', ['spiffe://example.org']);

  const tampered = (body: string): string => {
    const doc = JSON.parse(body) as { keys: Record<string, unknown>[]; spiffe_sequence: number };
    const b64 = (c: { der: Uint8Array }) => Buffer.from(c.der).toString('base64');
    switch (mode) {
      case 'genuine':
        return body;
      case 'x5c-swapped':
        doc.keys[0]!.x5c = [b64(other.cert)];
        return JSON.stringify(doc);
      case 'consistent-swap':
        return new SpiffeBundle(genuine.trustDomain, {
          x509Authorities: [other.cert, spireRoot.cert],
          refreshHint: 300,
          sequenceNumber: 5n,
        }).marshal();
      case 'wrong-td':
        return new SpiffeBundle(genuine.trustDomain, {
          x509Authorities: [partnerRoot.cert],
          sequenceNumber: 6n,
        }).marshal();
      case 'sequence-back':
        doc.spiffe_sequence = 4;
        return JSON.stringify(doc);
      case 'broken-json':
        return body.slice(0, body.length - 7);
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mb-federation-'));
    writeFileSync(join(dir, 'web-ca.pem'), pemOfCerts([tlsCa.cert]));
    writeFileSync(join(dir, 'other-ca.pem'), pemOfCerts([other.cert]));
    writeFileSync(join(dir, 'endpoint-bundle.pem'), pemOfCerts([endpointCa.cert]));
    writeFileSync(join(dir, 'previous.json'), genuine.marshal());
    const source = new StaticBundleSource([genuine]);
    const tls = serverCert(tlsCa, 'localhost');
    web = Fastify({ https: httpsWebTls(tls.cert, tls.key) }) as unknown as FastifyInstance;
    web.addHook('onSend', async (req, _reply, payload) =>
      req.url.startsWith('/bundle') && typeof payload === 'string' && payload.startsWith('{"keys"')
        ? tampered(payload)
        : payload,
    );
    await web.register(bundleEndpointPlugin, { prefix: '/bundle', source });
    await web.listen({ host: 'localhost', port: 0 });
    webUrl = `https://localhost:${(web.server.address() as { port: number }).port}/bundle/${TD}`;

    const svid = liveSvid(endpointCa, ENDPOINT_ID);
    const current = () => ({
      id: SpiffeId.parse(ENDPOINT_ID),
      certificates: [svid.cert],
      privateKey: svid.key,
    });
    spiffe = Fastify({ https: httpsSpiffeTls(current) }) as unknown as FastifyInstance;
    await spiffe.register(bundleEndpointPlugin, { source, defaultTrustDomain: TD });
    await spiffe.listen({ host: '127.0.0.1', port: 0 });
    spiffeUrl = `https://127.0.0.1:${(spiffe.server.address() as { port: number }).port}/`;
  });
  afterAll(async () => {
    await web?.close();
    await spiffe?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the SPIFFE bundle with an ETag, 304 on If-None-Match, and max-age from the refresh hint', async () => {
    const res = await web.inject({ method: 'GET', url: `/bundle/${TD}` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['cache-control']).toBe('public, max-age=300');
    expect(SpiffeBundle.parse(TD, res.body).bundle.equals(genuine)).toBe(true);
    const again = await web.inject({
      method: 'GET',
      url: `/bundle/${TD}`,
      headers: { 'if-none-match': res.headers.etag as string },
    });
    expect([again.statusCode, again.body]).toEqual([304, '']);
    const missing = await web.inject({ method: 'GET', url: '/bundle/nope.example' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: { code: 'BUNDLE_NOT_FOUND', message: expect.any(String) } });
    const byDefault = await spiffe.inject({ method: 'GET', url: '/' });
    expect(byDefault.body).toBe(genuine.marshal());
  });

  const fetchArgs = (extra: string[] = []) => [
    '--json',
    'bundle',
    'fetch',
    webUrl,
    '--trust-domain',
    TD,
    '--ca',
    'web-ca.pem',
    ...extra,
  ];

  it('a second meshbridge process fetches over https_web and checks the bundle', async () => {
    mode = 'genuine';
    const r = await meshbridge(fetchArgs(['--previous', 'previous.json']), dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      trustDomain: TD,
      sequence: 5,
      refreshHint: 300,
      x509Authorities: [meshRoot.cert.fingerprint, spireRoot.cert.fingerprint],
    });
  });

  const refusals: [Mode, string[], string][] = [
    ['x5c-swapped', [], 'BUNDLE_X5C_KEY_MISMATCH'],
    ['consistent-swap', ['--previous', 'previous.json'], 'FEDERATION_SEQUENCE_REUSED'],
    ['wrong-td', [], 'FEDERATION_TRUST_DOMAIN_MISMATCH'],
    ['sequence-back', ['--previous', 'previous.json'], 'FEDERATION_SEQUENCE_REGRESSED'],
    ['broken-json', [], 'BUNDLE_JSON_INVALID'],
  ];
  for (const [m, extra, code] of refusals) {
    it(`refuses a tampered answer (${m}) with ${code}, exit 1`, async () => {
      mode = m;
      const r = await meshbridge(fetchArgs(extra), dir);
      expect({
        code: r.code,
        error: (JSON.parse(r.stdout) as { error: { code: string } }).error.code,
      }).toEqual({
        code: 1,
        error: code,
      });
    });
  }

  it('refuses a server its CA does not vouch for (R120)', async () => {
    mode = 'genuine';
    const r = await meshbridge(
      ['--json', 'bundle', 'fetch', webUrl, '--trust-domain', TD, '--ca', 'other-ca.pem'],
      dir,
    );
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error.code).toBe('FEDERATION_TLS_REJECTED');
  });

  it('https_spiffe: accepts the configured endpoint SVID, refuses another ID or an unknown CA (R123)', async () => {
    const base = ['--json', 'bundle', 'fetch', spiffeUrl, '--trust-domain', TD, '--profile', 'https_spiffe'];
    const ok = await meshbridge(
      [...base, '--endpoint-id', ENDPOINT_ID, '--endpoint-bundle', 'endpoint-bundle.pem'],
      dir,
    );
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ endpointSpiffeId: ENDPOINT_ID, sequence: 5 });
    const wrongId = await meshbridge(
      [
        ...base,
        '--endpoint-id',
        'spiffe://example.org/someone-else',
        '--endpoint-bundle',
        'endpoint-bundle.pem',
      ],
      dir,
    );
    expect([wrongId.code, JSON.parse(wrongId.stdout).error.code]).toEqual([
      1,
      'FEDERATION_ENDPOINT_ID_MISMATCH',
    ]);
    const unknownCa = await meshbridge(
      [...base, '--endpoint-id', ENDPOINT_ID, '--endpoint-bundle', 'other-ca.pem'],
      dir,
    );
    expect([unknownCa.code, JSON.parse(unknownCa.stdout).error.code]).toEqual([1, 'FEDERATION_TLS_REJECTED']);
  });

  it('refuses endpoint URLs that are not https or carry user information (R114)', async () => {
    for (const url of ['http://localhost/bundle', 'https://user:pw@localhost/bundle']) {
      await expect(
        fetchFederatedBundle(url, { profile: 'https_web', trustDomain: TD }),
      ).rejects.toMatchObject({
        code: 'FEDERATION_URL_INVALID',
      });
    }
    await expect(
      fetchFederatedBundle(webUrl, { profile: 'https_spiffe', trustDomain: TD }),
    ).rejects.toMatchObject({
      code: 'FEDERATION_PROFILE_INVALID',
    });
  });
});

describe('a refreshing endpoint source (what serve mounts over the store)', () => {
  it('reloads after max age, serves the last good bundles when a reload fails, and the ETag follows the content', async () => {
    let now = 0;
    let loads = 0;
    let fail = false;
    const root = liveRoot('O=Istio,CN=Root CA');
    const source = new RefreshingBundleSource(
      async () => {
        loads++;
        if (fail) throw new Error('store down');
        return [
          new SpiffeBundle(SpiffeId.parse(`spiffe://${TD}`).trustDomain, {
            x509Authorities: [root.cert],
            sequenceNumber: BigInt(loads),
          }),
        ];
      },
      1000,
      () => now,
    );
    const app = Fastify();
    await app.register(bundleEndpointPlugin, { source });
    const first = await app.inject({ url: `/${TD}` });
    expect([loads, SpiffeBundle.parse(TD, first.body).bundle.sequenceNumber]).toEqual([1, 1n]);
    await app.inject({ url: `/${TD}` });
    expect(loads).toBe(1);
    now = 5000;
    // Past max age a request starts a reload (served from the last set meanwhile).
    expect((await app.inject({ url: '/' })).statusCode).toBe(200);
    await new Promise((r) => setTimeout(r, 10));
    expect(loads).toBe(2);
    const second = await app.inject({ url: `/${TD}` });
    expect(SpiffeBundle.parse(TD, second.body).bundle.sequenceNumber).toBe(2n);
    expect(second.headers.etag).not.toBe(first.headers.etag);
    fail = true;
    now = 10_000;
    await source.refresh();
    const stale = await app.inject({ url: `/${TD}` });
    expect([stale.statusCode, stale.body]).toEqual([200, second.body]);
    expect((source.lastError as Error).message).toBe('store down');
    await app.close();
  });
});
