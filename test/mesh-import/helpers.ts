import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { registerImportCommands } from '../../src/cli/commands/import.js';
import type { CliIO } from '../../src/cli/context.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { Capture } from '../../src/cli/output.js';
import { action, buildProgram, runCli } from '../../src/cli/program.js';
import {
  type BuildOptions,
  type Inventory,
  InventoryBuilder,
  type InventoryCertificate,
  readPaths,
} from '../../src/mesh-import/index.js';
import { parseCertificates } from '../../src/spiffe/x509/certificate.js';
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

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  json: () => unknown;
}

/**
 * Runs the CLI in-process through `runCli`. Until `src/cli/program.ts` registers the
 * import commands, the same program is built with them added (the one line the lead adds).
 */
export async function meshbridge(
  argv: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<CliRun> {
  const stdout = new Capture();
  const stderr = new Capture();
  const io: CliIO = {
    stdout,
    stderr,
    stdin: Readable.from([]),
    env: { ...opts.env, NO_COLOR: '1' },
    cwd: opts.cwd,
  };
  const state = { exitCode: 0 };
  const probe = buildProgram(io, state);
  let code: number;
  if (probe.commands.some((c) => c.name() === 'import')) {
    code = await runCli(argv, io);
  } else {
    registerImportCommands(probe, { io, state, action: (body) => action(io, state, body) });
    const everyCommand = (c: typeof probe): (typeof probe)[] => [c, ...c.commands.flatMap(everyCommand)];
    for (const c of everyCommand(probe)) c.exitOverride();
    try {
      await probe.parseAsync(argv, { from: 'user' });
      code = state.exitCode;
    } catch (err) {
      const id = (err as { code?: string }).code ?? '';
      code =
        id === 'commander.helpDisplayed' || id === 'commander.help'
          ? EXIT.ok
          : id.startsWith('commander.')
            ? EXIT.usage
            : EXIT.internal;
    }
  }
  return { code, stdout: stdout.text, stderr: stderr.text, json: () => JSON.parse(stdout.text) };
}
