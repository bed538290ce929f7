/**
 * 429 per identity with Retry-After; and when the audit record cannot be written the
 * request fails (503) and the credential the backend had already minted is revoked.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { startBroker, type TestBroker } from './helpers/broker.js';
import { CountingBackend } from './helpers/counting-backend.js';
import { call, spireSvid } from './helpers/world.js';

const WEB = 'spiffe://example.org/ns/shop/sa/web';
let b: TestBroker | undefined;
afterEach(async () => {
  await b?.close();
  b = undefined;
});

describe('limits and failures', () => {
  it('answers 429 with Retry-After once an identity spent its burst, without touching others', async () => {
    b = await startBroker({ rateLimit: '{ ratePerSecond: 0.5, burst: 3 }' });
    const web = spireSvid(b.pki, WEB);
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 5; i++) {
      last = await call(b.url, { path: '/v1/credentials/orders-db', body: {}, client: web });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    expect(last?.json).toMatchObject({ error: { code: 'RATE_LIMITED' } });
    expect(Number(last?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    const other = await call(b.url, {
      path: '/v1/credentials/reports-key',
      body: {},
      client: spireSvid(b.pki, 'spiffe://example.org/ns/billing/sa/x'),
    });
    expect(other.status).toBe(200);
  });

  it('fails the request and takes the credential back when the audit record cannot be stored', async () => {
    const store = await openStore(':memory:');
    const backend = new CountingBackend();
    b = await startBroker({ store, backends: new Map([['ephemeral', backend]]) });
    const web = spireSvid(b.pki, WEB);
    expect((await call(b.url, { path: '/v1/credentials/orders-db', body: {}, client: web })).status).toBe(
      200,
    );

    await store.close(); // the database goes away
    const r = await call(b.url, { path: '/v1/credentials/orders-db', body: {}, client: web });
    expect(r.status).toBe(503);
    expect(r.json).toMatchObject({ error: { code: 'AUDIT_UNAVAILABLE' } });
    expect(r.headers['retry-after']).toBeDefined();
    expect(r.json.secret).toBeUndefined();
    expect(backend.revocations.size).toBe(1); // the second credential was withdrawn downstream

    const denied = await call(b.url, {
      path: '/v1/credentials/orders-db',
      body: {},
      client: spireSvid(b.pki, 'spiffe://example.org/ns/shop/sa/intruder'),
    });
    expect(denied.status).toBe(503); // a denial that cannot be recorded fails too
    expect(denied.json).toMatchObject({ error: { code: 'AUDIT_UNAVAILABLE' } });

    // Each failure is logged at error level with the record that could not be stored.
    const failures = b.logs.records().filter((l) => l.level === 50);
    expect(failures.map((l) => [l.msg, (l.audit as { decision: string }).decision])).toEqual([
      ['audit/lease write failed; credential withdrawn and request failed', 'allow'],
      ['audit write failed; request failed', 'deny'],
    ]);
    const withdrawn = failures[0]!.audit as { leaseId?: string; reference?: string };
    expect(withdrawn.leaseId).toMatch(/^lse_/);
    // Not even the withdrawn credential's value reaches the log.
    const logged = b.logs.text;
    for (const value of backend.issued.filter((v) => v.length >= 16)) expect(logged).not.toContain(value);
    expect(backend.issued.length).toBeGreaterThan(0);
  });

  it('tells a metrics hook about every decision, with the backend latency of issuances', async () => {
    const seen: { decision: string; code: string; credential?: string; backendMs?: number }[] = [];
    b = await startBroker({
      deps: {
        onDecision: (r, t) =>
          seen.push({ decision: r.decision, code: r.code, credential: r.credential, backendMs: t.backendMs }),
      },
    });
    await call(b.url, { path: '/v1/credentials/orders-db', body: {}, client: spireSvid(b.pki, WEB) });
    await call(b.url, {
      path: '/v1/credentials/orders-db',
      body: {},
      client: spireSvid(b.pki, 'spiffe://example.org/x/y'),
    });
    expect(seen).toEqual([
      { decision: 'allow', code: 'ALLOWED', credential: 'orders-db', backendMs: expect.any(Number) },
      { decision: 'deny', code: 'POLICY_NO_RULE', credential: 'orders-db', backendMs: undefined },
    ]);
  });
});
