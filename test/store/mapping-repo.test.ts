import { describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import {
  listMappingRuns,
  loadLatestMappingRun,
  loadLatestSpireEntryDump,
  type MappingRowInput,
  type SpireEntryRowInput,
  saveMappingRun,
  saveSpireEntryDump,
} from '../../src/store/mapping-repo.js';
import { TARGETS, type TargetCase } from './targets.js';

const T0 = new Date('2026-03-01T10:00:00.000Z');
const at = (d: Date) => () => d;
const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);

async function withStore<T>(tc: TargetCase, fn: (store: Store) => Promise<T>) {
  const fresh = await tc.fresh();
  const store = await openStore(fresh.target);
  try {
    return await fn(store);
  } finally {
    await store.close();
    await fresh.cleanup();
  }
}

const mapping = (i: number, over: Partial<MappingRowInput> = {}): MappingRowInput => ({
  fingerprint: i.toString(16).padStart(64, '0'),
  mesh: 'istio',
  cluster: 'east',
  meshIdentity: `spiffe://cluster.local/ns/ns${i % 7}/sa/sa${i}`,
  namespace: `ns${i % 7}`,
  serviceAccount: `sa${i}`,
  spiffeId: `spiffe://prod.example.org/ns/ns${i % 7}/sa/sa${i}`,
  rule: 0,
  owner: i % 2 === 0 ? 'team-a' : null,
  ...over,
});

const entry = (id: string, hint: string): SpireEntryRowInput => ({
  id,
  spiffeId: `spiffe://prod.example.org/${id}`,
  parentId: 'spiffe://prod.example.org/k8s/east/nodes',
  selectors: [{ type: 'k8s', value: `sa:${id}` }],
  x509SvidTtl: 3600,
  jwtSvidTtl: 300,
  federatesWith: [],
  dnsNames: ['a.b'],
  hint,
  admin: false,
  downstream: false,
  storeSvid: false,
  expiresAt: 1_900_000_000,
  revisionNumber: 3,
  meshbridgeOwned: hint.startsWith('meshbridge'),
});

describe.each(TARGETS)('mapping repository on $name', (tc) => {
  it('saves a run with the rules hash and version, and loads the newest back whole', async () => {
    await withStore(tc, async (store) => {
      expect(await loadLatestMappingRun(store)).toBeNull();
      const rows = Array.from({ length: 5000 }, (_, i) => mapping(i));
      const first = await saveMappingRun(
        store,
        {
          trustDomain: 'prod.example.org',
          rulesHash: HASH_A,
          rulesVersion: 1,
          rulesFile: 'rules.yaml',
          rules: '{"rules":[],"trustDomain":"prod.example.org"}',
          meshbridgeVersion: '0.1.0',
          summary: { workloads: 5000 },
          mappings: rows,
          problems: [
            {
              code: 'RULE_UNUSED',
              blocking: false,
              message: 'rules[1] matches nothing',
              details: { rule: 1 },
            },
          ],
        },
        { clock: at(T0) },
      );
      // Same instant, later run: seq still orders them.
      const second = await saveMappingRun(
        store,
        {
          trustDomain: 'prod.example.org',
          rulesHash: HASH_B,
          rulesVersion: 1,
          rulesFile: null,
          rules: '{}',
          meshbridgeVersion: '0.1.0',
          mappings: rows.slice(0, 3),
        },
        { clock: at(T0) },
      );
      expect(second.seq).toBe(first.seq + 1);
      const latest = await loadLatestMappingRun(store, { trustDomain: 'prod.example.org' });
      expect(latest).toMatchObject({
        id: second.runId,
        rulesHash: HASH_B,
        rulesVersion: 1,
        createdAt: T0.toISOString(),
      });
      expect(latest!.mappings).toHaveLength(3);
      const runs = await listMappingRuns(store, { rulesHash: HASH_A });
      expect(runs.map((r) => r.id)).toEqual([first.runId]);
      expect(runs[0]).toMatchObject({ rulesFile: 'rules.yaml', summary: { workloads: 5000 } });
      expect(await loadLatestMappingRun(store, { trustDomain: 'other.example' })).toBeNull();
    });
  });

  it('numbers rules revisions per trust domain: a hash seen before keeps its revision', async () => {
    await withStore(tc, async (store) => {
      const save = (trustDomain: string, rulesHash: string) =>
        saveMappingRun(store, {
          trustDomain,
          rulesHash,
          rulesVersion: 1,
          rulesFile: null,
          rules: '{}',
          meshbridgeVersion: 'x',
          mappings: [],
        });
      expect((await save('td', HASH_A)).rulesRevision).toBe(1);
      expect((await save('td', HASH_B)).rulesRevision).toBe(2);
      expect((await save('td', HASH_A)).rulesRevision).toBe(1);
      expect((await save('other', HASH_B)).rulesRevision).toBe(1);
      expect((await loadLatestMappingRun(store, { trustDomain: 'td' }))!.rulesRevision).toBe(1);
    });
  });

  it('stores nothing of a run the database refuses', async () => {
    await withStore(tc, async (store) => {
      const dup = mapping(1);
      await expect(
        saveMappingRun(store, {
          trustDomain: 'td',
          rulesHash: HASH_A,
          rulesVersion: 1,
          rulesFile: null,
          rules: '{}',
          meshbridgeVersion: 'x',
          mappings: [dup, dup],
        }),
      ).rejects.toMatchObject({ code: 'STORE_CONSTRAINT_VIOLATED' });
      expect(await listMappingRuns(store)).toEqual([]);
      await expect(
        saveMappingRun(store, {
          trustDomain: 'td',
          rulesHash: 'nothex',
          rulesVersion: 1,
          rulesFile: null,
          rules: '{}',
          meshbridgeVersion: 'x',
          mappings: [],
        }),
      ).rejects.toMatchObject({ code: 'STORE_INPUT_INVALID' });
    });
  });

  it('stores SPIRE entry dumps and returns the newest with every field', async () => {
    await withStore(tc, async (store) => {
      expect(await loadLatestSpireEntryDump(store)).toBeNull();
      await saveSpireEntryDump(store, {
        source: 'old.json',
        sha256: 'c'.repeat(64),
        entries: [entry('x', '')],
      });
      const saved = await saveSpireEntryDump(
        store,
        {
          source: 'dump.json',
          sha256: 'd'.repeat(64),
          entries: [entry('a', 'meshbridge:team-a'), entry('b', 'other')],
        },
        { clock: at(T0) },
      );
      const dump = await loadLatestSpireEntryDump(store);
      expect(dump).toMatchObject({ id: saved.dumpId, source: 'dump.json', entryCount: 2, ownedCount: 1 });
      expect(dump!.entries).toEqual([entry('a', 'meshbridge:team-a'), entry('b', 'other')]);
      await expect(
        saveSpireEntryDump(store, { source: 's', sha256: 'e', entries: [entry('a', ''), entry('a', '')] }),
      ).rejects.toMatchObject({ code: 'STORE_INPUT_INVALID' });
    });
  });
});
