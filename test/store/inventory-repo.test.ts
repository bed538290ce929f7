import { describe, expect, it } from 'vitest';
import {
  loadInventory,
  openStore,
  type SaveImportInput,
  StoreError,
  saveImport,
  sourceId,
} from '../../src/store/index.js';
import { bulkImport, fp, smallImport } from './rows.js';
import { counts, PG_SKIPPED, snapshot, TARGETS, type TargetCase } from './targets.js';

const T0 = new Date('2026-03-01T10:00:00.000Z');
const T1 = new Date('2026-03-02T11:30:00.000Z');
const at = (d: Date) => () => d;

async function withStore<T>(
  tc: TargetCase,
  fn: (store: Awaited<ReturnType<typeof openStore>>) => Promise<T>,
) {
  const fresh = await tc.fresh();
  const store = await openStore(fresh.target);
  try {
    return await fn(store);
  } finally {
    await store.close();
    await fresh.cleanup();
  }
}

describe.each(TARGETS)('inventory repository on $name', (tc) => {
  it('saves an import whole and loads it back as plain rows', async () => {
    await withStore(tc, async (store) => {
      const input = smallImport({ summary: { tool: 'test' }, startedAt: '2026-03-01T09:59:00Z' });
      const res = await saveImport(store, input, { clock: at(T0) });
      expect(res).toMatchObject({
        savedAt: T0.toISOString(),
        certificates: { total: 5, added: 5, updated: 0 },
        sources: 2,
        links: 6,
        problems: 2,
        keys: 1,
      });
      expect(await counts(store)).toEqual({
        imports: 1,
        sources: 2,
        certificates: 5,
        certificate_sources: 6,
        problems: 2,
        private_keys_seen: 1,
      });

      const inv = await loadInventory(store);
      expect(inv.imports).toEqual([
        {
          id: res.importId,
          startedAt: '2026-03-01T09:59:00.000Z',
          finishedAt: T0.toISOString(),
          mesh: 'istio',
          cluster: 'east',
          status: 'complete',
          summary: {
            counts: { certificates: 5, added: 5, updated: 0, sources: 2, links: 6, problems: 2, keys: 1 },
            tool: 'test',
          },
        },
      ]);
      expect(inv.certificates.map((c) => c.role)).toEqual([
        'anchor',
        'intermediate',
        'workload',
        'workload',
        'workload',
      ]);
      const web = inv.certificates.find((c) => c.serviceAccount === 'web')!;
      const cacerts = sourceId('istio-cacerts', 'secret/istio-system/cacerts', 'istio', 'east');
      const dump = sourceId('envoy-config-dump', 'pods/config_dump.json', 'istio', 'east');
      expect(web).toEqual({
        fingerprint: fp('workload-web'),
        role: 'workload',
        mesh: 'istio',
        cluster: 'east',
        subject: '',
        issuer: 'O=cluster.local',
        serial: '01',
        notBefore: '2026-01-01T00:00:00.000Z',
        notAfter: '2026-01-02T00:00:00.000Z',
        keyAlgorithm: 'ECDSA P-256',
        keySize: 256,
        spiffeId: 'spiffe://cluster.local/ns/shop/sa/web',
        meshIdentity: 'spiffe://cluster.local/ns/shop/sa/web',
        namespace: 'shop',
        serviceAccount: 'web',
        san: ['URI:spiffe://cluster.local/ns/shop/sa/web'],
        issuerFingerprint: fp('intermediate'),
        anchorFingerprint: fp('anchor'),
        der: null,
        firstSeen: T0.toISOString(),
        lastSeen: T0.toISOString(),
        sourceIds: [dump],
      });
      const anchor = inv.certificates[0]!;
      expect(anchor.sourceIds.sort()).toEqual([cacerts, dump].sort());
      expect(inv.sources.map((s) => s.kind).sort()).toEqual(['envoy-config-dump', 'istio-cacerts']);
      expect(inv.problems.map((p) => p.code)).toEqual(['CERT_EXPIRING', 'PEM_CORRUPT']);
      expect(inv.problems[0]).toMatchObject({ fingerprint: fp('workload-web'), details: { window: '20%' } });
      expect(inv.problems[1]).toMatchObject({ fingerprint: null, details: null });
      expect(inv.keys).toEqual([
        expect.objectContaining({
          sourceId: cacerts,
          keyType: 'rsa-4096',
          matchesFingerprint: fp('intermediate'),
        }),
      ]);

      const withDer = await loadInventory(store, { withDer: true, role: 'anchor' });
      expect(withDer.certificates).toHaveLength(1);
      expect(withDer.certificates[0]!.der).toBe(input.certificates[0]!.der);
    });
  });

  it('filters by role, scope, namespace, expiry and anchor', async () => {
    await withStore(tc, async (store) => {
      await saveImport(store, smallImport(), { clock: at(T0) });
      await saveImport(store, bulkImport(30, 'west'), { clock: at(T0) });
      const byRole = await loadInventory(store, { role: ['anchor', 'intermediate'] });
      expect(byRole.certificates).toHaveLength(3);
      const east = await loadInventory(store, { mesh: 'istio', cluster: 'east' });
      expect(east.certificates).toHaveLength(5);
      expect(east.sources).toHaveLength(2);
      expect(east.links.every((l) => east.certificates.some((c) => c.fingerprint === l.fingerprint))).toBe(
        true,
      );
      expect(east.problems).toHaveLength(2);
      const west = await loadInventory(store, { cluster: 'west' });
      expect(west.certificates).toHaveLength(31);
      expect(west.problems).toHaveLength(0);
      const ns = await loadInventory(store, { namespace: 'ns7' });
      expect(ns.certificates.map((c) => c.serviceAccount).sort()).toEqual(['sa7']);
      const soon = await loadInventory(store, { expiringBefore: '2026-01-02T12:00:00Z', role: 'workload' });
      expect(soon.certificates.map((c) => c.serviceAccount).sort()).toEqual(
        ['web', ...Array.from({ length: 30 }, (_, i) => `sa${i}`)].sort(),
      );
      const underAnchor = await loadInventory(store, { anchor: fp('anchor') });
      expect(underAnchor.certificates).toHaveLength(4);
    });
  });

  it('re-import is idempotent: last_seen moves, first_seen stays, no duplicate rows, new links kept', async () => {
    await withStore(tc, async (store) => {
      const first = smallImport();
      // The first time, the importer did not yet know the api workload's anchor.
      first.certificates[3] = { ...first.certificates[3]!, anchorFingerprint: null };
      await saveImport(store, first, { clock: at(T0) });
      const before = await counts(store);

      const again = smallImport({
        sources: [...smallImport().sources, { kind: 'pem-file', locator: 'backup/root.pem' }],
        links: [{ fingerprint: fp('anchor'), source: 'backup/root.pem' }],
        problems: [{ code: 'CERT_EXPIRED', source: 'pods/config_dump.json', message: 'expired' }],
      });
      // A later reader saw an unrelated mesh/cluster for the anchor: the first stays.
      again.certificates[0] = { ...again.certificates[0]!, mesh: 'linkerd', cluster: 'west' };
      const res = await saveImport(store, again, { clock: at(T1) });
      expect(res.certificates).toEqual({ total: 5, added: 0, updated: 5 });

      const after = await counts(store);
      expect(after).toEqual({
        ...before,
        imports: 2,
        sources: before.sources! + 1,
        certificate_sources: before.certificate_sources! + 1,
        problems: before.problems! + 1,
      });
      const inv = await loadInventory(store, { problems: 'latest' });
      for (const c of inv.certificates) {
        expect(c.firstSeen).toBe(T0.toISOString());
        expect(c.lastSeen).toBe(T1.toISOString());
      }
      const anchor = inv.certificates.find((c) => c.role === 'anchor')!;
      expect(anchor).toMatchObject({ mesh: 'istio', cluster: 'east' });
      expect(anchor.sourceIds).toHaveLength(3);
      expect(inv.certificates.find((c) => c.serviceAccount === 'api')!.anchorFingerprint).toBe(fp('anchor'));
      expect(inv.links.filter((l) => l.fingerprint === fp('workload-db'))[0]!.seenAt).toBe(T1.toISOString());
      const dump = inv.sources.find((s) => s.locator === 'pods/config_dump.json')!;
      expect(dump).toMatchObject({
        firstSeen: T0.toISOString(),
        lastSeen: T1.toISOString(),
        importId: res.importId,
      });
      // The key sighting of a source is replaced, not duplicated.
      expect(inv.keys).toHaveLength(1);
      expect(inv.keys[0]!.importId).toBe(res.importId);
      // Problems: the latest import of the scope only, unless asked for all.
      expect(inv.problems.map((p) => p.code)).toEqual(['CERT_EXPIRED']);
      expect((await loadInventory(store, { problems: 'all' })).problems).toHaveLength(3);
      expect((await loadInventory(store, { problems: 'none' })).problems).toHaveLength(0);

      // Exactly the same material a third time: nothing new but the import record.
      const third = await saveImport(store, again, { clock: at(T1) });
      expect(third.certificates.added).toBe(0);
      expect(await counts(store)).toEqual({ ...after, imports: 3, problems: after.problems! + 1 });
    });
  });

  it('a failing insert mid-transaction leaves the store unchanged', async () => {
    await withStore(tc, async (store) => {
      await saveImport(store, smallImport(), { clock: at(T0) });
      const before = await snapshot(store);
      // 2,500 good certificates (three batches) go in, then a link to a certificate that
      // exists nowhere breaks the foreign key: all of it must roll back.
      const bad = bulkImport(2500, 'doomed');
      bad.links = [{ fingerprint: fp('nowhere'), source: 'doomed.pem' }];
      const stages: string[] = [];
      const err = await saveImport(store, bad, {
        clock: at(T1),
        onProgress: (p) => {
          stages.push(`${p.stage}:${p.done}`);
        },
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect(err).toMatchObject({ code: 'STORE_CONSTRAINT_VIOLATED', category: 'input' });
      expect(stages).toContain('certificates:2501');
      expect(await snapshot(store)).toBe(before);
      // ... and the store still takes writes.
      await saveImport(store, bulkImport(10, 'after'), { clock: at(T1) });
      expect((await counts(store)).certificates).toBe(5 + 11);
    });
  });

  it('refuses bad input before writing anything: STORE_INPUT_INVALID', async () => {
    await withStore(tc, async (store) => {
      const before = await snapshot(store);
      const cases: Array<[string, (i: SaveImportInput) => void]> = [
        ['uppercase fingerprint', (i) => (i.certificates[0]!.fingerprint = fp('x').toUpperCase())],
        ['unknown role', (i) => (i.certificates[0]!.role = 'root' as never)],
        ['bad time', (i) => (i.certificates[0]!.notAfter = 'next tuesday')],
        ['not base64', (i) => (i.certificates[0]!.der = '-----BEGIN CERTIFICATE-----')],
        ['unknown source', (i) => (i.certificates[0]!.sources = ['nope.pem'])],
        ['key from unknown source', (i) => (i.keys = [{ source: 'nope.pem', keyType: 'ec-p256' }])],
      ];
      for (const [name, mutate] of cases) {
        const input = smallImport();
        mutate(input);
        const err = await saveImport(store, input).catch((e: unknown) => e);
        expect((err as StoreError).code, name).toBe('STORE_INPUT_INVALID');
      }
      expect(await snapshot(store)).toBe(before);
    });
  });
});

describe('inventory repository at scale (sqlite)', () => {
  it('saves 100,000 certificates in one transaction within seconds, and re-imports them', async () => {
    const fresh = await TARGETS[0]!.fresh();
    const store = await openStore(fresh.target);
    try {
      const input = bulkImport(100_000, 'scale', 700);
      let t = performance.now();
      const res = await saveImport(store, input, { clock: at(T0) });
      const firstMs = performance.now() - t;
      t = performance.now();
      const again = await saveImport(store, input, { clock: at(T1) });
      const againMs = performance.now() - t;
      t = performance.now();
      const inv = await loadInventory(store, { problems: 'none' });
      const loadMs = performance.now() - t;
      console.log(
        `[store] sqlite 100k certificates: save ${firstMs.toFixed(0)} ms, re-import ${againMs.toFixed(0)} ms, load ${loadMs.toFixed(0)} ms`,
      );
      expect(res.certificates.added).toBe(100_001);
      expect(again.certificates.updated).toBe(100_001);
      expect(inv.certificates).toHaveLength(100_001);
      expect(inv.certificates[500]!.lastSeen).toBe(T1.toISOString());
      // Budget from the inventory issue (100k in under 20 s, parsing included); ~4-7 s here.
      expect(firstMs).toBeLessThan(20_000);
    } finally {
      await store.close();
      await fresh.cleanup();
    }
  }, 120_000);
});

if (PG_SKIPPED !== null) {
  describe.skip(`inventory repository on postgres — SKIPPED: ${PG_SKIPPED}`, () => {
    it('needs a PostgreSQL server', () => {});
  });
}
