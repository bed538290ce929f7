/**
 * A scripted three-workload Istio mesh (web -> cart -> orders, web -> orders) moving to
 * SPIRE in the same trust domain. Removing the mesh root (spiffe-only) before `orders`
 * is re-issued breaks exactly the edges into `orders`, on the side that checks the
 * server certificate; in the right order nothing breaks. Shown through the API and
 * through `meshbridge bundle simulate` over a real store (inventory imported by the
 * project's importer, SPIRE roots stored by `spire sync --bundle`).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateIstioMesh } from '../../src/demo/mesh.js';
import {
  bundleForPhase,
  composeTrust,
  parseEdges,
  type RootInput,
  type SimWorkload,
  simulate,
  trustOfPhase,
} from '../../src/dual-trust/index.js';
import { toImportRecord } from '../../src/mesh-import/persist.js';
import { type Certificate, parseCertificate } from '../../src/spiffe/x509/certificate.js';
import { openStore, saveImport } from '../../src/store/index.js';
import { cli } from '../cli/run.js';
import { AT, clock, importFiles, pemOfCerts, spireCa, spireSvid } from './helpers.js';

const TD = 'cluster.local';
const id = (sa: string) => `spiffe://${TD}/ns/shop/sa/${sa}`;
const EDGES_YAML = `# who talks to whom
- source: ${id('web')}
  destination: ${id('cart')}
- source: ${id('cart')}
  destination: ${id('orders')}
- from: ns/shop/sa/web
  to: ns/shop/sa/orders
`;

function scenario() {
  const mesh = generateIstioMesh({ clock, trustDomain: TD, namespaces: { shop: ['web', 'cart', 'orders'] } });
  const spire = spireCa(TD);
  const meshChain = (sa: string) =>
    mesh.workloads.find((w) => w.serviceAccount === sa)!.chain.map((c) => parseCertificate(c.der));
  const svid = (sa: string) => spireSvid(spire, id(sa));
  return { mesh, spire, meshChain, svid };
}

describe('simulate (API)', () => {
  const { mesh, spire, meshChain, svid } = scenario();
  const roots: RootInput[] = [
    { cert: parseCertificate(mesh.root.der), trustDomain: TD, origin: 'mesh', source: 'cacerts' },
    { cert: spire.cert, trustDomain: TD, origin: 'spire', source: 'spire' },
  ];
  const composition = composeTrust(roots, [], { clock });
  const edges = parseEdges(EDGES_YAML).edges;
  const trust = (phase: Parameters<typeof bundleForPhase>[1]) =>
    trustOfPhase(bundleForPhase(composition, phase));
  const workloads = (chains: Record<string, Certificate[]>): SimWorkload[] =>
    Object.entries(chains).map(([sa, chain]) => ({ key: `ns/shop/sa/${sa}`, identity: id(sa), chain }));
  const run = (
    chains: Record<string, Certificate[]>,
    phases: ('dual-trust' | 'dual-issue' | 'spiffe-only')[],
  ) => simulate(edges, { phases, workloads: workloads(chains), trustFor: (_w, p) => trust(p), clock });

  it('mesh root removed before orders is re-issued: both edges into orders break at the client', () => {
    const report = run({ web: [svid('web').cert], cart: [svid('cart').cert], orders: meshChain('orders') }, [
      'dual-issue',
      'spiffe-only',
    ]);
    expect(report.phases[0]!.broken).toEqual([]);
    const broken = report.phases[1]!.broken;
    expect(broken.map((b) => [b.source, b.destination, b.direction, b.presenter, b.verifier])).toEqual([
      [id('cart'), id('orders'), 'client-verifies-server', id('orders'), id('cart')],
      ['ns/shop/sa/web', 'ns/shop/sa/orders', 'client-verifies-server', id('orders'), id('web')],
    ]);
    expect(broken.every((b) => b.code === 'CHAIN_NO_ANCHOR' || b.code === 'CHAIN_SIGNATURE_INVALID')).toBe(
      true,
    );
    expect(report.unknown).toEqual([]);
  });

  it('in the right order (every workload re-issued first) nothing breaks in any phase', () => {
    const report = run(
      { web: [svid('web').cert], cart: [svid('cart').cert], orders: [svid('orders').cert] },
      ['dual-trust', 'dual-issue', 'spiffe-only'],
    );
    expect(report.phases.map((p) => [p.phase, p.edges, p.broken.length])).toEqual([
      ['dual-trust', 3, 0],
      ['dual-issue', 3, 0],
      ['spiffe-only', 3, 0],
    ]);
  });

  it('a workload still on the mesh certificate breaks both directions once its peers drop the mesh root', () => {
    const report = run({ web: meshChain('web'), cart: [svid('cart').cert], orders: [svid('orders').cert] }, [
      'spiffe-only',
    ]);
    expect(report.phases[0]!.broken.map((b) => [b.source, b.direction])).toEqual([
      [id('web'), 'server-verifies-client'],
      ['ns/shop/sa/web', 'server-verifies-client'],
    ]);
  });
});

describe('edge lists: CSV, Kiali graph, Istio telemetry', () => {
  it('reads CSV with a header, Kiali principals, and Prometheus principals; unresolved Kiali edges are named', () => {
    const csv = parseEdges(
      `source,destination,rps\n${id('web')},${id('cart')},3.2\n"${id('cart')}",${id('orders')},1\n`,
    );
    expect(csv.edges).toEqual([
      { source: id('web'), destination: id('cart') },
      { source: id('cart'), destination: id('orders') },
    ]);
    const kiali = parseEdges(
      JSON.stringify({
        timestamp: 1,
        elements: {
          nodes: [
            { data: { id: 'n1', nodeType: 'workload', namespace: 'shop', workload: 'web' } },
            { data: { id: 'n2', nodeType: 'workload', namespace: 'shop', workload: 'cart' } },
          ],
          edges: [
            {
              data: {
                id: 'e1',
                source: 'n1',
                target: 'n2',
                sourcePrincipal: id('web'),
                destPrincipal: id('cart'),
                isMTLS: '100',
              },
            },
            { data: { id: 'e2', source: 'n2', target: 'n1', traffic: { protocol: 'http' } } },
          ],
        },
      }),
    );
    expect(kiali).toMatchObject({ format: 'kiali', edges: [{ source: id('web'), destination: id('cart') }] });
    expect(kiali.unresolved).toEqual([
      expect.objectContaining({ source: 'shop/cart', destination: 'shop/web' }),
    ]);
    const prom = parseEdges(
      JSON.stringify({
        status: 'success',
        data: {
          resultType: 'vector',
          result: [
            { metric: { source_principal: id('web'), destination_principal: id('orders') }, value: [1, '2'] },
          ],
        },
      }),
    );
    expect(prom.edges).toEqual([{ source: id('web'), destination: id('orders') }]);
    expect(() => parseEdges('just: [words]')).toThrow(expect.objectContaining({ code: 'EDGES_MALFORMED' }));
  });
});

describe('meshbridge bundle simulate over a store', () => {
  let dir: string;
  let db: string;
  const { mesh, spire, svid } = scenario();
  const write = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return name;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mb-simulate-'));
    db = join(dir, 'store.db');
    const files: [string, string][] = [['cacerts-root.pem', mesh.root.pem]];
    for (const w of mesh.workloads)
      files.push([`${w.serviceAccount}.pem`, w.chain.map((c) => c.pem).join('')]);
    const store = await openStore(db);
    try {
      await saveImport(store, toImportRecord(await importFiles(files, 'istio')), { clock });
    } finally {
      await store.close();
    }
    write('spire-bundle.pem', pemOfCerts([spire.cert]));
    write('edges.yaml', EDGES_YAML);
    for (const sa of ['web', 'cart', 'orders']) write(`${sa}-svid.pem`, svid(sa).pem);
    const synced = await cli(
      ['--db', db, 'spire', 'sync', '--bundle', 'spire-bundle.pem', '--trust-domain', TD],
      { cwd: dir },
    );
    expect(synced.code).toBe(0);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const simulateCli = (certs: string[]) =>
    cli(
      [
        '--db',
        db,
        '--json',
        'bundle',
        'simulate',
        '--edges',
        'edges.yaml',
        '--phase',
        'dual-issue',
        '--phase',
        'spiffe-only',
        '--at',
        AT.toISOString(),
        ...certs.flatMap((c) => ['--certs', c]),
      ],
      { cwd: dir },
    );

  it('exits 1 and names the broken edges when orders is not re-issued', async () => {
    const r = await simulateCli(['web-svid.pem', 'cart-svid.pem']);
    expect(r.code).toBe(1);
    const out = r.json() as {
      phases: { phase: string; broken: { destination: string; presenter: string; direction: string }[] }[];
    };
    expect(out.phases[0]).toMatchObject({ phase: 'dual-issue', broken: [] });
    expect(out.phases[1]!.broken.map((b) => [b.destination, b.presenter, b.direction])).toEqual([
      [id('orders'), id('orders'), 'client-verifies-server'],
      ['ns/shop/sa/orders', id('orders'), 'client-verifies-server'],
    ]);
  });

  it('exits 0 when every workload was re-issued before the mesh root goes', async () => {
    const r = await simulateCli(['web-svid.pem', 'cart-svid.pem', 'orders-svid.pem']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = r.json() as { phases: { broken: unknown[]; edges: number }[] };
    expect(out.phases.map((p) => [p.edges, p.broken.length])).toEqual([
      [3, 0],
      [3, 0],
    ]);
  });

  it('prints a readable table for people', async () => {
    const r = await cli(
      [
        '--db',
        db,
        'bundle',
        'simulate',
        '--edges',
        'edges.yaml',
        '--phase',
        'spiffe-only',
        '--at',
        AT.toISOString(),
        '--certs',
        'web-svid.pem',
        '--certs',
        'cart-svid.pem',
      ],
      { cwd: dir },
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('× spiffe-only: 2 failing check(s) on 3 edge(s)');
    expect(r.stdout).toContain(`${id('orders')} (server cert)`);
  });
});
