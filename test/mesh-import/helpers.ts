import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BuildOptions,
  type Inventory,
  InventoryBuilder,
  type InventoryCertificate,
  readPaths,
} from '../../src/mesh-import/index.js';
import { parseCertificates } from '../../src/spiffe/x509/certificate.js';
import { type CliResult, cli } from '../cli/run.js';
import { fixturePath, fixturesRoot } from '../helpers/fixtures.js';

/** The instant SOURCES.md judged the shared fixtures at. */
export const FIXTURE_DAY = new Date('2026-11-23T12:00:00Z');

/** Imports paths (relative to ../shared/fixtures) as `meshbridge import` reads them. */
export async function importPaths(
  paths: string[],
  opts: BuildOptions & { cwd?: string } = {},
): Promise<Inventory> {
  const b = new InventoryBuilder({ clock: () => FIXTURE_DAY, ...opts });
  for await (const ex of readPaths(paths, { cwd: opts.cwd ?? fixturesRoot, mesh: opts.mesh ?? null })) {
    b.add(ex);
    await b.ready();
  }
  return b.finish();
}

export function all(inv: Inventory): InventoryCertificate[] {
  return [...inv.anchors, ...inv.intermediates, ...inv.workloads];
}

export function byFp(inv: Inventory, fingerprint: string): InventoryCertificate {
  const c = all(inv).find((x) => x.fingerprint === fingerprint);
  if (c === undefined) throw new Error(`certificate ${fingerprint} not in the inventory`);
  return c;
}

/** SHA-256 fingerprint of the n-th certificate of a shared fixture file. */
export function fixtureFp(mesh: 'istio' | 'linkerd', file: string, index = 0): string {
  const certs = parseCertificates(readFileSync(fixturePath(mesh, file)), { cache: false });
  const c = certs[index];
  if (c === undefined) throw new Error(`${file} has no certificate ${index}`);
  return c.fingerprint;
}

export function codes(inv: Inventory, fingerprint?: string): string[] {
  return inv.problems
    .filter((p) => fingerprint === undefined || p.fingerprint === fingerprint)
    .map((p) => p.code)
    .sort();
}

/**
 * OpenSSL's own answer to "did the key of `issuerPem` sign `childPem`": `openssl dgst
 * -verify` over the child's to-be-signed bytes (not `openssl verify`, which treats a
 * certificate named like its issuer as self-signed and never tries the issuer's key).
 */
export function opensslSignedBy(childPem: string, issuerPem: string): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'mb-openssl-'));
  try {
    const child = parseCertificates(childPem, { cache: false })[0]!;
    writeFileSync(join(dir, 'tbs'), child.tbs);
    writeFileSync(join(dir, 'sig'), child.signature);
    writeFileSync(join(dir, 'issuer.pem'), issuerPem);
    const pub = execFileSync('openssl', ['x509', '-in', join(dir, 'issuer.pem'), '-noout', '-pubkey']);
    writeFileSync(join(dir, 'pub.pem'), pub);
    try {
      execFileSync(
        'openssl',
        [
          'dgst',
          '-sha256',
          '-verify',
          join(dir, 'pub.pem'),
          '-signature',
          join(dir, 'sig'),
          join(dir, 'tbs'),
        ],
        {
          stdio: 'pipe',
        },
      );
      return true;
    } catch {
      return false;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export type CliRun = CliResult;

/** Runs the CLI in-process, as a user would type it. */
export function meshbridge(argv: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<CliRun> {
  return cli(argv, opts);
}
