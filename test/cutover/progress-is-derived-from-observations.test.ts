/**
 * Progress (workloads on SPIRE per scope) comes from observations only: imports and
 * broker sightings, each naming the issuer a certificate chained to. On both databases.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  cutoverGauges,
  cutoverStatus,
  recordObservation,
  recordObservationsFromInventory,
  spireShare,
  statusJson,
} from '../../src/cutover/index.js';
import { dbOf } from '../../src/cutover/schema.js';
import { openStore, type Store } from '../../src/store/index.js';
import { TARGETS } from '../store/targets.js';
import {
  createSpire,
  type GeneratedMesh,
  meshbridge,
  type Spire,
  writeIstioMesh,
  writeRules,
  writeSpireSvids,
} from './helpers.js';

describe.each(TARGETS)('observations ($name)', (target) => {
  let dir: string;
  let db: string;
  let cleanup: () => Promise<void>;
  let store: Store;
  let mesh: GeneratedMesh;
  let spire: Spire;
  const now = new Date();
  const later = (min: number) => new Date(now.getTime() + min * 60_000);
  const run = (...argv: string[]) => meshbridge(['--db', db, ...argv], { cwd: dir });
  const shop = async () => (await cutoverStatus(store, { scope: 'istio/east/shop' })).scopes[0]!;

  beforeAll(async () => {
    const fresh = await target.fresh();
    db = fresh.target;
    cleanup = fresh.cleanup;
    dir = mkdtempSync(join(tmpdir(), 'meshbridge-cutover-obs-'));
    mesh = writeIstioMesh(join(dir, 'mesh'), now, { shop: ['web', 'cart'], payments: ['api'] });
    spire = createSpire(dir, now);
    writeRules(join(dir, 'rules.yaml'), 'example.org');
    expect((await run('import', 'mesh', '--mesh', 'istio', '--cluster', 'east')).code).toBe(0);
    expect((await run('map', '--rules', 'rules.yaml')).code).toBe(0);
    store = await openStore(db);
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
    await cleanup();
  });

  test('an import records one observation per workload certificate, once', async () => {
    const first = await recordObservationsFromInventory(store);
    expect(first).toMatchObject({ imports: 1, observations: 3, workloads: 3 });
    expect(await recordObservationsFromInventory(store)).toMatchObject({ imports: 0, observations: 0 });
    const rows = await dbOf(store)
      .selectFrom('cutover_observations')
      .selectAll()
      .orderBy('workload')
      .execute();
    expect(rows.map((r) => [r.workload, r.issuer_kind, r.issuer_fingerprint])).toEqual([
      ['istio/east/payments/api', 'mesh', mesh.root.fingerprint],
      ['istio/east/shop/cart', 'mesh', mesh.root.fingerprint],
      ['istio/east/shop/web', 'mesh', mesh.root.fingerprint],
    ]);
    expect(rows[0]!.source).toMatch(/^import:/);
    expect(await shop()).toMatchObject({ workloads: 2, onSpire: 0, onMesh: 2 });
  });

  test('a broker sighting of a SPIRE-issued SVID moves its workload (found through the mapping)', async () => {
    const r = await recordObservation(store, {
      spiffeId: 'spiffe://example.org/ns/shop/sa/web',
      issuerFingerprint: spire.ca.root.fingerprint,
      issuerKind: 'spire',
      at: later(5),
      source: 'broker:test',
    });
    expect(r).toMatchObject({ workload: 'istio/east/shop/web', issuerKind: 'spire' });
    expect(await shop()).toMatchObject({ workloads: 2, onSpire: 1 });
    expect(spireShare(await shop())).toBe(0.5);
  });

  test('an older sighting does not undo a newer one; an unknown workload changes nothing', async () => {
    await recordObservation(store, {
      workload: 'istio/east/shop/web',
      issuerFingerprint: mesh.root.fingerprint,
      at: later(1),
      source: 'broker:late-report',
    });
    const ghost = await recordObservation(store, {
      spiffeId: 'spiffe://example.org/ns/shop/sa/ghost',
      issuerFingerprint: spire.ca.root.fingerprint,
      at: later(6),
      source: 'broker:test',
    });
    expect(ghost.workload).toBeNull();
    expect(await shop()).toMatchObject({ workloads: 2, onSpire: 1 });
    const cart = await recordObservation(store, {
      workload: { mesh: 'istio', cluster: 'east', namespace: 'shop', name: 'cart' },
      issuerFingerprint: mesh.root.fingerprint,
      at: later(7),
      source: 'broker:test',
    });
    expect(cart).toMatchObject({ workload: 'istio/east/shop/cart', issuerKind: 'mesh' });
  });

  test('SVIDs imported before SPIRE roots are known count once the roots are synced', async () => {
    writeSpireSvids(spire, join(dir, 'svids'), now, [{ namespace: 'payments', serviceAccount: 'api' }], {
      withBundle: true,
    });
    expect((await run('import', 'svids', '--mesh', 'istio', '--cluster', 'east')).code).toBe(0);
    let payments = (await cutoverStatus(store, { scope: 'istio/east/payments' })).scopes[0]!;
    // Chained to an anchor of the inventory that nobody said was SPIRE's: mesh, for now.
    expect(payments).toMatchObject({ workloads: 1, onSpire: 0 });
    expect(
      (await run('spire', 'sync', '--bundle', spire.bundleFile, '--trust-domain', 'example.org')).code,
    ).toBe(0);
    payments = (await cutoverStatus(store, { scope: 'istio/east/payments' })).scopes[0]!;
    expect(payments).toMatchObject({ workloads: 1, onSpire: 1 });
  });

  test('the gauges the dashboard and /metrics read match the status', async () => {
    const report = await cutoverStatus(store);
    const gauges = cutoverGauges(report);
    const perIssuer = Object.fromEntries(
      gauges
        .filter((g) => g.name === 'meshbridge_cutover_workloads')
        .map((g) => [`${g.labels.phase}/${g.labels.issuer}`, g.value]),
    );
    expect(perIssuer).toEqual({ 'inventoried/mesh': 1, 'inventoried/other': 0, 'inventoried/spire': 2 });
    const mesh = report.scopes.find((s) => s.scope === 'istio')!;
    expect(mesh).toMatchObject({ workloads: 3, onSpire: 2 });
    expect(
      gauges.find((g) => g.name === 'meshbridge_cutover_scope_phase' && g.labels.scope === 'istio/east/shop')
        ?.value,
    ).toBe(0);
    expect(statusJson(report).scopes[0]).toEqual(
      expect.objectContaining({ scope: 'istio', phase: 'inventoried', workloads: 3, onSpire: 2 }),
    );
  });
});
