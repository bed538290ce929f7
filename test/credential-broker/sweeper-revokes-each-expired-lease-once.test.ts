/**
 * Several lease managers (as several broker processes would) on one store: every
 * expired lease is revoked downstream exactly once, whoever sweeps, on SQLite and on
 * PostgreSQL; a failed revocation is kept, recorded and retried after its back-off.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createBrokerLogger } from '../../src/credential-broker/audit.js';
import { LeaseManager, newLeaseId } from '../../src/credential-broker/leases.js';
import { brokerDb } from '../../src/credential-broker/schema.js';
import { BatchWriter } from '../../src/credential-broker/writer.js';
import { openStore, type Store } from '../../src/store/index.js';
import { type FreshTarget, PG_SKIPPED, TARGETS } from '../store/targets.js';
import { CountingBackend } from './helpers/counting-backend.js';
import { LogSink } from './helpers/world.js';

let now = new Date('2026-03-02T10:00:00Z');
const clock = () => now;

interface Node {
  store: Store;
  manager: LeaseManager;
  writer: BatchWriter;
}

async function node(target: string, instance: string, backend: CountingBackend): Promise<Node> {
  const store = await openStore(target);
  const writer = new BatchWriter(store);
  const manager = new LeaseManager({
    store,
    writer,
    backends: new Map([[backend.name, backend]]),
    logger: createBrokerLogger({ destination: new LogSink(), level: 'warn' }),
    instance,
    clock,
    retrySeconds: 30,
  });
  return { store, manager, writer };
}

async function seedLeases(n: Node, count: number, ttlSeconds: number): Promise<string[]> {
  const ids: string[] = [];
  const rows = [];
  for (let i = 0; i < count; i++) {
    const id = newLeaseId();
    ids.push(id);
    rows.push({
      id,
      spiffe_id: `spiffe://example.org/ns/shop/sa/w${i % 7}`,
      auth_method: 'x509' as const,
      issuer_kind: 'spire',
      issuer_fingerprint: 'f'.repeat(64),
      credential: 'orders-db',
      backend: 'ephemeral',
      backend_lease_id: `eph_${id}`,
      reference: `ephemeral:password:${id}`,
      policy_version: 'v1@000000000000',
      purpose: null,
      issued_at: now.toISOString(),
      expires_at: new Date(now.getTime() + ttlSeconds * 1000).toISOString(),
    });
  }
  await Promise.all(rows.map((r) => n.writer.write({ leases: [r] })));
  return ids;
}

describe.each(TARGETS)('lease sweeper on $name', (tc) => {
  let fresh: FreshTarget;
  const nodes: Node[] = [];
  afterEach(async () => {
    for (const n of nodes.splice(0)) {
      await n.manager.stop();
      await n.store.close();
    }
    await fresh?.cleanup();
  });

  it('revokes every expired lease exactly once across three concurrent sweepers, and nothing early', async () => {
    now = new Date('2026-03-02T10:00:00Z');
    fresh = await tc.fresh();
    const backend = new CountingBackend();
    for (const name of ['a', 'b', 'c']) nodes.push(await node(fresh.target, `broker-${name}`, backend));
    const expiring = await seedLeases(nodes[0]!, 60, 60);
    const lasting = await seedLeases(nodes[1]!, 10, 3600);

    now = new Date(now.getTime() + 120_000);
    const reports = await Promise.all([
      ...nodes.map((n) => n.manager.sweep()),
      ...nodes.map((n) => n.manager.sweep()),
    ]);
    // A second sweep() in the same process shares the running one (same report object).
    const distinct = () => [...new Set(reports)].flatMap((r) => r.revoked);
    // Sweeps that lost the lock did nothing; run again until everything due is done.
    for (let i = 0; i < 5 && distinct().length < expiring.length; i++) {
      reports.push(...(await Promise.all(nodes.map((n) => n.manager.sweep()))));
    }
    const revoked = distinct();
    expect(revoked.sort()).toEqual([...expiring].sort());
    for (const id of expiring) expect(backend.revocations.get(`eph_${id}`)).toBe(1);
    for (const id of lasting) expect(backend.revocations.has(`eph_${id}`)).toBe(false);

    const db = brokerDb(nodes[0]!.store);
    const rows = await db
      .selectFrom('broker_leases')
      .selectAll()
      .where('revoked_at', 'is not', null)
      .execute();
    expect(rows.map((r) => r.id).sort()).toEqual([...expiring].sort());
    expect(new Set(rows.map((r) => r.revoke_reason))).toEqual(new Set(['expired']));
    const audits = await db
      .selectFrom('broker_audit')
      .select(['lease_id', 'action', 'code'])
      .where('action', '=', 'expire')
      .execute();
    expect(audits).toHaveLength(expiring.length);
    expect(new Set(audits.map((a) => a.lease_id)).size).toBe(expiring.length);

    expect(await nodes[2]!.manager.counts()).toEqual({ active: 10, revoked: 60, overdue: 0 });
  });

  it('never revokes a lease twice even when two processes race on the same lease', async () => {
    now = new Date('2026-03-02T10:00:00Z');
    fresh = await tc.fresh();
    const backend = new CountingBackend('ephemeral', undefined, 10);
    nodes.push(await node(fresh.target, 'broker-a', backend), await node(fresh.target, 'broker-b', backend));
    const ids = await seedLeases(nodes[0]!, 20, 60);
    now = new Date(now.getTime() + 61_000);
    const outcomes = await Promise.all(
      ids.flatMap((id) => [nodes[0]!.manager.revoke(id, 'expired'), nodes[1]!.manager.revoke(id, 'expired')]),
    );
    expect(outcomes.filter((o) => o.outcome === 'revoked')).toHaveLength(ids.length);
    for (const id of ids) expect(backend.revocations.get(`eph_${id}`)).toBe(1);
  });

  it('keeps a lease whose downstream revocation failed, records why, and retries after the back-off', async () => {
    now = new Date('2026-03-02T10:00:00Z');
    fresh = await tc.fresh();
    const backend = new CountingBackend();
    nodes.push(await node(fresh.target, 'broker-a', backend));
    const [id] = await seedLeases(nodes[0]!, 1, 60);
    now = new Date(now.getTime() + 61_000);
    backend.failRevoke = true;
    const first = await nodes[0]!.manager.sweep();
    expect(first.failed).toEqual([{ id, error: expect.stringContaining('cannot revoke now') }]);
    const kept = await nodes[0]!.manager.get(id!);
    expect(kept?.revokedAt).toBeUndefined();
    expect(kept?.revokeError).toContain('cannot revoke now');

    backend.failRevoke = false;
    expect((await nodes[0]!.manager.sweep()).revoked).toEqual([]); // still backing off
    now = new Date(now.getTime() + 31_000);
    expect((await nodes[0]!.manager.sweep()).revoked).toEqual([id]);
    expect(backend.revocations.get(`eph_${id}`)).toBe(1);
    expect((await nodes[0]!.manager.get(id!))?.revokeAttempts).toBe(2);
  });
});

if (PG_SKIPPED !== null) {
  describe('lease sweeper on postgres', () => {
    it.skip(`skipped: ${PG_SKIPPED}`, () => undefined);
  });
}
