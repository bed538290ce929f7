import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDevCa, mintX509Svid } from '../../src/devca/index.js';
import { SpireEntriesFileSchema } from '../../src/mapper/spire/entries.js';
import { SpiffeId, TrustDomain } from '../../src/spiffe/spiffeid/index.js';
import { listMappingRuns, loadLatestMappingRun } from '../../src/store/mapping-repo.js';
import {
  ISTIO_WORKLOAD_FILES,
  importInto,
  LINKERD_WORKLOAD_FILES,
  type TempStore,
  tempStore,
} from '../mapper/helpers.js';
import { cli } from './run.js';

const TD = 'prod.example.org';
const RULES = `trustDomain: ${TD}
rules:
  - name: istio-east
    match: { mesh: istio, cluster: east }
    spiffeId: "spiffe://{trustDomain}/k8s/{cluster}/ns/{namespace}/sa/{serviceAccount}"
    owner: platform
  - match: { mesh: linkerd }
    spiffeId: "spiffe://{trustDomain}/ns/{namespace}/sa/{serviceAccount}"
defaults: { x509SvidTtl: 1h, jwtSvidTtl: 5m }
`;

let t: TempStore;
beforeEach(async () => {
  t = await tempStore();
  await importInto(t.store, ISTIO_WORKLOAD_FILES, { mesh: 'istio', cluster: 'east' });
  await importInto(t.store, LINKERD_WORKLOAD_FILES, { mesh: 'linkerd', cluster: 'west' });
  writeFileSync(join(t.dir, 'rules.yaml'), RULES);
});
afterEach(async () => t.cleanup());

const run = (...argv: string[]) => cli(['--db', t.db, ...argv], { cwd: t.dir });

describe('meshbridge map', () => {
  it('keeps the --json contract and exits 0', async () => {
    const r = await run('map', '--rules', 'rules.yaml', '--json');
    expect(r.code).toBe(0);
    const j = r.json() as Record<string, unknown> & {
      mappings: Record<string, unknown>[];
      problems: unknown[];
    };
    expect(Object.keys(j).sort()).toEqual(['mappings', 'problems', 'rulesHash', 'trustDomain', 'unmapped']);
    expect(j.trustDomain).toBe(TD);
    expect(j.rulesHash).toMatch(/^[0-9a-f]{64}$/);
    expect(j.mappings).toHaveLength(6);
    for (const m of j.mappings) {
      expect(Object.keys(m).sort()).toEqual([
        'cluster',
        'fingerprint',
        'mesh',
        'meshIdentity',
        'owner',
        'rule',
        'spiffeId',
      ]);
    }
    expect(j.mappings).toContainEqual({
      fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/),
      mesh: 'linkerd',
      cluster: 'west',
      meshIdentity: 'foo.ns1.serviceaccount.identity.linkerd.cluster.local',
      spiffeId: `spiffe://${TD}/ns/ns1/sa/foo`,
      rule: 1,
      owner: expect.toSatisfy((o: unknown) => o === null || typeof o === 'string'),
    });
    expect(j.unmapped).toEqual([]);
    expect(j.problems).toEqual([]);
  });

  it('stores an accepted run with the rules hash and version', async () => {
    const r = await run('map', '--rules', 'rules.yaml', '--json');
    const run1 = await loadLatestMappingRun(t.store);
    expect(run1).toMatchObject({
      trustDomain: TD,
      rulesHash: (r.json() as { rulesHash: string }).rulesHash,
      rulesVersion: 1,
    });
    expect(run1!.mappings).toHaveLength(6);
    expect(run1!.mappings.find((m) => m.cluster === 'east')!.owner).toBe('platform');
  });

  it('writes what --emit asks for into --out; the spire-entries file passes the SPIRE schema', async () => {
    const r = await run(
      'map',
      '--rules',
      'rules.yaml',
      '--emit',
      'spire-entries,csv',
      'json',
      'cluster-spiffeid',
      '--out',
      'out',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('wrote');
    const out = join(t.dir, 'out');
    const entries = JSON.parse(readFileSync(join(out, 'spire/entries.json'), 'utf8'));
    expect(Value.Check(SpireEntriesFileSchema, entries)).toBe(true);
    expect(entries.entries.every((e: { hint: string }) => e.hint.startsWith('meshbridge'))).toBe(true);
    const csv = readFileSync(join(out, 'mapping.csv'), 'utf8').split('\r\n');
    expect(csv[0]).toBe('fingerprint,mesh,cluster,meshIdentity,spiffeId,rule,owner');
    expect(csv).toHaveLength(8);
    expect(JSON.parse(readFileSync(join(out, 'mapping.json'), 'utf8')).mappings[0]).toHaveProperty('owner');
    expect(existsSync(join(out, 'cluster-spiffeid/east.yaml'))).toBe(true);
  });

  it('refuses a collision with exit 1, naming both sources, and writes and stores nothing', async () => {
    // Another certificate for cluster.local/ns/default/sa/default, from cluster west (east has the fixture's).
    const ca = createDevCa(TrustDomain.parse('cluster.local'));
    const pem = join(t.dir, 'west-default.pem');
    writeFileSync(
      pem,
      mintX509Svid(ca, SpiffeId.parse('spiffe://cluster.local/ns/default/sa/default')).certPem,
    );
    await importInto(t.store, [pem], { mesh: 'istio', cluster: 'west' });
    // This rule set gives both the same ID.
    writeFileSync(
      join(t.dir, 'merge.yaml'),
      `trustDomain: ${TD}\nrules:\n  - match: { mesh: istio }\n    spiffeId: "spiffe://{trustDomain}/ns/{namespace}/sa/{serviceAccount}"\n  - match: { mesh: linkerd }\n    spiffeId: "spiffe://{trustDomain}/l/{namespace}/{serviceAccount}"\n`,
    );
    const r = await run('map', '--rules', 'merge.yaml', '--emit', 'spire-entries', '--out', 'out', '--json');
    expect(r.code).toBe(1);
    const problems = (
      r.json() as {
        problems: { code: string; blocking: boolean; sources?: { cluster: string }[]; message: string }[];
      }
    ).problems;
    const c = problems.find((p) => p.code === 'ID_COLLISION')!;
    expect(c.blocking).toBe(true);
    expect(c.sources!.map((s) => s.cluster)).toEqual(['east', 'west']);
    expect(c.message).toContain('istio/east spiffe://cluster.local/ns/default/sa/default');
    expect(c.message).toContain('istio/west spiffe://cluster.local/ns/default/sa/default');
    expect(existsSync(join(t.dir, 'out'))).toBe(false);
    expect(await listMappingRuns(t.store)).toEqual([]);

    const human = await run('map', '--rules', 'merge.yaml');
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/× ID_COLLISION/);
    expect(human.stdout).toContain('nothing was written and nothing was saved');
  });

  it('blocks an ID that changed since the stored run, unless --allow-id-changes', async () => {
    expect((await run('map', '--rules', 'rules.yaml')).code).toBe(0);
    writeFileSync(join(t.dir, 'rules2.yaml'), RULES.replace('/k8s/{cluster}/', '/clusters/{cluster}/'));
    const refused = await run('map', '--rules', 'rules2.yaml', '--json');
    expect(refused.code).toBe(1);
    const codes = (refused.json() as { problems: { code: string }[] }).problems.map((p) => p.code);
    expect(codes.filter((c) => c === 'ID_CHANGED')).toHaveLength(4);
    const allowed = await run('map', '--rules', 'rules2.yaml', '--allow-id-changes', '--json');
    expect(allowed.code).toBe(0);
    expect((await listMappingRuns(t.store)).length).toBe(2);
  });

  it('exits 2 with file:line on a bad rules file, and on an unknown emitter', async () => {
    writeFileSync(
      join(t.dir, 'bad.yaml'),
      `trustDomain: ${TD}\nrules:\n  - spiffeId: "spiffe://{trustDomain}/x"\n    mesh: istio\n`,
    );
    const r = await run('map', '--rules', 'bad.yaml');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('bad.yaml:4:5: unknown key "mesh"');
    expect(r.stderr).toContain('[RULES_INVALID]');
    const j = await run('map', '--rules', 'bad.yaml', '--json');
    expect(j.json()).toEqual({
      error: { code: 'RULES_INVALID', message: expect.stringContaining('bad.yaml:4:5') },
    });
    expect((await run('map', '--rules', 'rules.yaml', '--emit', 'terraform')).code).toBe(2);
    expect((await run('map')).code).toBe(2);
    expect((await run('map', '--rules', 'missing.yaml')).stderr).toContain('[INPUT_NOT_FOUND]');
  });

  it('rewrites policies given with --policies', async () => {
    writeFileSync(
      join(t.dir, 'authz.yaml'),
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: p, namespace: default }\nspec:\n  rules:\n  - from:\n    - source:\n        principals: ["cluster.local/ns/default/sa/default"]\n',
    );
    const r = await run(
      'map',
      '--rules',
      'rules.yaml',
      '--emit',
      'istio',
      '--policies',
      'authz.yaml',
      '--out',
      'out',
    );
    expect(r.code).toBe(0);
    const text = readFileSync(join(t.dir, 'out/istio/authorization-policies.cutover.yaml'), 'utf8');
    expect(text).toContain('cluster.local/ns/default/sa/default');
    expect(text).toContain(`${TD}/k8s/east/ns/default/sa/default`);
  });

  it('has --help with examples', async () => {
    const r = await cli(['map', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples');
  });
});

describe('meshbridge map explain', () => {
  it('explains a Linkerd identity with the given rules, exit 0', async () => {
    const r = await run(
      'map',
      'explain',
      'foo.ns1.serviceaccount.identity.linkerd.cluster.local',
      '--rules',
      'rules.yaml',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('× rules[0] "istio-east": mesh istio × (linkerd)');
    expect(r.stdout).toContain(`→ spiffe://${TD}/ns/ns1/sa/foo`);
  });

  it('uses the stored rules when --rules is not given, and both principal forms', async () => {
    await run('map', '--rules', 'rules.yaml');
    for (const id of [
      'cluster.local/ns/default/sa/default',
      'spiffe://cluster.local/ns/default/sa/default',
    ]) {
      const r = await run('map', 'explain', id, '--json');
      expect(r.code).toBe(0);
      const j = r.json() as {
        subjects: { spiffeId: string; rule: number }[];
        stored: { mappings: unknown[] };
      };
      expect(j.subjects).toEqual([
        expect.objectContaining({ spiffeId: `spiffe://${TD}/k8s/east/ns/default/sa/default`, rule: 0 }),
      ]);
      expect(j.stored.mappings).toHaveLength(1);
    }
  });

  it('exits 1 when no rule maps the identity, 2 when it is in no known form', async () => {
    const r = await run(
      'map',
      'explain',
      'cluster.local/ns/x/sa/y',
      '--rules',
      'rules.yaml',
      '--cluster',
      'west',
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('[NO_RULE_MATCHED]');
    const bad = await run('map', 'explain', 'hello', '--rules', 'rules.yaml');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('[IDENTITY_UNRECOGNISED]');
    expect((await run('map', 'explain', 'cluster.local/ns/x/sa/y')).code).toBe(2);
  });
});

describe('meshbridge spire sync --entries', () => {
  const dump = JSON.stringify({
    entries: [
      {
        id: 'mine',
        spiffe_id: { trust_domain: TD, path: '/gone' },
        parent_id: { trust_domain: TD, path: '/k8s/east/nodes' },
        selectors: [{ type: 'k8s', value: 'ns:gone' }],
        hint: 'meshbridge:platform',
      },
      {
        id: 'theirs',
        spiffe_id: { trust_domain: TD, path: '/legacy' },
        parent_id: { trust_domain: TD, path: '/agent' },
        selectors: [{ type: 'unix', value: 'uid:0' }],
        hint: '',
      },
    ],
    next_page_token: '',
  });

  it('stores the dump; the map plan would delete only meshbridge entries', async () => {
    writeFileSync(join(t.dir, 'entries.json'), dump);
    const s = await run('spire', 'sync', '--entries', 'entries.json', '--json');
    expect(s.code).toBe(0);
    expect(s.json()).toEqual({
      entries: expect.objectContaining({
        entries: 2,
        meshbridgeOwned: 1,
        foreign: 1,
        source: 'entries.json',
      }),
    });
    const m = await run('map', '--rules', 'rules.yaml', '--emit', 'spire-entries', '--out', 'out');
    expect(m.code).toBe(0);
    const plan = JSON.parse(readFileSync(join(t.dir, 'out/spire/plan.json'), 'utf8'));
    expect(
      plan.items
        .filter((i: { action: string }) => i.action === 'would-delete')
        .map((i: { entryId: string }) => i.entryId),
    ).toEqual(['mine']);
    expect(plan.summary.foreignUntouched).toBe(1);
    const create = JSON.parse(readFileSync(join(t.dir, 'out/spire/create.json'), 'utf8'));
    expect(Value.Check(SpireEntriesFileSchema, create)).toBe(true);
  });

  it('reads stdin with "-", and exits 2 on a dump that is not entry show -output json', async () => {
    const s = await cli(['--db', t.db, 'spire', 'sync', '--entries', '-'], { cwd: t.dir, stdin: dump });
    expect(s.code).toBe(0);
    expect(s.stdout).toContain('stored 2 SPIRE entries from stdin');
    writeFileSync(join(t.dir, 'pretty.txt'), 'Found 1 entry\nEntry ID         : x\n');
    const bad = await run('spire', 'sync', '--entries', 'pretty.txt');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('[SPIRE_DUMP_INVALID]');
    expect((await run('spire', 'sync')).code).toBe(2);
  });
});
