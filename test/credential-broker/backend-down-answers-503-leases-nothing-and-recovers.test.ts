/**
 * Through the Vault backend, against the in-repo Vault double (NOT Vault): dynamic
 * database credentials with their Vault lease; when Vault goes away the broker
 * answers 503 with a code and Retry-After and leases nothing; when it comes back the
 * broker serves again by itself; ending a lease revokes it in Vault.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerDb } from '../../src/credential-broker/schema.js';
import { VaultDouble } from '../doubles/vault-double.js';
import { startBroker, type TestBroker } from './helpers/broker.js';
import { call, spireSvid } from './helpers/world.js';

const WEB = 'spiffe://example.org/ns/shop/sa/web';
let vault: VaultDouble;
let b: TestBroker;

const POLICY = `
credentials:
  orders-dyn:
    backend: vault-prod
    spec: { type: vault, kind: database, role: orders }
    ttl: 10m
  deploy-token:
    backend: vault-prod
    spec: { type: vault, kind: token, policies: [deploy] }
    ttl: 2m
rules:
  - name: web
    subjects: [${WEB}]
    credentials: [orders-dyn, deploy-token]
`;

beforeAll(async () => {
  vault = await VaultDouble.start({
    databaseRoles: { orders: { ttlSeconds: 3600 } },
    policies: { deploy: ['secret/data/deploy/*'] },
  });
  b = await startBroker({
    policy: POLICY,
    backendsYaml: `    - { type: vault, name: vault-prod, address: "${vault.url}", token: "${vault.rootToken}", requestTimeoutMs: 2000 }`,
  });
});
afterAll(async () => {
  await b?.close();
  await vault?.stop();
});

async function leaseCount(): Promise<number> {
  const r = await brokerDb(b.store)
    .selectFrom('broker_leases')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}

const ask = (credential = 'orders-dyn') =>
  call(b.url, { path: `/v1/credentials/${credential}`, body: {}, client: spireSvid(b.pki, WEB) });

describe('a backend that goes down', () => {
  it('issues dynamic database credentials with their Vault lease while Vault is up', async () => {
    const r = await ask();
    expect(r.status).toBe(200);
    expect(r.json.ttlSeconds).toBe(600);
    const secret = r.json.secret as Record<string, string>;
    expect(Object.keys(secret).sort()).toEqual(['password', 'username']);
    const lease = await b.server.broker.leases.get(r.json.leaseId as string);
    expect(lease?.backend).toBe('vault-prod');
    expect(vault.lease(lease!.backendLeaseId!)).toMatchObject({
      engine: 'database',
      role: 'orders',
      revoked: false,
    });
  });

  it.each(['refuse', 'sealed', 'error'] as const)(
    'answers 503 with a code and Retry-After, and leases nothing, while Vault is %s',
    async (mode) => {
      const before = await leaseCount();
      await vault.goDown(mode);
      try {
        const r = await ask();
        expect(r.status).toBe(503);
        expect(r.json).toEqual({
          error: { code: 'BACKEND_UNAVAILABLE', message: expect.stringContaining('vault-prod') },
        });
        expect(r.headers['retry-after']).toBe('2');
        expect(await leaseCount()).toBe(before);
        const audit = await brokerDb(b.store)
          .selectFrom('broker_audit')
          .selectAll()
          .orderBy('at', 'desc')
          .limit(1)
          .executeTakeFirst();
        expect(audit).toMatchObject({
          decision: 'error',
          code: 'BACKEND_UNAVAILABLE',
          status: 503,
          lease_id: null,
        });
      } finally {
        await vault.comeBack();
      }
      // ... and resumes by itself once Vault is back.
      const again = await ask();
      expect(again.status).toBe(200);
      expect(await leaseCount()).toBe(before + 1);
    },
  );

  it('revokes the Vault lease when its holder ends it, once', async () => {
    const r = await ask();
    const leaseId = r.json.leaseId as string;
    const vaultLease = (await b.server.broker.leases.get(leaseId))!.backendLeaseId!;
    const del = await call(b.url, {
      method: 'DELETE',
      path: `/v1/leases/${leaseId}`,
      client: spireSvid(b.pki, WEB),
    });
    expect(del.status).toBe(200);
    expect(del.json).toMatchObject({ leaseId, alreadyRevoked: false });
    expect(vault.lease(vaultLease)).toMatchObject({ revoked: true, revocations: 1 });
    const again = await call(b.url, {
      method: 'DELETE',
      path: `/v1/leases/${leaseId}`,
      client: spireSvid(b.pki, WEB),
    });
    expect(again.json).toMatchObject({ leaseId, alreadyRevoked: true });
    expect((await b.server.broker.leases.get(leaseId))?.revokeReason).toBe('requested');
  });

  it('keeps a lease when Vault cannot revoke it, and says so with 503', async () => {
    const r = await ask();
    const leaseId = r.json.leaseId as string;
    await vault.goDown('refuse');
    try {
      const del = await call(b.url, {
        method: 'DELETE',
        path: `/v1/leases/${leaseId}`,
        client: spireSvid(b.pki, WEB),
      });
      expect(del.status).toBe(503);
      expect(del.headers['retry-after']).toBeDefined();
      const lease = await b.server.broker.leases.get(leaseId);
      expect(lease?.revokedAt).toBeUndefined();
      expect(lease?.revokeError).toBeDefined();
    } finally {
      await vault.comeBack();
    }
  });

  it('hides another identity’s lease behind 404', async () => {
    const r = await ask();
    const other = await call(b.url, {
      method: 'DELETE',
      path: `/v1/leases/${r.json.leaseId as string}`,
      client: spireSvid(b.pki, 'spiffe://example.org/ns/shop/sa/intruder'),
    });
    expect(other.status).toBe(404);
    expect(other.json).toMatchObject({ error: { code: 'LEASE_NOT_FOUND' } });
  });

  it('mints Vault tokens with the granted TTL', async () => {
    const r = await ask('deploy-token');
    expect(r.status).toBe(200);
    expect((r.json.secret as Record<string, string>).token).toBeDefined();
    expect(r.json.ttlSeconds).toBe(120);
  });
});
