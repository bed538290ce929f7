/**
 * Real HTTPS, real client certificates: each kind of identity a cutover meets gets
 * its allowed credential, and each kind of bad or unwelcome identity gets the right
 * status and code (issue 7, "What it must show").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditFromRow } from '../../src/credential-broker/audit.js';
import { brokerDb } from '../../src/credential-broker/schema.js';
import { startBroker, type TestBroker } from './helpers/broker.js';
import {
  BROKER_ID,
  caAsClient,
  call,
  expiredSvid,
  istioCert,
  jwtAlgNone,
  jwtHs256,
  jwtSvid,
  linkerdCert,
  spireSvid,
} from './helpers/world.js';

let b: TestBroker;

beforeAll(async () => {
  b = await startBroker();
});
afterAll(async () => {
  await b?.close();
});

const WEB = 'spiffe://example.org/ns/shop/sa/web';

describe('allowed identities get their credential', () => {
  it('a SPIRE-issued X.509-SVID over mTLS', async () => {
    const r = await call(b.url, {
      path: '/v1/credentials/orders-db',
      body: {},
      client: spireSvid(b.pki, WEB),
    });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ name: 'orders-db', ttlSeconds: 300 });
    expect(r.json.leaseId).toMatch(/^lse_/);
    const secret = r.json.secret as Record<string, string>;
    expect(secret.username).toBe('orders');
    expect(secret.password!.length).toBeGreaterThanOrEqual(32);
    expect(Date.parse(r.json.expiresAt as string) - Date.now()).toBeGreaterThan(290_000);
    expect(r.headers['cache-control']).toBe('no-store');
  });

  it('a mesh-issued Istio certificate (cluster.local, intermediate, non-critical key usage)', async () => {
    const client = istioCert(b.pki, 'shop', 'frontend');
    const r = await call(b.url, { path: '/v1/credentials/reports-key', body: {}, client });
    expect(r.status).toBe(200);
    expect((r.json.secret as Record<string, string>).api_key).toMatch(/^mbk_/);
    const list = await call(b.url, { path: '/v1/credentials', client });
    expect(list.json.identity).toMatchObject({
      spiffeId: 'spiffe://cluster.local/ns/shop/sa/frontend',
      method: 'x509',
      issuer: { kind: 'mesh', fingerprint: b.pki.istioRoot.fingerprint, label: 'istio' },
    });
  });

  it('a Linkerd DNS-identity certificate, translated through the mapping', async () => {
    const client = linkerdCert(b.pki, 'billing', 'invoicer');
    const r = await call(b.url, { path: '/v1/credentials/reports-key', body: {}, client });
    expect(r.status).toBe(200);
    const list = await call(b.url, { path: '/v1/credentials', client });
    expect(list.json.identity).toMatchObject({
      spiffeId: 'spiffe://example.org/ns/billing/sa/invoicer',
      presented: 'invoicer.billing.serviceaccount.identity.linkerd.cluster.local',
      issuer: { kind: 'mesh', fingerprint: b.pki.linkerdAnchor.fingerprint, label: 'linkerd' },
    });
  });

  it('a JWT-SVID bearer token whose audience names the broker', async () => {
    const r = await call(b.url, {
      path: '/v1/credentials/orders-db',
      body: { ttl: '2m' },
      bearer: jwtSvid(b.pki.spire, WEB),
    });
    expect(r.status).toBe(200);
    expect(r.json.ttlSeconds).toBe(120);
    const list = await call(b.url, { path: '/v1/credentials', bearer: jwtSvid(b.pki.spire, WEB) });
    expect(list.json.identity).toMatchObject({ spiffeId: WEB, method: 'jwt', issuer: { kind: 'spire' } });
    expect((list.json.credentials as { name: string }[]).map((c) => c.name)).toEqual([
      'orders-db',
      'orders-token',
    ]);
  });

  it('caps the TTL at the credential maximum', async () => {
    const r = await call(b.url, {
      path: '/v1/credentials/orders-db',
      body: { ttl: '2h' },
      client: spireSvid(b.pki, WEB),
    });
    expect(r.status).toBe(200);
    expect(r.json.ttlSeconds).toBe(900);
  });
});

describe('refused identities get the right status and code', () => {
  const cases: [string, () => Parameters<typeof call>[1], number, string][] = [
    [
      'a foreign trust domain',
      () => ({ path: '/v1/credentials/orders-db', body: {}, client: foreignSvid() }),
      401,
      'BUNDLE_NOT_FOUND',
    ],
    [
      'an expired SVID',
      () => ({ path: '/v1/credentials/orders-db', body: {}, client: expiredSvid(b.pki, WEB) }),
      401,
      'SVID_EXPIRED',
    ],
    [
      'a CA certificate as client certificate',
      () => ({ path: '/v1/credentials/orders-db', body: {}, client: caAsClient(b.pki, WEB) }),
      401,
      'SVID_LEAF_IS_CA',
    ],
    [
      'a JWT with alg none',
      () => ({ path: '/v1/credentials/orders-db', body: {}, bearer: jwtAlgNone(WEB) }),
      401,
      'JWT_ALG_NONE',
    ],
    [
      'an HS256 JWT',
      () => ({ path: '/v1/credentials/orders-db', body: {}, bearer: jwtHs256(b.pki.spire, WEB) }),
      401,
      'JWT_ALG_HMAC',
    ],
    [
      'a JWT for another audience',
      () => ({
        path: '/v1/credentials/orders-db',
        body: {},
        bearer: jwtSvid(b.pki.spire, WEB, 'some-other-service'),
      }),
      401,
      'JWT_AUDIENCE_MISMATCH',
    ],
    [
      'a JWT signed by a foreign CA',
      () => ({
        path: '/v1/credentials/orders-db',
        body: {},
        bearer: jwtSvid(b.pki.foreign, 'spiffe://evil.org/x'),
      }),
      401,
      'BUNDLE_NOT_FOUND',
    ],
    ['no identity at all', () => ({ path: '/v1/credentials/orders-db', body: {} }), 401, 'UNAUTHENTICATED'],
    [
      'a malformed Authorization header',
      () => ({ path: '/v1/credentials', headers: { authorization: 'Basic abc' } }),
      401,
      'BEARER_MALFORMED',
    ],
    [
      'a policy miss (default deny)',
      () => ({
        path: '/v1/credentials/orders-db',
        body: {},
        client: spireSvid(b.pki, 'spiffe://example.org/ns/shop/sa/intruder'),
      }),
      403,
      'POLICY_NO_RULE',
    ],
    [
      'a mesh-issued identity where the policy requires SPIRE',
      () => ({ path: '/v1/credentials/orders-db', body: {}, client: istioCert(b.pki, 'payments', 'api') }),
      403,
      'POLICY_ISSUER_NOT_ALLOWED',
    ],
    [
      'a credential the policy does not define',
      () => ({ path: '/v1/credentials/no-such-thing', body: {}, client: spireSvid(b.pki, WEB) }),
      404,
      'CREDENTIAL_NOT_FOUND',
    ],
    [
      'an unknown body field',
      () => ({ path: '/v1/credentials/orders-db', body: { tll: '5m' }, client: spireSvid(b.pki, WEB) }),
      400,
      'REQUEST_INVALID',
    ],
    [
      'an unknown route',
      () => ({ path: '/v2/nothing', client: spireSvid(b.pki, WEB) }),
      404,
      'ROUTE_NOT_FOUND',
    ],
  ];

  function foreignSvid() {
    const s = spireSvid({ ...b.pki, spire: b.pki.foreign }, 'spiffe://evil.org/ns/shop/sa/web');
    return s;
  }

  it.each(cases)('%s', async (_name, opts, status, code) => {
    const r = await call(b.url, opts());
    expect(r.status).toBe(status);
    expect(r.json).toEqual({ error: { code, message: expect.any(String) } });
  });
});

describe('the record', () => {
  it('holds one audit record per decision, allow and deny, with issuer and client address', async () => {
    const before = await brokerDb(b.store)
      .selectFrom('broker_audit')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    await call(b.url, {
      path: '/v1/credentials/orders-db',
      body: { purpose: 'nightly' },
      client: spireSvid(b.pki, WEB),
    });
    await call(b.url, {
      path: '/v1/credentials/orders-db',
      body: {},
      client: spireSvid(b.pki, 'spiffe://example.org/ns/shop/sa/intruder'),
    });
    await call(b.url, { path: '/v1/credentials/orders-db', body: {}, client: expiredSvid(b.pki, WEB) });
    const rows = await brokerDb(b.store).selectFrom('broker_audit').selectAll().orderBy('at').execute();
    expect(rows.length - Number(before?.n)).toBe(3);
    const [allow, deny, unauth] = rows.slice(-3).map(auditFromRow);
    expect(allow).toMatchObject({
      action: 'issue',
      decision: 'allow',
      code: 'ALLOWED',
      spiffeId: WEB,
      authMethod: 'x509',
      issuerKind: 'spire',
      issuerFingerprint: b.pki.spire.root.fingerprint,
      credential: 'orders-db',
      policyVersion: expect.stringMatching(/^test-1@[0-9a-f]{12}$/),
      policyRule: 'web-orders',
      purpose: 'nightly',
      status: 200,
      clientAddress: '127.0.0.1',
    });
    expect(allow?.leaseId).toMatch(/^lse_/);
    expect(allow?.reference).toMatch(/^ephemeral:password:/);
    expect(deny).toMatchObject({
      decision: 'deny',
      code: 'POLICY_NO_RULE',
      status: 403,
      spiffeId: 'spiffe://example.org/ns/shop/sa/intruder',
    });
    expect(unauth).toMatchObject({
      decision: 'deny',
      code: 'SVID_EXPIRED',
      status: 401,
      credential: 'orders-db',
    });
    expect(unauth?.spiffeId).toBeUndefined();
    // ... and the same records as JSON lines on the log.
    const logged = b.logs
      .records()
      .filter((l) => l.audit !== undefined)
      .map((l) => (l.audit as { id: string }).id);
    for (const r of rows.slice(-3)) expect(logged).toContain(r.id);
  });

  it('serves its OpenAPI document with every route, its request and response schemas', async () => {
    const r = await call(b.url, { path: '/openapi.json' });
    expect(r.status).toBe(200);
    const paths = r.json.paths as Record<
      string,
      Record<string, { responses: Record<string, unknown>; requestBody?: unknown }>
    >;
    expect(Object.keys(paths).sort()).toEqual([
      '/oauth2/token',
      '/v1/credentials',
      '/v1/credentials/{name}',
      '/v1/leases/{id}',
    ]);
    expect(Object.keys(paths['/v1/credentials/{name}']!.post!.responses)).toEqual(
      expect.arrayContaining(['200', '401', '403', '404', '429', '503']),
    );
    expect(paths['/oauth2/token']!.post!.requestBody).toBeDefined();
    expect(r.json.openapi).toBe('3.1.0');
  });

  it('names the broker by its serving SPIFFE ID as default JWT audience', () => {
    expect(b.server.broker.audience()).toEqual([BROKER_ID]);
  });
});
