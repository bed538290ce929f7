import { Value } from '@sinclair/typebox/value';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emit } from '../../src/mapper/emit/index.js';
import { mapWorkloads } from '../../src/mapper/map.js';
import { rulesFromObject } from '../../src/mapper/rules.js';
import { parseSpireEntryDump, type SpireEntry, summarizeSpireDump } from '../../src/mapper/spire/dump.js';
import {
  buildSpireEntries,
  isMeshbridgeOwned,
  SpireEntriesFileSchema,
  SpireRegistrationEntrySchema,
} from '../../src/mapper/spire/entries.js';
import { planSpireEntries } from '../../src/mapper/spire/plan.js';
import { workload } from './helpers.js';

const TD = 'prod.example.org';
const rules = rulesFromObject({
  trustDomain: TD,
  rules: [
    {
      match: { mesh: 'istio' },
      spiffeId: 'spiffe://{trustDomain}/k8s/{cluster}/ns/{namespace}/sa/{serviceAccount}',
      owner: 'team-a',
      dnsNames: ['{serviceAccount}.{namespace}.svc'],
      federatesWith: ['partner.example.com'],
    },
    {
      match: { mesh: 'linkerd' },
      spiffeId: 'spiffe://{trustDomain}/ns/{namespace}/sa/{serviceAccount}',
      parentId: 'spiffe://{trustDomain}/agents/{cluster}',
    },
  ],
  defaults: { x509SvidTtl: '1h', jwtSvidTtl: '5m' },
});
const result = mapWorkloads(
  [
    workload('spiffe://cluster.local/ns/shop/sa/web', { mesh: 'istio', cluster: 'east', n: 1 }),
    workload('spiffe://cluster.local/ns/shop/sa/web', { mesh: 'istio', cluster: 'east', n: 2 }),
    workload('spiffe://cluster.local/ns/shop/sa/api', { mesh: 'istio', cluster: 'west', n: 3 }),
    workload('db.data.serviceaccount.identity.linkerd.cluster.local', {
      mesh: 'linkerd',
      cluster: 'west',
      n: 4,
    }),
  ],
  rules,
);

function entriesJson(): unknown {
  const out = emit({ rules, result, emit: ['spire-entries'] });
  return JSON.parse(out.files.find((f) => f.path === 'spire/entries.json')!.content);
}

describe('spire-entries emitter', () => {
  it("round-trips through a schema of SPIRE's RegistrationEntries (common.proto field list)", () => {
    const json = entriesJson();
    const errors = [...Value.Errors(SpireEntriesFileSchema, json)];
    expect(errors).toEqual([]);
    // Nothing but schema fields: cleaning by the schema changes nothing; re-encoding is identical.
    expect(Value.Clean(SpireEntriesFileSchema, structuredClone(json))).toEqual(json);
    expect(JSON.parse(JSON.stringify(json))).toEqual(json);
  });

  it('writes k8s selectors, the parent ID, TTLs in seconds, DNS names, federation and the ownership hint', () => {
    const { entries } = entriesJson() as { entries: Record<string, unknown>[] };
    const web = entries.find((e) => e.spiffe_id === `spiffe://${TD}/k8s/east/ns/shop/sa/web`);
    expect(web).toEqual({
      spiffe_id: `spiffe://${TD}/k8s/east/ns/shop/sa/web`,
      parent_id: `spiffe://${TD}/k8s/east/nodes`,
      selectors: [
        { type: 'k8s', value: 'ns:shop' },
        { type: 'k8s', value: 'sa:web' },
      ],
      x509_svid_ttl: 3600,
      jwt_svid_ttl: 300,
      federates_with: ['spiffe://partner.example.com'],
      dns_names: ['web.shop.svc'],
      hint: 'meshbridge:team-a',
    });
    const db = entries.find((e) => e.spiffe_id === `spiffe://${TD}/ns/data/sa/db`);
    expect(db).toMatchObject({ parent_id: `spiffe://${TD}/agents/west`, hint: 'meshbridge' });
    // One entry per identity (two certificates of shop/web), plus a node alias per cluster using the default parent.
    expect(entries.filter((e) => e.parent_id === `spiffe://${TD}/spire/server`)).toEqual([
      expect.objectContaining({
        spiffe_id: `spiffe://${TD}/k8s/east/nodes`,
        selectors: [{ type: 'k8s_psat', value: 'cluster:east' }],
      }),
      expect.objectContaining({ spiffe_id: `spiffe://${TD}/k8s/west/nodes` }),
    ]);
    expect(entries).toHaveLength(5);
  });

  it('refuses entries of two clusters under one parent with the same selectors', () => {
    const flatParent = rulesFromObject({
      trustDomain: TD,
      rules: [
        {
          spiffeId: 'spiffe://{trustDomain}/{cluster}/{namespace}/{serviceAccount}',
          parentId: 'spiffe://{trustDomain}/agents',
        },
      ],
    });
    const r = mapWorkloads(
      [
        workload('spiffe://cluster.local/ns/a/sa/x', { mesh: 'istio', cluster: 'east', n: 1 }),
        workload('spiffe://cluster.local/ns/a/sa/x', { mesh: 'istio', cluster: 'west', n: 2 }),
      ],
      flatParent,
    );
    expect(r.blocking).toBe(false);
    const built = buildSpireEntries(flatParent, r);
    expect(built.problems).toEqual([
      expect.objectContaining({ code: 'SPIRE_SELECTORS_SHARED', blocking: true }),
    ]);
  });

  it('the schema refuses what SPIRE would not read (a TTL as a string, an unknown field, no selectors)', () => {
    const ok = {
      spiffe_id: 'spiffe://a/b',
      parent_id: 'spiffe://a/p',
      selectors: [{ type: 'k8s', value: 'ns:a' }],
    };
    expect(Value.Check(SpireRegistrationEntrySchema, ok)).toBe(true);
    expect(Value.Check(SpireRegistrationEntrySchema, { ...ok, x509_svid_ttl: '1h' })).toBe(false);
    expect(Value.Check(SpireRegistrationEntrySchema, { ...ok, ttl_seconds: 5 })).toBe(false);
    expect(Value.Check(SpireRegistrationEntrySchema, { ...ok, selectors: [] })).toBe(false);
  });
});

const showOutput = (entries: unknown[]) => JSON.stringify({ entries, next_page_token: '' });
const shown = (id: string, path: string, over: Record<string, unknown> = {}) => ({
  id,
  spiffe_id: { trust_domain: TD, path },
  parent_id: { trust_domain: TD, path: '/k8s/east/nodes' },
  selectors: [{ type: 'k8s', value: 'ns:x' }],
  x509_svid_ttl: 0,
  federates_with: [],
  admin: false,
  downstream: false,
  expires_at: '0',
  dns_names: [],
  revision_number: '0',
  store_svid: false,
  jwt_svid_ttl: 0,
  hint: '',
  ...over,
});

describe('entry show -output json dumps', () => {
  it('reads the protojson shape (IDs as {trust_domain, path}, int64 as strings) and the older string IDs', () => {
    const dump = parseSpireEntryDump(
      showOutput([
        shown('a', '/one', { hint: 'meshbridge:team-a', revision_number: '7' }),
        {
          entry_id: 'b',
          spiffe_id: `spiffe://${TD}/two`,
          parent_id: `spiffe://${TD}/p`,
          selectors: [{ type: 'unix', value: 'uid:1' }],
          ttl: 60,
        },
      ]),
      'dump.json',
    );
    expect(
      dump.entries.map((e) => [e.id, e.spiffeId, e.meshbridgeOwned, e.revisionNumber, e.x509SvidTtl]),
    ).toEqual([
      ['a', `spiffe://${TD}/one`, true, 7, 0],
      ['b', `spiffe://${TD}/two`, false, 0, 60],
    ]);
    expect(summarizeSpireDump(dump)).toMatchObject({
      entries: 2,
      meshbridgeOwned: 1,
      foreign: 1,
      owners: ['team-a'],
    });
    expect(dump.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses the pretty output with a hint, and a dump with a repeated entry ID', () => {
    expect(() => parseSpireEntryDump('Found 1 entry\nEntry ID : x\n', 'dump.txt')).toThrow(/-output json/);
    expect(() => parseSpireEntryDump(showOutput([shown('a', '/1'), shown('a', '/2')]), 'd')).toThrow(
      /appears twice/,
    );
    expect(() => parseSpireEntryDump('{"entries":[{"id":"x"}]}', 'd')).toThrow(
      expect.objectContaining({ code: 'SPIRE_DUMP_INVALID' }),
    );
  });
});

describe('the plan against stored entries', () => {
  const desired = buildSpireEntries(rules, result).entries;
  const web = desired.find((d) => d.entry.spiffe_id.endsWith('/shop/sa/web'))!.entry;
  const toShown = (id: string, e: typeof web, hint: string, over: Partial<SpireEntry> = {}): SpireEntry => ({
    id,
    spiffeId: e.spiffe_id,
    parentId: e.parent_id,
    selectors: [...e.selectors].reverse(),
    x509SvidTtl: e.x509_svid_ttl ?? 0,
    jwtSvidTtl: e.jwt_svid_ttl ?? 0,
    federatesWith: e.federates_with ?? [],
    dnsNames: e.dns_names ?? [],
    hint,
    admin: false,
    downstream: false,
    storeSvid: false,
    expiresAt: 0,
    revisionNumber: 0,
    meshbridgeOwned: isMeshbridgeOwned(hint),
    ...over,
  });

  it('creates what is missing, keeps what is there, updates its own drifted entries, would delete only its own', () => {
    const existing: SpireEntry[] = [
      toShown('keep-1', web, 'meshbridge:team-a'),
      toShown('mine-stale', { ...web, spiffe_id: `spiffe://${TD}/gone` }, 'meshbridge:team-a'),
      toShown('foreign-stale', { ...web, spiffe_id: `spiffe://${TD}/legacy` }, 'team-b'),
    ];
    const plan = planSpireEntries(desired, existing);
    const byId = Object.fromEntries(plan.items.filter((i) => i.entryId).map((i) => [i.entryId, i.action]));
    expect(byId).toEqual({ 'keep-1': 'keep', 'mine-stale': 'would-delete' });
    expect(plan.summary).toEqual({
      create: desired.length - 1,
      keep: 1,
      update: 0,
      wouldDelete: 1,
      foreignUntouched: 1,
    });
    expect(plan.createFile.entries).toHaveLength(desired.length - 1);
    expect(Value.Check(SpireEntriesFileSchema, plan.createFile)).toBe(true);

    const drifted = planSpireEntries(desired, [
      toShown('drift', web, 'meshbridge:team-a', { x509SvidTtl: 60 }),
    ]);
    expect(drifted.items.find((i) => i.entryId === 'drift')).toMatchObject({
      action: 'update',
      changes: ['x509_svid_ttl'],
    });
    expect(drifted.updateFile.entries).toEqual([
      expect.objectContaining({ entry_id: 'drift', x509_svid_ttl: 3600 }),
    ]);
    expect(Value.Check(SpireEntriesFileSchema, drifted.updateFile)).toBe(true);
  });

  it('leaves a foreign entry for a wanted identity alone (keep, not create) and says so', () => {
    const plan = planSpireEntries(desired, [toShown('theirs', web, '')]);
    expect(plan.items.find((i) => i.entryId === 'theirs')).toMatchObject({
      action: 'keep',
      ownedBy: 'foreign',
    });
    expect(plan.createFile.entries.map((e) => e.spiffe_id)).not.toContain(web.spiffe_id);
    expect(plan.problems).toEqual([
      expect.objectContaining({ code: 'SPIRE_ENTRY_FOREIGN', blocking: false }),
    ]);
  });

  it('never proposes to delete an entry meshbridge did not create, whatever the dump holds', () => {
    const hint = fc.oneof(
      fc.constantFrom(
        '',
        'meshbridge',
        'meshbridge:team-a',
        'Meshbridge',
        'meshbridgex',
        'team:meshbridge',
        ' meshbridge',
      ),
      fc.string({ maxLength: 20 }),
    );
    const entry = fc.record({
      id: fc.uuid(),
      path: fc.constantFrom('/k8s/east/ns/shop/sa/web', '/gone', '/legacy', '/ns/data/sa/db'),
      hint,
      ttl: fc.constantFrom(0, 60, 3600),
    });
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: (e) => e.id, maxLength: 30 }), (list) => {
        const existing = list.map((e) =>
          toShown(e.id, { ...web, spiffe_id: `spiffe://${TD}${e.path}` }, e.hint, { x509SvidTtl: e.ttl }),
        );
        const plan = planSpireEntries(desired, existing);
        const owned = new Set(existing.filter((e) => isMeshbridgeOwned(e.hint)).map((e) => e.id));
        for (const item of plan.items) {
          if (item.action === 'would-delete' || item.action === 'update')
            expect(owned.has(item.entryId!)).toBe(true);
        }
        // Every owned entry not wanted is listed; every foreign one is not.
        const listed = plan.items.filter((i) => i.action === 'would-delete').map((i) => i.entryId);
        for (const id of listed) expect(owned.has(id!)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('knows its mark exactly: "meshbridge" or "meshbridge:<owner>"', () => {
    expect(['meshbridge', 'meshbridge:team-a'].map(isMeshbridgeOwned)).toEqual([true, true]);
    expect(
      ['', 'Meshbridge', 'meshbridgex', 'team:meshbridge', ' meshbridge'].map(isMeshbridgeOwned),
    ).toEqual([false, false, false, false, false]);
  });
});
