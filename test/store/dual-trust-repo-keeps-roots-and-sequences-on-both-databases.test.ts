/**
 * `migrations/0004_dual_trust.sql` and its repository on SQLite and PostgreSQL: a sync
 * replaces what is stored for (origin, trust domain) in one transaction (added, kept,
 * removed, revived), and the published spiffe_sequence stays for unchanged content and
 * grows by one for every change, with each version recorded.
 */
import { describe, expect, it } from 'vitest';
import {
  loadBundleSequence,
  loadTrustRoots,
  publishBundleVersion,
  saveTrustRoots,
  type TrustRootRow,
} from '../../src/store/dual-trust-repo.js';
import { openStore, type Store } from '../../src/store/index.js';
import { PG_SKIPPED, TARGETS, type TargetCase } from './targets.js';

const T0 = new Date('2026-11-01T00:00:00.000Z');
const T1 = new Date('2026-11-02T00:00:00.000Z');
const at = (d: Date) => () => d;
const root = (n: number): TrustRootRow => ({
  kind: 'x509-svid',
  keyId: n.toString(16).padStart(64, '0'),
  material: Buffer.from(`der-${n}`).toString('base64'),
  subject: `CN=root ${n}`,
  notBefore: T0.toISOString(),
  notAfter: '2027-01-01T00:00:00.000Z',
});

async function withStore<T>(tc: TargetCase, fn: (store: Store) => Promise<T>): Promise<T> {
  const fresh = await tc.fresh();
  const store = await openStore(fresh.target);
  try {
    return await fn(store);
  } finally {
    await store.close();
    await fresh.cleanup();
  }
}

describe.each(TARGETS)('dual-trust repository on $name', (tc) => {
  it('a sync adds, keeps and removes roots of one origin and trust domain, and revives a returning one', async () => {
    await withStore(tc, async (store) => {
      const base = { origin: 'spire' as const, trustDomain: 'example.org', source: 'spire.json' };
      expect(
        await saveTrustRoots(
          store,
          { ...base, rows: [root(1), root(2)], sourceSequence: '18446744073709551615' },
          { clock: at(T0) },
        ),
      ).toMatchObject({
        added: 2,
        removed: 0,
        kept: 0,
      });
      await saveTrustRoots(store, {
        origin: 'federated',
        trustDomain: 'partner.example',
        source: 'https://p/b',
        rows: [root(9)],
      });
      expect(
        await saveTrustRoots(store, { ...base, rows: [root(2), root(3)] }, { clock: at(T1) }),
      ).toMatchObject({
        added: 1,
        removed: 1,
        kept: 1,
      });
      const live = await loadTrustRoots(store, { origin: 'spire' });
      expect(live.map((r) => [r.keyId.slice(-1), r.firstSeen, r.lastSeen, r.entersPhase])).toEqual([
        ['2', T0.toISOString(), T1.toISOString(), 'dual-trust'],
        ['3', T1.toISOString(), T1.toISOString(), 'dual-trust'],
      ]);
      const all = await loadTrustRoots(store, { trustDomain: 'example.org', includeRemoved: true });
      expect(all.find((r) => r.keyId.endsWith('1'))?.removedAt).toBe(T1.toISOString());
      expect(await saveTrustRoots(store, { ...base, rows: [root(1), root(2), root(3)] })).toMatchObject({
        added: 1,
        kept: 2,
      });
      expect((await loadTrustRoots(store, { trustDomain: 'partner.example' })).map((r) => r.origin)).toEqual([
        'federated',
      ]);
    });
  });

  it('publishes a sequence that stays for the same content and grows by one on change', async () => {
    await withStore(tc, async (store) => {
      const pub = (digest: string, phase = 'dual-trust') =>
        publishBundleVersion(store, {
          scope: 'istio/east',
          trustDomain: 'cluster.local',
          digest,
          phase,
          roots: [digest],
        });
      expect(await pub('a')).toEqual({ sequence: 1n, changed: true });
      expect(await pub('a')).toEqual({ sequence: 1n, changed: false });
      expect(await pub('b', 'spiffe-only')).toEqual({ sequence: 2n, changed: true });
      expect(await pub('a')).toEqual({ sequence: 3n, changed: true });
      expect(await loadBundleSequence(store, 'istio/east', 'cluster.local')).toMatchObject({
        sequence: 3n,
        digest: 'a',
      });
      expect(await loadBundleSequence(store, '*', 'cluster.local')).toBeUndefined();
      const versions = await store.db
        .withTables<{ bundle_versions: { sequence: number | string; phase: string } }>()
        .selectFrom('bundle_versions')
        .select(['sequence', 'phase'])
        .orderBy('sequence')
        .execute();
      expect(versions.map((v) => [Number(v.sequence), v.phase])).toEqual([
        [1, 'dual-trust'],
        [2, 'spiffe-only'],
        [3, 'dual-trust'],
      ]);
    });
  });
});

if (PG_SKIPPED !== null) {
  describe.skip(`dual-trust repository on postgres — SKIPPED: ${PG_SKIPPED}`, () => {
    it('needs a PostgreSQL server', () => {});
  });
}
