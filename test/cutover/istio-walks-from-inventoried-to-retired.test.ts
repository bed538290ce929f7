/**
 * Issue 6, "what it must show": a generated two-namespace Istio mesh walks from
 * `inventoried` to `retired` through the real CLI (`import`, `map`, `spire sync`,
 * `cutover ...`). Each gate first refuses with the right blockers; the test then supplies
 * the evidence (a mapping, SPIRE's bundle, an entry dump, an edge list, a re-import with
 * SPIRE-issued certificates, time passing) and the gate passes. A rollback in the middle
 * is recorded and undone.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TARGETS } from '../store/targets.js';
import {
  codesOf,
  createSpire,
  DAY,
  type GeneratedMesh,
  meshbridge,
  type Spire,
  writeEdges,
  writeEntryDump,
  writeIstioMesh,
  writeRules,
  writeSpireSvids,
} from './helpers.js';

const T0 = new Date(Math.floor(Date.now() / 1000) * 1000);
const at = (ms = 60_000) => new Date(T0.getTime() + ms).toISOString();
const NAMESPACES = { shop: ['web', 'cart', 'orders'], payments: ['api', 'ledger'] };
const id = (ns: string, sa: string, td = 'cluster.local') => `spiffe://${td}/ns/${ns}/sa/${sa}`;

describe.each(TARGETS)('an Istio mesh walks inventoried -> retired ($name)', (target) => {
  let dir: string;
  let db: string;
  let mesh: GeneratedMesh;
  let spire: Spire;
  const run = (...argv: string[]) => meshbridge(['--db', db, ...argv], { cwd: dir });
  const json = (...argv: string[]) => meshbridge(['--db', db, '--json', ...argv], { cwd: dir });

  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meshbridge-cutover-istio-'));
    const fresh = await target.fresh();
    db = fresh.target;
    cleanup = fresh.cleanup;
    mesh = writeIstioMesh(join(dir, 'mesh'), T0, NAMESPACES, { longLived: ['shop/orders'] });
    spire = createSpire(dir, T0);
    writeRules(join(dir, 'rules.yaml'), 'example.org');
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await cleanup();
  });

  test('the walk', async () => {
    // ------------------------------------------------------------ inventory
    expect((await run('import', 'mesh', '--mesh', 'istio', '--cluster', 'east', '--at', at(0))).code).toBe(0);
    const s0 = (await json('cutover', 'status', '--at', at())).json();
    expect(s0.scopes.map((s: { scope: string }) => s.scope)).toEqual([
      'istio',
      'istio/east',
      'istio/east/payments',
      'istio/east/shop',
    ]);
    expect(s0.scopes[0]).toMatchObject({ scope: 'istio', phase: 'inventoried', workloads: 5, onSpire: 0 });
    expect(s0.scopes[3]).toMatchObject({
      scope: 'istio/east/shop',
      workloads: 3,
      next: { phase: 'dual-trust', ready: false },
    });

    // ------------------------------------------------------------ into dual-trust
    let r = await json('cutover', 'advance', 'istio/east/shop', '--at', at());
    expect(r.code).toBe(1);
    expect(r.json().advanced).toBe(false);
    expect(codesOf(r.json().blockers)).toEqual(['MAPPING_MISSING', 'SPIRE_ROOTS_UNKNOWN']);
    expect(r.json().checks.map((c: { id: string; passed: boolean }) => [c.id, c.passed])).toEqual([
      ['scope-nesting', true],
      ['mapping', false],
      ['bundle-dry-run', true],
      ['spire-roots', false],
    ]);

    expect((await run('map', '--rules', 'rules.yaml')).code).toBe(0);
    expect(
      (await run('spire', 'sync', '--bundle', spire.bundleFile, '--trust-domain', 'example.org')).code,
    ).toBe(0);
    // --dry-run judges and shows the rollout, and changes nothing; usage mistakes exit 2.
    r = await json('cutover', 'advance', 'istio/east/shop', '--dry-run', '--at', at());
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ advanced: false, dryRun: true, ready: true, version: 0 });
    expect(r.json().rollout.artifacts.map((a: { path: string }) => a.path)).toContain(
      'bundle/istio-ca-root-cert.yaml',
    );
    expect((await json('cutover', 'status', '--scope', 'istio/east/shop')).json().scopes[0].phase).toBe(
      'inventoried',
    );
    expect((await run('cutover', 'advance', 'istio/east/shop', '--to', 'dual-issue')).code).toBe(2);
    expect((await run('cutover', 'advance', 'istio/east/shop', '--to', 'sideways')).code).toBe(2);
    expect((await run('cutover', 'advance', 'istio/west')).code).toBe(2);
    r = await json(
      'cutover',
      'advance',
      'istio/east/shop',
      '--to',
      'dual-trust',
      '--out',
      'out1',
      '--by',
      'alice',
      '--at',
      at(),
    );
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({
      scope: 'istio/east/shop',
      from: 'inventoried',
      to: 'dual-trust',
      advanced: true,
      by: 'alice',
      version: 1,
    });
    const dryRun = r.json().checks.find((c: { id: string }) => c.id === 'bundle-dry-run');
    expect(dryRun.evidence.candidates).toMatchObject({ total: 3, valid: 3, breaks: 0 });
    const cm = readFileSync(join(dir, 'out1', 'bundle', 'istio-ca-root-cert.yaml'), 'utf8');
    expect(cm).toContain('namespace: shop');
    expect(pemBodies(cm)).toEqual(
      expect.arrayContaining([pemBody(mesh.root.pem), pemBody(spire.ca.root.pem)]),
    );

    // ------------------------------------------------------------ into dual-issue
    r = await json('cutover', 'advance', 'istio/east/shop', '--at', at());
    expect(r.code).toBe(1);
    expect(codesOf(r.json().blockers)).toEqual([
      'PARENT_BEHIND',
      'PEER_NOT_IN_DUAL_TRUST',
      'SPIRE_ENTRIES_UNKNOWN',
    ]);
    expect(r.json().blockers.find((b: { code: string }) => b.code === 'PARENT_BEHIND').scope).toBe(
      'istio/east',
    );
    expect(r.json().blockers.find((b: { code: string }) => b.code === 'PEER_NOT_IN_DUAL_TRUST').scope).toBe(
      'istio/east/payments',
    );

    // The cluster, then the mesh, follow into dual-trust (payments comes along with the cluster).
    r = await json('cutover', 'advance', 'istio/east', '--by', 'bob', '--at', at());
    expect(r.code).toBe(0);
    expect(r.json().cascade).toEqual([
      { scope: 'istio/east/payments', from: 'inventoried', to: 'dual-trust', version: 1 },
    ]);
    expect((await json('cutover', 'advance', 'istio', '--at', at())).code).toBe(0);

    writeEdges(join(dir, 'edges.yaml'), [
      [id('shop', 'web'), id('payments', 'api')],
      [id('shop', 'web'), id('shop', 'cart')],
      [id('shop', 'cart'), id('shop', 'orders')],
      [id('payments', 'api'), id('payments', 'ledger')],
    ]);
    writeEntryDump(join(dir, 'entries-1.json'), 'example.org', [
      id('shop', 'web', 'example.org'),
      id('shop', 'cart', 'example.org'),
    ]);
    expect((await run('spire', 'sync', '--entries', 'entries-1.json')).code).toBe(0);
    r = await json('cutover', 'advance', 'istio/east/shop', '--edges', 'edges.yaml', '--at', at());
    expect(r.code).toBe(1);
    expect(r.json().blockers).toEqual([
      expect.objectContaining({
        code: 'SPIRE_ENTRY_MISSING',
        workload: 'istio/east/shop/orders',
        spiffeId: id('shop', 'orders', 'example.org'),
      }),
    ]);

    const all = Object.entries(NAMESPACES).flatMap(([ns, sas]) => sas.map((sa) => id(ns, sa, 'example.org')));
    writeEntryDump(join(dir, 'entries-2.json'), 'example.org', all);
    expect((await run('spire', 'sync', '--entries', 'entries-2.json')).code).toBe(0);
    r = await json('cutover', 'advance', 'istio/east/shop', '--out', 'out2', '--by', 'alice', '--at', at());
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ from: 'dual-trust', to: 'dual-issue', advanced: true });
    const entries = JSON.parse(readFileSync(join(dir, 'out2', 'spire', 'entries.json'), 'utf8'));
    // The scope's workloads (and the node alias they hang under), nobody else's.
    expect(entries.entries.map((e: { spiffe_id: string }) => e.spiffe_id).sort()).toEqual([
      'spiffe://example.org/k8s/east/nodes',
      ...['cart', 'orders', 'web'].map((sa) => id('shop', sa, 'example.org')),
    ]);

    // ------------------------------------------------------------ a rollback in the middle, and back
    expect((await run('cutover', 'rollback', 'istio/east/shop')).code).toBe(2);
    r = await json('cutover', 'rollback', 'istio/east', '--reason', 'try the cluster', '--at', at());
    expect(r.code).toBe(1);
    expect(r.json().blockers).toEqual([
      expect.objectContaining({ code: 'CHILD_AHEAD', scope: 'istio/east/shop' }),
    ]);
    r = await json(
      'cutover',
      'rollback',
      'istio/east/shop',
      '--reason',
      'web cannot reach the SDS socket',
      '--by',
      'carol',
      '--at',
      at(),
    );
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ from: 'dual-issue', to: 'dual-trust', rolledBack: true, followers: [] });
    let h = (await json('cutover', 'history', '--scope', 'istio/east/shop')).json().transitions;
    expect(h.at(-1)).toMatchObject({
      scope: 'istio/east/shop',
      from: 'dual-issue',
      to: 'dual-trust',
      by: 'carol',
      reason: 'web cannot reach the SDS socket',
      evidence: null,
    });
    r = await json('cutover', 'advance', 'istio/east/shop', '--to', 'dual-issue', '--at', at());
    expect(r.code).toBe(0);
    expect(r.json().by).toBe(userInfo().username);

    // ------------------------------------------------------------ into spiffe-only
    r = await json('cutover', 'advance', 'istio/east/shop', '--at', at());
    expect(r.code).toBe(1);
    expect(codesOf(r.json().blockers)).toEqual([
      'EDGE_WOULD_BREAK',
      'MESH_CERT_OUTLIVES_OVERLAP',
      'PARENT_BEHIND',
      'WORKLOAD_ON_MESH_CERT',
    ]);
    const blockers = r.json().blockers as {
      code: string;
      workload?: string;
      edge?: { source: string; destination: string };
    }[];
    expect(blockers.filter((b) => b.code === 'WORKLOAD_ON_MESH_CERT').map((b) => b.workload)).toEqual([
      'istio/east/shop/cart',
      'istio/east/shop/orders',
      'istio/east/shop/web',
    ]);
    expect(
      blockers
        .filter((b) => b.code === 'EDGE_WOULD_BREAK')
        .map((b) => `${b.edge!.source} -> ${b.edge!.destination}`),
    ).toEqual(
      expect.arrayContaining([
        `${id('shop', 'web')} -> ${id('payments', 'api')}`,
        `${id('shop', 'cart')} -> ${id('shop', 'orders')}`,
      ]),
    );
    expect(blockers.find((b) => b.code === 'MESH_CERT_OUTLIVES_OVERLAP')!.workload).toBe(
      'istio/east/shop/orders',
    );

    // Evidence: the mesh enters dual-issue, carrying the cluster and payments along; the
    // workloads come back with SPIRE SVIDs.
    r = await json('cutover', 'advance', 'istio', '--at', at());
    expect(r.code).toBe(0);
    expect(r.json().cascade.map((c: { scope: string }) => c.scope)).toEqual([
      'istio/east',
      'istio/east/payments',
    ]);
    writeSpireSvids(spire, join(dir, 'spire-svids'), T0, mesh.workloads, { withBundle: true });
    expect(
      (await run('import', 'spire-svids', '--mesh', 'istio', '--cluster', 'east', '--at', at())).code,
    ).toBe(0);

    const s1 = (await json('cutover', 'status', '--scope', 'istio/east/shop', '--at', at())).json();
    expect(s1.scopes).toEqual([
      expect.objectContaining({ scope: 'istio/east/shop', phase: 'dual-issue', workloads: 3, onSpire: 3 }),
    ]);

    r = await json('cutover', 'advance', 'istio/east/shop', '--at', at());
    expect(r.code).toBe(1);
    expect(codesOf(r.json().blockers)).toEqual(['MESH_CERT_OUTLIVES_OVERLAP']);
    r = await json(
      'cutover',
      'advance',
      'istio/east/shop',
      '--overlap',
      '100d',
      '--out',
      'out3',
      '--at',
      at(),
    );
    expect(r.code).toBe(0);
    const onlySpire = readFileSync(join(dir, 'out3', 'bundle', 'istio-ca-root-cert.yaml'), 'utf8');
    expect(pemBodies(onlySpire)).toEqual([pemBody(spire.ca.root.pem)]);

    r = await json('cutover', 'advance', 'istio/east', '--overlap', '100d', '--at', at());
    expect(r.code).toBe(0);
    expect(r.json().cascade.map((c: { scope: string }) => c.scope)).toEqual(['istio/east/payments']);
    expect((await json('cutover', 'advance', 'istio', '--overlap', '100d', '--at', at())).code).toBe(0);

    // ------------------------------------------------------------ into retired
    r = await json('cutover', 'advance', 'istio', '--at', at());
    expect(r.code).toBe(1);
    expect(codesOf(r.json().blockers)).toEqual(['MESH_CERT_UNEXPIRED']);
    expect(r.json().blockers).toHaveLength(5);
    expect((await json('cutover', 'advance', 'istio/east', '--at', at())).code).toBe(2); // retired is for the whole mesh
    r = await json('cutover', 'advance', 'istio', '--at', at(91 * DAY), '--out', 'out4');
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ from: 'spiffe-only', to: 'retired', advanced: true, cascade: [] });
    expect(r.json().rollout.steps.join(' ')).toContain('cacerts');
    expect(existsSync(join(dir, 'out4', 'bundle', 'istio-ca-root-cert.yaml'))).toBe(true);

    // ------------------------------------------------------------ the record
    const s2 = (await json('cutover', 'status', '--at', at(91 * DAY))).json();
    expect(
      s2.scopes.map((s: { scope: string; phase: string; onSpire: number; next: unknown }) => [
        s.scope,
        s.phase,
        s.onSpire,
        s.next,
      ]),
    ).toEqual([
      ['istio', 'retired', 5, null],
      ['istio/east', 'spiffe-only', 5, null],
      ['istio/east/payments', 'spiffe-only', 2, null],
      ['istio/east/shop', 'spiffe-only', 3, null],
    ]);
    h = (await json('cutover', 'history')).json().transitions;
    expect(
      h.map((t: { scope: string; from: string; to: string }) => `${t.scope} ${t.from}->${t.to}`),
    ).toEqual([
      'istio/east/shop inventoried->dual-trust',
      'istio/east inventoried->dual-trust',
      'istio/east/payments inventoried->dual-trust',
      'istio inventoried->dual-trust',
      'istio/east/shop dual-trust->dual-issue',
      'istio/east/shop dual-issue->dual-trust',
      'istio/east/shop dual-trust->dual-issue',
      'istio dual-trust->dual-issue',
      'istio/east dual-trust->dual-issue',
      'istio/east/payments dual-trust->dual-issue',
      'istio/east/shop dual-issue->spiffe-only',
      'istio/east dual-issue->spiffe-only',
      'istio/east/payments dual-issue->spiffe-only',
      'istio dual-issue->spiffe-only',
      'istio spiffe-only->retired',
    ]);
    for (const t of h) {
      expect(Object.keys(t).slice(0, 7)).toEqual(['scope', 'from', 'to', 'at', 'by', 'reason', 'evidence']);
      if (t.reason === null) {
        expect(t.evidence).toMatchObject({ passed: true, to: t.to });
        expect(t.evidence.checks.every((c: { passed: boolean }) => c.passed)).toBe(true);
      } else {
        expect(t.evidence).toBeNull();
      }
    }
    expect(h[2]).toMatchObject({ via: 'istio/east', by: 'bob' });
    const human = await run('cutover', 'history', '--scope', 'istio/east/shop');
    expect(human.stdout).toContain('rollback: web cannot reach the SDS socket');
  }, 120_000);
});

function pemBody(pem: string): string {
  return pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
}

function pemBodies(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)) {
    out.push(m[1]!.replace(/\s+/g, ''));
  }
  return [...new Set(out)];
}
