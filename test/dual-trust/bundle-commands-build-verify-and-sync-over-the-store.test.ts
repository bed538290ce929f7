/**
 * The commands end to end over a SQLite store: an Istio inventory imported by the
 * project's importer, SPIRE and federated roots synced from a (fake, real-protocol)
 * Workload API and from files, bundles built in several formats with a spiffe_sequence
 * that grows only when the content changes, and the dry run's JSON contract and exit codes.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncSpireBundles } from '../../src/cli/commands/spire-bundle.js';
import { contextFor } from '../../src/cli/context.js';
import { Capture } from '../../src/cli/output.js';
import { generateIstioMesh } from '../../src/demo/mesh.js';
import { toImportRecord } from '../../src/mesh-import/persist.js';
import { SpiffeBundle } from '../../src/spiffe/bundle/spiffebundle.js';
import { TrustDomain } from '../../src/spiffe/spiffeid/index.js';
import { loadTrustRoots } from '../../src/store/dual-trust-repo.js';
import { openStore, saveImport } from '../../src/store/index.js';
import { cli } from '../cli/run.js';
import { FakeWorkloadApi } from '../spiffe/workloadapi/fake-server.js';
import { AT, clock, importFiles, pemOfCerts, spireCa, spireSvid } from './helpers.js';

const TD = 'cluster.local';
const PARTNER = 'partner.example';

describe('bundle build / verify and spire sync over a store', () => {
  let dir: string;
  let db: string;
  let fake: FakeWorkloadApi;
  const mesh = generateIstioMesh({
    clock,
    trustDomain: TD,
    namespaces: { shop: ['web', 'cart'], payments: ['api'] },
  });
  const spire = spireCa(TD);
  const spire2 = spireCa(TD);
  const partner = spireCa(PARTNER);
  const agentSvid = spireSvid(spire, `spiffe://${TD}/ns/spire/sa/agent`);
  const run = (...argv: string[]) => cli(['--db', db, ...argv], { cwd: dir });
  const atArgs = ['--at', AT.toISOString()];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mb-bundle-cmds-'));
    db = join(dir, 'store.db');
    const files: [string, string][] = [['root-cert.pem', mesh.root.pem]];
    for (const w of mesh.workloads)
      files.push([`${w.serviceAccount}.pem`, w.chain.map((c) => c.pem).join('')]);
    const inv = await importFiles(files, 'istio');
    const store = await openStore(db);
    try {
      await saveImport(store, toImportRecord(inv), { clock });
    } finally {
      await store.close();
    }
    fake = await FakeWorkloadApi.start();
    fake.setX509Context({
      svids: [
        {
          spiffeId: `spiffe://${TD}/ns/spire/sa/agent`,
          x509Svid: agentSvid.cert.der,
          x509SvidKey: agentSvid.key.export({ format: 'der', type: 'pkcs8' }),
          bundle: spire.cert.der,
        },
      ],
      federatedBundles: { [`spiffe://${PARTNER}`]: partner.cert.der },
    });
    fake.setJwtBundles({ [`spiffe://${TD}`]: fake.jwks() });
    writeFileSync(join(dir, 'web-svid.pem'), spireSvid(spire, `spiffe://${TD}/ns/shop/sa/web`).pem);
  });
  afterAll(async () => {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("spire sync --socket stores SPIRE's own roots and the federated ones from the Workload API", async () => {
    const r = await run('--json', 'spire', 'sync', '--socket', fake.address);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = r.json() as {
      bundle: {
        trustDomains: {
          trustDomain: string;
          origin: string;
          x509Authorities: number;
          jwtAuthorities: number;
        }[];
      };
    };
    expect(
      out.bundle.trustDomains.map((t) => [t.trustDomain, t.origin, t.x509Authorities, t.jwtAuthorities]),
    ).toEqual([
      [TD, 'spire', 1, 1],
      [PARTNER, 'federated', 1, 0],
    ]);
    const spiffe = await run(
      'bundle',
      'build',
      '--format',
      'spiffe',
      '--trust-domain',
      TD,
      '--dry-run',
      ...atArgs,
    );
    expect(SpiffeBundle.parse(TD, spiffe.stdout).bundle.jwtAuthorities.map((k) => k.kid)).toEqual([
      fake.signingKid,
    ]);
  });

  it('bundle build: spiffe_sequence stays while the content stays, grows when SPIRE rotates', async () => {
    const build = async (...extra: string[]) => {
      const r = await run(
        '--json',
        'bundle',
        'build',
        '--format',
        'spiffe',
        '--trust-domain',
        TD,
        ...atArgs,
        ...extra,
      );
      expect(r.code).toBe(0);
      const out = r.json() as {
        trustDomains: { sequence: number; roots: { origins: string[] }[] }[];
        artifacts: { content: string }[];
      };
      return {
        sequence: out.trustDomains[0]!.sequence,
        origins: out.trustDomains[0]!.roots.map((x) => x.origins.join('+')),
        content: out.artifacts[0]!.content,
      };
    };
    const first = await build();
    expect(first.origins).toEqual(['mesh', 'spire']);
    expect(SpiffeBundle.parse(TD, first.content).bundle.sequenceNumber).toBe(BigInt(first.sequence));
    expect((await build()).sequence).toBe(first.sequence);
    expect((await build('--phase', 'spiffe-only', '--dry-run')).sequence).toBe(first.sequence);
    writeFileSync(join(dir, 'spire-rotated.pem'), pemOfCerts([spire.cert, spire2.cert]));
    expect((await run('spire', 'sync', '--bundle', 'spire-rotated.pem', '--trust-domain', TD)).code).toBe(0);
    const rotated = await build();
    expect(rotated.sequence).toBe(first.sequence + 1);
    expect(rotated.origins).toEqual(['mesh', 'spire', 'spire']);
  });

  it("bundle verify: the JSON contract, exit 0 for a safe bundle and 1 when today's certificates would break", async () => {
    expect(
      (await run('bundle', 'build', '--format', 'istio-cacerts', '--out', 'dual.yaml', ...atArgs)).code,
    ).toBe(0);
    expect(
      (
        await run(
          'bundle',
          'build',
          '--format',
          'pem',
          '--phase',
          'spiffe-only',
          '--out',
          'spiffe-only.pem',
          ...atArgs,
        )
      ).code,
    ).toBe(0);
    const safe = await run(
      '--json',
      'bundle',
      'verify',
      '--bundle',
      'dual.yaml',
      '--inventory',
      'web-svid.pem',
      ...atArgs,
    );
    expect(safe.code).toBe(0);
    const report = safe.json() as {
      total: number;
      valid: number;
      invalid: number;
      results: Record<string, unknown>[];
    };
    expect(Object.keys(report)).toEqual(['total', 'valid', 'invalid', 'results']);
    expect(report).toMatchObject({ total: 4, valid: 4, invalid: 0 });
    for (const res of report.results) {
      expect(Object.keys(res)).toEqual(['source', 'fingerprint', 'spiffeId', 'valid']);
    }
    expect(report.results[0]).toMatchObject({
      source: 'web-svid.pem',
      spiffeId: `spiffe://${TD}/ns/shop/sa/web`,
      valid: true,
    });

    const early = await run(
      '--json',
      'bundle',
      'verify',
      '--bundle',
      'spiffe-only.pem',
      '--inventory',
      'web-svid.pem',
      ...atArgs,
    );
    expect(early.code).toBe(1);
    const bad = early.json() as {
      total: number;
      valid: number;
      invalid: number;
      results: { valid: boolean; code?: string; source: string }[];
    };
    expect(bad).toMatchObject({ total: 4, valid: 1, invalid: 3 });
    expect(
      bad.results
        .filter((x) => !x.valid)
        .every((x) => x.code === 'CHAIN_NO_ANCHOR' || x.code === 'CHAIN_SIGNATURE_INVALID'),
    ).toBe(true);

    const human = await run('bundle', 'verify', '--bundle', 'spiffe-only.pem', '--inventory', ...atArgs);
    expect(human.code).toBe(1);
    expect(human.stdout).toContain('3 certificate(s) that verify today would stop verifying');
  });

  it('refuses expired roots with exit 1 unless --allow-expiring', async () => {
    const later = ['--at', '2040-01-01T00:00:00Z'];
    const refused = await run('--json', 'bundle', 'build', '--format', 'pem', ...later);
    expect(refused.code).toBe(1);
    expect((refused.json() as { error: { code: string } }).error.code).toBe('BUNDLE_ROOT_EXPIRED');
    const allowed = await run(
      '--json',
      'bundle',
      'build',
      '--format',
      'pem',
      '--allow-expiring',
      '--dry-run',
      ...later,
    );
    expect(allowed.code).toBe(0);
    expect((allowed.json() as { warnings: { code: string }[] }).warnings.map((w) => w.code)).toContain(
      'BUNDLE_ROOT_EXPIRED',
    );
  });

  it('refuses to build a bundle with no roots (exit 1, BUNDLE_NO_ROOTS), publishing and writing nothing', async () => {
    const emptyDb = join(dir, 'empty.db');
    const out = join(dir, 'empty.pem');
    const empty = await cli(['--db', emptyDb, 'bundle', 'build', '--format', 'pem', '--out', out], {
      cwd: dir,
    });
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(
      /^meshbridge: no trust roots for phase dual-trust: .* \[BUNDLE_NO_ROOTS\]\n$/,
    );
    expect(() => readFileSync(out)).toThrow();
    const store = await openStore(emptyDb);
    try {
      expect(
        await store.db
          .selectFrom('bundle_versions' as never)
          .selectAll()
          .execute(),
      ).toEqual([]);
    } finally {
      await store.close();
    }
    // A trust domain nothing was imported or synced for: the same refusal.
    const nowhere = await run(
      '--json',
      'bundle',
      'build',
      '--format',
      'spiffe',
      '--trust-domain',
      'nowhere.example',
    );
    expect(nowhere.code).toBe(1);
    expect((nowhere.json() as { error: { code: string } }).error.code).toBe('BUNDLE_NO_ROOTS');
  });

  it('spire sync --bundle reads `bundle show -format spiffe` and `bundle list -format spiffe` output', async () => {
    const show = new SpiffeBundle(TrustDomain.parse(TD), {
      x509Authorities: [spire.cert, spire2.cert],
      sequenceNumber: 12n,
      refreshHint: 60,
    }).marshal({ indent: 2 });
    writeFileSync(join(dir, 'bundle-show.json'), show);
    const r = await run('--json', 'spire', 'sync', '--bundle', 'bundle-show.json', '--trust-domain', TD);
    expect(r.code).toBe(0);
    expect(
      (r.json() as { bundle: { trustDomains: { sequence: string; origin: string }[] } }).bundle.trustDomains,
    ).toEqual([
      expect.objectContaining({
        trustDomain: TD,
        origin: 'spire',
        x509Authorities: 2,
        sequence: '12',
        removed: 0,
      }),
    ]);
    const other = spireCa('other.example');
    const list = `* spiffe://${PARTNER}\n${new SpiffeBundle(TrustDomain.parse(PARTNER), { x509Authorities: [partner.cert] }).marshal({ indent: 2 })}\n\n* spiffe://other.example\n${new SpiffeBundle(TrustDomain.parse('other.example'), { x509Authorities: [other.cert] }).marshal({ indent: 2 })}\n`;
    writeFileSync(join(dir, 'bundle-list.txt'), list);
    const l = await run('--json', 'spire', 'sync', '--bundle', 'bundle-list.txt');
    expect(l.code).toBe(0);
    expect(
      (
        l.json() as { bundle: { trustDomains: { trustDomain: string; origin: string }[] } }
      ).bundle.trustDomains.map((t) => [t.trustDomain, t.origin]),
    ).toEqual([
      [PARTNER, 'federated'],
      ['other.example', 'federated'],
    ]);
  });

  it('usage errors exit 2', async () => {
    expect((await run('bundle', 'build', '--format', 'nope')).code).toBe(2);
    expect((await run('bundle', 'build', '--format', 'linkerd', ...atArgs)).code).toBe(2);
    expect((await run('bundle', 'verify', '--bundle', 'dual.yaml')).code).toBe(2);
    // A bundle names no trust domain (R64): inferred from the roots' SPIFFE IDs, else required.
    writeFileSync(join(dir, 'no-spiffe-id.pem'), mesh.root.pem);
    const noTd = await run('spire', 'sync', '--bundle', 'no-spiffe-id.pem');
    expect([noTd.code, noTd.stderr]).toEqual([2, expect.stringContaining('[TRUST_DOMAIN_REQUIRED]')]);
  });

  it('spire sync --socket --watch keeps the stored roots current until stopped', async () => {
    const stdout = new Capture();
    const ctx = {
      ...contextFor({ optsWithGlobals: () => ({ db }) } as never, {
        stdout,
        stderr: new Capture(),
        stdin: process.stdin,
        env: {},
        cwd: dir,
      }),
    };
    const stop = new AbortController();
    const watching = syncSpireBundles(ctx, { socket: fake.address, watch: true }, stop.signal);
    const stored = async () => {
      const store = await openStore(db);
      try {
        return (await loadTrustRoots(store, { origin: 'spire', trustDomain: TD })).map((x) => x.keyId).sort();
      } finally {
        await store.close();
      }
    };
    await waitFor(() => stdout.text.includes('update 1'));
    expect(await stored()).toEqual([spire.cert.fingerprint]);
    fake.setX509Context({
      svids: [
        {
          spiffeId: `spiffe://${TD}/ns/spire/sa/agent`,
          x509Svid: agentSvid.cert.der,
          x509SvidKey: agentSvid.key.export({ format: 'der', type: 'pkcs8' }),
          bundle: Buffer.concat([spire.cert.der, spire2.cert.der]),
        },
      ],
    });
    await waitFor(() => stdout.text.includes('update 2'));
    expect(await stored()).toEqual([spire.cert.fingerprint, spire2.cert.fingerprint].sort());
    stop.abort();
    const result = await watching;
    expect(result.updates).toBe(2);
    expect(readFileSync(db).length).toBeGreaterThan(0);
  });
});

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}
