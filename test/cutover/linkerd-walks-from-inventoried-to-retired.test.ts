/**
 * Issue 6, "what it must show", for Linkerd: a generated Linkerd mesh (trust anchor ->
 * identity issuer -> leaves named `<sa>.<ns>.serviceaccount.identity.linkerd.cluster.local`)
 * walks from `inventoried` to `retired` through the real CLI. Here the mesh scope is
 * advanced and carries its cluster and namespaces along; one namespace goes ahead, is
 * rolled back and goes ahead again. The SPIRE SVIDs are re-imported without SPIRE's
 * bundle: they are recognised as SPIRE-issued by signature.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
  writeEntryDump,
  writeLinkerdMesh,
  writeRules,
  writeSpireSvids,
} from './helpers.js';

const T0 = new Date(Math.floor(Date.now() / 1000) * 1000);
const at = (ms = 60_000) => new Date(T0.getTime() + ms).toISOString();
const NAMESPACES = { emojivoto: ['web', 'emoji', 'voting'], booksapp: ['authors', 'books'] };

describe.each(TARGETS)('a Linkerd mesh walks inventoried -> retired ($name)', (target) => {
  let dir: string;
  let db: string;
  let mesh: GeneratedMesh;
  let spire: Spire;
  const run = (...argv: string[]) => meshbridge(['--db', db, ...argv], { cwd: dir });
  const json = (...argv: string[]) => meshbridge(['--db', db, '--json', ...argv], { cwd: dir });

  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'meshbridge-cutover-linkerd-'));
    const fresh = await target.fresh();
    db = fresh.target;
    cleanup = fresh.cleanup;
    mesh = writeLinkerdMesh(join(dir, 'linkerd'), T0, NAMESPACES);
    spire = createSpire(dir, T0);
    writeRules(join(dir, 'rules.yaml'), 'example.org');
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await cleanup();
  });

  test('the walk', async () => {
    expect(
      (await run('import', 'linkerd', '--mesh', 'linkerd', '--cluster', 'west', '--at', at(0))).code,
    ).toBe(0);
    let s = (await json('cutover', 'status', '--at', at())).json();
    expect(s.scopes.map((x: { scope: string; workloads: number }) => [x.scope, x.workloads])).toEqual([
      ['linkerd', 5],
      ['linkerd/west', 5],
      ['linkerd/west/booksapp', 2],
      ['linkerd/west/emojivoto', 3],
    ]);

    // ------------------------------------------------------------ dual-trust, for the whole mesh
    let r = await json('cutover', 'plan', 'linkerd', '--at', at());
    expect(r.code).toBe(1);
    expect(codesOf(r.json().blockers)).toEqual(['MAPPING_MISSING', 'SPIRE_ROOTS_UNKNOWN']);
    expect(r.json().cascade).toEqual(['linkerd/west', 'linkerd/west/booksapp', 'linkerd/west/emojivoto']);
    expect((await run('map', '--rules', 'rules.yaml')).code).toBe(0);
    expect(
      (await run('spire', 'sync', '--bundle', spire.bundleFile, '--trust-domain', 'example.org')).code,
    ).toBe(0);
    // The plan stored its evaluation: status shows the dry run's verdict without running it.
    r = await json('cutover', 'plan', 'linkerd', '--at', at());
    expect(r.code).toBe(0);
    s = (await json('cutover', 'status', '--scope', 'linkerd', '--at', at())).json();
    expect(s.scopes[0].next).toEqual({ phase: 'dual-trust', ready: true, blockers: [] });
    r = await json('cutover', 'advance', 'linkerd', '--out', 'out1', '--by', 'dana', '--at', at());
    expect(r.code).toBe(0);
    expect(r.json().cascade.map((c: { scope: string }) => c.scope)).toEqual([
      'linkerd/west',
      'linkerd/west/booksapp',
      'linkerd/west/emojivoto',
    ]);
    const roots = readFileSync(join(dir, 'out1', 'bundle', 'linkerd-identity-trust-roots.yaml'), 'utf8');
    expect(roots).toContain(mesh.root.pem.split('\n')[1]);
    expect(roots).toContain(spire.ca.root.pem.split('\n')[1]);

    // ------------------------------------------------------------ emojivoto goes ahead into dual-issue
    r = await json('cutover', 'advance', 'linkerd/west/emojivoto', '--at', at());
    expect(r.code).toBe(1);
    expect(codesOf(r.json().blockers)).toEqual(['SPIRE_ENTRIES_UNKNOWN']);
    const ids = Object.entries(NAMESPACES).flatMap(([ns, sas]) =>
      sas.map((sa) => `spiffe://example.org/ns/${ns}/sa/${sa}`),
    );
    writeEntryDump(join(dir, 'entries.json'), 'example.org', ids);
    expect((await run('spire', 'sync', '--entries', 'entries.json')).code).toBe(0);
    r = await json('cutover', 'advance', 'linkerd/west/emojivoto', '--by', 'dana', '--at', at());
    expect(r.code).toBe(0);
    // Nobody may lead by two phases: emojivoto stops at dual-issue until west follows.
    r = await json('cutover', 'advance', 'linkerd/west/emojivoto', '--at', at());
    expect(r.code).toBe(1);
    expect(r.json().blockers).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ code: 'PARENT_BEHIND', scope: 'linkerd/west', phase: 'dual-trust' }),
      ]),
    );

    // A rollback in the middle, recorded, then undone.
    r = await json(
      'cutover',
      'rollback',
      'linkerd/west/emojivoto',
      '--reason',
      'voting pods crash-loop on the new SVIDs',
      '--by',
      'erin',
      '--at',
      at(),
    );
    expect(r.code).toBe(0);
    s = (await json('cutover', 'status', '--scope', 'linkerd/west/emojivoto', '--at', at())).json();
    expect(s.scopes[0].phase).toBe('dual-trust');
    r = await json(
      'cutover',
      'advance',
      'linkerd/west/emojivoto',
      '--to',
      'dual-issue',
      '--by',
      'dana',
      '--at',
      at(),
    );
    expect(r.code).toBe(0);

    // ------------------------------------------------------------ the mesh follows into dual-issue
    r = await json('cutover', 'advance', 'linkerd', '--at', at());
    expect(r.code).toBe(0);
    expect(r.json().cascade.map((c: { scope: string }) => c.scope)).toEqual([
      'linkerd/west',
      'linkerd/west/booksapp',
    ]);

    // ------------------------------------------------------------ spiffe-only
    r = await json('cutover', 'advance', 'linkerd', '--at', at());
    expect(r.code).toBe(1);
    expect(codesOf(r.json().blockers)).toEqual(['PEER_WOULD_BE_REFUSED', 'WORKLOAD_ON_MESH_CERT']);
    const refused = r.json().blockers.filter((b: { code: string }) => b.code === 'PEER_WOULD_BE_REFUSED');
    expect(refused.map((b: { workload: string }) => b.workload).sort()).toEqual([
      'linkerd/west/booksapp/authors',
      'linkerd/west/booksapp/books',
      'linkerd/west/emojivoto/emoji',
      'linkerd/west/emojivoto/voting',
      'linkerd/west/emojivoto/web',
    ]);
    expect(refused[0].certificate.fingerprint).toMatch(/^[0-9a-f]{64}$/);

    // Only emojivoto's workloads come back on SPIRE: booksapp still blocks.
    const [emojivoto, booksapp] = [mesh.workloads.slice(0, 3), mesh.workloads.slice(3)];
    writeSpireSvids(spire, join(dir, 'svids-1'), T0, emojivoto);
    expect(
      (await run('import', 'svids-1', '--mesh', 'linkerd', '--cluster', 'west', '--at', at())).code,
    ).toBe(0);
    r = await json('cutover', 'advance', 'linkerd', '--at', at());
    expect(r.code).toBe(1);
    expect(
      r
        .json()
        .blockers.map((b: { code: string; workload: string }) => `${b.code} ${b.workload}`)
        .sort(),
    ).toEqual([
      'PEER_WOULD_BE_REFUSED linkerd/west/booksapp/authors',
      'PEER_WOULD_BE_REFUSED linkerd/west/booksapp/books',
      'WORKLOAD_ON_MESH_CERT linkerd/west/booksapp/authors',
      'WORKLOAD_ON_MESH_CERT linkerd/west/booksapp/books',
    ]);
    writeSpireSvids(spire, join(dir, 'svids-2'), T0, booksapp);
    expect(
      (await run('import', 'svids-2', '--mesh', 'linkerd', '--cluster', 'west', '--at', at())).code,
    ).toBe(0);
    r = await json('cutover', 'advance', 'linkerd', '--at', at());
    expect(r.code).toBe(0);
    expect(r.json().cascade).toHaveLength(3);

    // ------------------------------------------------------------ retired, once the mesh certificates expired
    r = await json('cutover', 'advance', 'linkerd', '--at', at());
    expect(r.code).toBe(1);
    expect(r.json().blockers.map((b: { code: string }) => b.code)).toEqual(
      Array(5).fill('MESH_CERT_UNEXPIRED'),
    );
    r = await json('cutover', 'advance', 'linkerd', '--at', at(2 * DAY));
    expect(r.code).toBe(0);
    expect(r.json().rollout.steps.join(' ')).toContain('linkerd-identity-issuer');

    s = (await json('cutover', 'status', '--at', at(2 * DAY))).json();
    expect(
      s.scopes.map((x: { scope: string; phase: string; onSpire: number }) => [x.scope, x.phase, x.onSpire]),
    ).toEqual([
      ['linkerd', 'retired', 5],
      ['linkerd/west', 'spiffe-only', 5],
      ['linkerd/west/booksapp', 'spiffe-only', 2],
      ['linkerd/west/emojivoto', 'spiffe-only', 3],
    ]);
    const h = (await json('cutover', 'history', '--scope', 'linkerd/west/emojivoto')).json().transitions;
    expect(
      h.map((t: { from: string; to: string; by: string; reason: string | null }) => [
        t.from,
        t.to,
        t.by,
        t.reason,
      ]),
    ).toEqual([
      ['inventoried', 'dual-trust', 'dana', null],
      ['dual-trust', 'dual-issue', 'dana', null],
      ['dual-issue', 'dual-trust', 'erin', 'voting pods crash-loop on the new SVIDs'],
      ['dual-trust', 'dual-issue', 'dana', null],
      ['dual-issue', 'spiffe-only', expect.any(String), null],
    ]);
  }, 120_000);
});
