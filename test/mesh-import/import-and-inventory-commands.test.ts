/**
 * `meshbridge import` and `meshbridge inventory`, in-process, against a temp SQLite file
 * (and the run's PostgreSQL when there is one): the JSON contract, tables for people,
 * `--problems` like `linkerd check`, `--expiring`, exit codes, help.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturesRoot } from '../helpers/fixtures.js';
import { TARGETS } from '../store/targets.js';
import { FIXTURE_DAY, meshbridge } from './helpers.js';

const AT = ['--at', FIXTURE_DAY.toISOString()];
const HEX64 = /^[0-9a-f]{64}$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'mb-cli-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = (argv: string[], cwd = fixturesRoot) => meshbridge(argv, { cwd });

describe('meshbridge import --json', () => {
  it('prints exactly the contract: anchors, intermediates, workloads, problems', async () => {
    const db = join(tmp, 'contract.db');
    const r = await run(['--db', db, 'import', 'istio', 'linkerd', '--cluster', 'prod-eu', '--json', ...AT]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const j = r.json() as Record<string, Record<string, unknown>[]>;
    expect(Object.keys(j)).toEqual(['anchors', 'intermediates', 'workloads', 'problems']);
    for (const a of [...j.anchors!, ...j.intermediates!]) {
      expect(Object.keys(a)).toEqual([
        'fingerprint',
        'subject',
        'notBefore',
        'notAfter',
        'keyAlgorithm',
        'mesh',
        'sources',
      ]);
      expect(a.fingerprint).toMatch(HEX64);
      expect(a.notBefore).toMatch(ISO_UTC);
      expect(a.notAfter).toMatch(ISO_UTC);
    }
    for (const w of j.workloads!) {
      expect(Object.keys(w)).toEqual([
        'fingerprint',
        'mesh',
        'cluster',
        'meshIdentity',
        'spiffeId',
        'namespace',
        'serviceAccount',
        'serial',
        'notBefore',
        'notAfter',
        'keyAlgorithm',
        'anchor',
        'sources',
      ]);
      expect(w.cluster).toBe('prod-eu');
      expect(w.fingerprint).toMatch(HEX64);
      if (w.anchor !== null) expect(w.anchor).toMatch(HEX64);
    }
    for (const p of j.problems!) {
      expect(Object.keys(p).filter((k) => k !== 'fingerprint')).toEqual(['code', 'source', 'message']);
    }
    const foo = j.workloads!.find((w) => w.spiffeId === 'spiffe://trust-domain-foo/ns/foo/sa/foo')!;
    expect(foo).toMatchObject({
      mesh: 'istio',
      namespace: 'foo',
      serviceAccount: 'foo',
      sources: ['istio/workload-foo-cert.pem'],
    });
  });

  it('--mesh forces the mesh; an unknown mesh is a usage error', async () => {
    const db = join(tmp, 'mesh.db');
    const r = await run([
      '--db',
      db,
      'import',
      'istio/plugin-ca_root-cert.pem',
      '--mesh',
      'linkerd',
      '--json',
      ...AT,
    ]);
    expect((r.json() as { anchors: { mesh: string }[] }).anchors[0]!.mesh).toBe('linkerd');
    const bad = await run(['--db', db, 'import', 'istio/plugin-ca_root-cert.pem', '--mesh', 'consul']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/\[USAGE_MESH_INVALID\]/);
  });

  it('a store that cannot be reached is exit 3, and nothing was half-done', async () => {
    const r = await run([
      '--db',
      'postgres://nobody@127.0.0.1:1/none',
      'import',
      'istio/plugin-ca_root-cert.pem',
    ]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^meshbridge: .*\[STORE_UNAVAILABLE\]\n$/);
  });
});

describe.each(TARGETS)('import then inventory on $name', (tc) => {
  let target: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const fresh = await tc.fresh();
    target = fresh.target;
    cleanup = fresh.cleanup;
  });
  afterAll(async () => cleanup());

  it('inventory --json returns what import --json printed; a re-import adds nothing new', async () => {
    const imported = await run(['--db', target, 'import', 'istio', 'linkerd', '--json', ...AT]);
    expect(imported.code).toBe(0);
    const shown = await run(['--db', target, 'inventory', '--json', ...AT]);
    expect(shown.code).toBe(0);
    expect(shown.json()).toEqual(imported.json());

    const again = await run(['--db', target, 'import', 'istio', 'linkerd', ...AT]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/; 0 new, 20 seen before\n/);
    expect(again.stdout).not.toMatch(/:\/\/[^/@\s]*:[^/@\s]*@/); // no password in what is printed
    expect((await run(['--db', target, 'inventory', '--json', ...AT])).json()).toEqual(imported.json());
  });

  it('tables for people: anchors, issuers, workloads per namespace, problems', async () => {
    const r = await run(['--db', target, 'inventory', ...AT]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Trust anchors \(9\)$/m);
    expect(r.stdout).toMatch(/^Intermediates and issuers \(3\)$/m);
    expect(r.stdout).toMatch(/^Workloads \(8\)$/m);
    expect(r.stdout).toMatch(/^NAMESPACE\s+CERTIFICATES\s+IDENTITIES\s+FIRST EXPIRY\s+NO ANCHOR$/m);
    expect(r.stdout).toMatch(/^istio-system\s+1\s+1\s+2020-04-12\s+0$/m);
    expect(r.stdout).toMatch(/^SAME_SUBJECT_DIFFERENT_KEY\s+7$/m);
    expect(r.stdout).not.toMatch(/\u001b\[/);
  });

  it('--problems reads like linkerd check: ✓/× per named check with a hint; exit 1 on a failed check', async () => {
    const r = await run(['--db', target, 'inventory', '--problems', ...AT]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^✓ PEM blocks are readable$/m);
    expect(r.stdout).toMatch(/^× certificates are within their validity period$/m);
    expect(r.stdout).toMatch(
      /^ {4}spiffe:\/\/cluster\.local\/ns\/istio-system\/sa\/prometheus expired on 2020-04-12T18:16:21\.000Z .*\[CERT_EXPIRED\]$/m,
    );
    expect(r.stdout).toMatch(/^ {6}source: istio\/selfsigned-ca_workload-cert-chain\.pem$/m);
    expect(r.stdout).toMatch(/^ {4}hint: /m);
    expect(r.stdout).toMatch(/^× trust anchors and issuers are unambiguous$/m);
    expect(r.stdout).toMatch(/^✓ every certificate chains to a known trust anchor$/m);
    expect(r.stdout).toMatch(/^Status check results are ×/m);
    const j = await run(['--db', target, 'inventory', '--problems', '--json', ...AT]);
    const checks = (j.json() as { checks: { name: string; status: string }[] }).checks;
    expect(checks.find((c) => c.name === 'keys are strong enough')!.status).toBe('pass');
  });

  it('--expiring keeps the certificates that end within the window, judged at --at', async () => {
    const r = await run(['--db', target, 'inventory', '--expiring', '30d', '--json', ...AT]);
    const j = r.json() as { anchors: unknown[]; workloads: { namespace: string }[] };
    expect(j.anchors).toEqual([]);
    expect(j.workloads.map((w) => w.namespace).sort()).toEqual(['ambient', 'istio-system']);
    const years = await run(['--db', target, 'inventory', '--expiring', '520w', '--json', ...AT]);
    expect((years.json() as { anchors: unknown[] }).anchors.length).toBeGreaterThan(0);
    const bad = await run(['--db', target, 'inventory', '--expiring', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/\[USAGE_WINDOW_INVALID\]/);
  });

  it('validity is judged when the inventory is viewed, not frozen at import time', async () => {
    const later = await run([
      '--db',
      target,
      'inventory',
      '--problems',
      '--json',
      '--at',
      '2031-01-01T00:00:00Z',
    ]);
    const problems = (later.json() as { problems: { code: string }[] }).problems;
    // ec-root (2031-04-23) and friends now expire within 30 days or already have.
    expect(problems.filter((p) => p.code === 'CERT_EXPIRED').length).toBeGreaterThan(2);
    expect(problems.some((p) => p.code === 'CERT_EXPIRING_SOON')).toBe(true);
  });
});

describe('empty store and help', () => {
  it('an empty inventory says how to fill it', async () => {
    const r = await run(['--db', join(tmp, 'empty.db'), 'inventory']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/meshbridge import/);
  });

  it('import and inventory have --help with examples', async () => {
    for (const cmd of ['import', 'inventory']) {
      const r = await run([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Example');
      expect(r.stdout).toContain(`meshbridge ${cmd}`);
    }
  });

  it('no progress bar when stderr is not a terminal', async () => {
    const r = await run(['--db', join(tmp, 'quiet.db'), 'import', 'linkerd', ...AT]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
  });
});
