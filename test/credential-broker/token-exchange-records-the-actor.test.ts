/**
 * RFC 8693 token exchange at POST /oauth2/token: a JWT-SVID as subject token, an
 * optional actor token (who the workload acts for) recorded in the audit record.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditFromRow } from '../../src/credential-broker/audit.js';
import type { EphemeralBackend } from '../../src/credential-broker/backends/index.js';
import { brokerDb } from '../../src/credential-broker/schema.js';
import { startBroker, type TestBroker } from './helpers/broker.js';
import { call, jwtAlgNone, jwtHs256, jwtSvid } from './helpers/world.js';

const WEB = 'spiffe://example.org/ns/shop/sa/web';
const AGENT = 'spiffe://example.org/ns/agents/sa/copilot';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';

let b: TestBroker;
beforeAll(async () => {
  b = await startBroker();
});
afterAll(async () => {
  await b?.close();
});

/** POST /oauth2/token (form-encoded) with WEB's JWT-SVID as subject token, plus `fields`. */
function exchange(fields: Record<string, string>) {
  return call(b.url, {
    path: '/oauth2/token',
    form: true,
    body: { grant_type: GRANT, subject_token: jwtSvid(b.pki.spire, WEB), subject_token_type: JWT, ...fields },
  });
}

async function lastAudit() {
  const row = await brokerDb(b.store)
    .selectFrom('broker_audit')
    .selectAll()
    .orderBy('at', 'desc')
    .limit(1)
    .executeTakeFirstOrThrow();
  return auditFromRow(row);
}

describe('POST /oauth2/token', () => {
  it('exchanges a JWT-SVID for a short-lived token credential (form-encoded)', async () => {
    const r = await exchange({ audience: 'orders-token' });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      token_type: 'Bearer',
      expires_in: 120,
    });
    expect(r.headers['cache-control']).toBe('no-store');
    const backend = b.server.broker.backends.get('ephemeral') as EphemeralBackend;
    expect(backend.verifyToken(r.json.access_token as string, { audience: 'orders' })).toMatchObject({
      sub: WEB,
      cred: 'orders-token',
    });
    expect(await lastAudit()).toMatchObject({
      action: 'exchange',
      decision: 'allow',
      spiffeId: WEB,
      leaseId: r.json.lease_id,
    });
  });

  it('records a verified actor (a JWT-SVID) and an unverified one by its claimed subject only', async () => {
    const actorToken = jwtSvid(b.pki.spire, AGENT);
    const r = await call(b.url, {
      path: '/oauth2/token',
      body: {
        grant_type: GRANT,
        subject_token: jwtSvid(b.pki.spire, WEB),
        subject_token_type: JWT,
        resource: 'urn:meshbridge:credential:orders-token',
        actor_token: actorToken,
        actor_token_type: JWT,
      },
    });
    expect(r.status).toBe(200);
    expect((await lastAudit()).actor).toEqual({
      sub: AGENT,
      verified: true,
      type: 'jwt-svid',
      issuer: 'spire',
    });

    const userToken = jwtHs256(b.pki.spire, 'spiffe://example.org/user/alice');
    await exchange({
      audience: 'orders-token',
      actor_token: userToken,
      actor_token_type: 'urn:ietf:params:oauth:token-type:id_token',
    });
    const a = await lastAudit();
    expect(a.actor).toEqual({
      sub: 'spiffe://example.org/user/alice',
      verified: false,
      type: 'urn:ietf:params:oauth:token-type:id_token',
    });
    expect(JSON.stringify(a)).not.toContain(userToken.split('.')[2]!);
  });

  it('refuses bad subject tokens with 401 and the rule code', async () => {
    const r = await call(b.url, {
      path: '/oauth2/token',
      form: true,
      body: {
        grant_type: GRANT,
        subject_token: jwtAlgNone(WEB),
        subject_token_type: JWT,
        audience: 'orders-token',
      },
    });
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ error: { code: 'JWT_ALG_NONE' } });
    expect(await lastAudit()).toMatchObject({
      action: 'exchange',
      decision: 'deny',
      code: 'JWT_ALG_NONE',
      credential: 'orders-token',
    });
  });

  it('refuses other grants and token types with 400', async () => {
    const base = {
      subject_token: jwtSvid(b.pki.spire, WEB),
      subject_token_type: JWT,
      audience: 'orders-token',
    };
    const grant = await call(b.url, {
      path: '/oauth2/token',
      form: true,
      body: { ...base, grant_type: 'client_credentials' },
    });
    expect(grant.status).toBe(400);
    expect(grant.json).toMatchObject({ error: { code: 'TOKEN_EXCHANGE_UNSUPPORTED' } });
    const type = await call(b.url, {
      path: '/oauth2/token',
      form: true,
      body: { ...base, grant_type: GRANT, subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' },
    });
    expect(type.json).toMatchObject({ error: { code: 'TOKEN_EXCHANGE_UNSUPPORTED' } });
    const missing = await call(b.url, { path: '/oauth2/token', form: true, body: { grant_type: GRANT } });
    expect(missing.status).toBe(400);
    expect(missing.json).toMatchObject({ error: { code: 'REQUEST_INVALID' } });
  });

  it('takes back a credential that is not a single token', async () => {
    const r = await exchange({ audience: 'orders-db' });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: { code: 'TOKEN_EXCHANGE_NOT_A_TOKEN' } });
    const leases = await b.server.broker.leases.list({ credential: 'orders-db' });
    expect(leases[0]?.revokedAt).toBeDefined();
  });
});
