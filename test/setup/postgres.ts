/**
 * A throwaway PostgreSQL cluster for the test run: `initdb` into a temp folder, `pg_ctl
 * start` on 127.0.0.1 and a free port (unix socket in the same temp folder), one database,
 * stopped and removed on teardown. As root, the server programs run as the `postgres` OS
 * user (initdb refuses root). Nothing relies on the Debian service or its `main` cluster.
 *
 * Environment:
 * - MESHBRIDGE_TEST_PG_URL   set by the global setup for workers (and honoured if already
 *                            set: an external server is used as is, not started or stopped)
 * - MESHBRIDGE_TEST_PG=off   skip PostgreSQL locally (refused under CI=true)
 * - MESHBRIDGE_PG_BINDIR     where postgres/initdb/pg_ctl live (default: newest
 *                            /usr/lib/postgresql/N/bin, else PATH)
 * - CI=true                  a missing or failing PostgreSQL fails the run instead of skipping
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

declare module 'vitest' {
  export interface ProvidedContext {
    /** postgres:// URL of the run's PostgreSQL, or null when it was skipped. */
    meshbridgeTestPgUrl: string | null;
    /** Why PostgreSQL was skipped (null when it runs). */
    meshbridgeTestPgSkipped: string | null;
  }
}

export const PG_URL_ENV = 'MESHBRIDGE_TEST_PG_URL';
const SUPERUSER = 'meshbridge';
const DATABASE = 'meshbridge_test';

function isCi(): boolean {
  return /^(1|true|yes)$/i.test(process.env.CI ?? '');
}

function hasServer(dir: string): boolean {
  return ['postgres', 'initdb', 'pg_ctl'].every((b) => existsSync(join(dir, b)));
}

/** Folder with postgres, initdb and pg_ctl, or null when PostgreSQL's server is not installed. */
export function findPgBinDir(): string | null {
  const fromEnv = process.env.MESHBRIDGE_PG_BINDIR;
  if (fromEnv) return hasServer(fromEnv) ? fromEnv : null;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) {
      const dir = join(root, v, 'bin');
      if (hasServer(dir)) return dir;
    }
  }
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && hasServer(dir)) return dir;
  }
  return null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

function postgresOsUser(): OsUser | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { name: 'postgres', uid, gid };
  } catch {
    throw new Error(
      'running as root, and there is no `postgres` OS user to run the PostgreSQL server as (initdb refuses root); ' +
        'install Debian postgresql (.ci/install-debian.sh) or run the tests as a normal user',
    );
  }
}

/** Runs a server program, as the postgres OS user when we are root. */
function runPg(user: OsUser | null, bin: string, args: string[]): string {
  const [cmd, argv] = user === null ? [bin, args] : ['runuser', ['-u', user.name, '--', bin, ...args]];
  const res = spawnSync(cmd, argv, { encoding: 'utf8', cwd: tmpdir(), timeout: 120_000 });
  if (res.status !== 0) {
    throw new Error(
      `${bin} ${args.join(' ')} failed (${res.error?.message ?? `exit ${res.status}`}):\n${res.stdout}\n${res.stderr}`,
    );
  }
  return res.stdout;
}

export interface PgCluster {
  /** postgres://meshbridge:PASSWORD@127.0.0.1:PORT/meshbridge_test */
  url: string;
  port: number;
  dir: string;
  /** Stops the server (immediate) and removes its folder; safe to call twice. */
  stop(): Promise<void>;
  /** Same, synchronously, for process 'exit' hooks. */
  stopSync(): void;
}

export async function startPostgres(binDir: string): Promise<PgCluster> {
  const user = postgresOsUser();
  const dir = mkdtempSync(join(tmpdir(), 'meshbridge-pg-'));
  const data = join(dir, 'data');
  const password = randomBytes(12).toString('hex');
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (user !== null) {
    chownSync(dir, user.uid, user.gid);
    chownSync(pwfile, user.uid, user.gid);
  }
  chmodSync(dir, 0o700);

  let stopped = false;
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    try {
      if (existsSync(join(data, 'postmaster.pid'))) {
        runPg(user, join(binDir, 'pg_ctl'), ['-D', data, 'stop', '-m', 'immediate', '-w', '-t', '30']);
      }
    } catch {
      // best effort: the folder goes anyway
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    runPg(user, join(binDir, 'initdb'), [
      '-D',
      data,
      '-U',
      SUPERUSER,
      `--pwfile=${pwfile}`,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
    ]);
    const port = await freePort();
    const serverOpts = [
      '-c listen_addresses=127.0.0.1',
      `-c port=${port}`,
      `-c unix_socket_directories=${dir}`,
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=200',
    ].join(' ');
    try {
      runPg(user, join(binDir, 'pg_ctl'), [
        '-D',
        data,
        '-l',
        join(dir, 'server.log'),
        '-w',
        '-t',
        '60',
        '-o',
        serverOpts,
        'start',
      ]);
    } catch (err) {
      const log = existsSync(join(dir, 'server.log')) ? readFileSync(join(dir, 'server.log'), 'utf8') : '';
      throw new Error(`${(err as Error).message}\nserver log:\n${log.slice(-4000)}`);
    }
    const admin = new pg.Client({
      host: '127.0.0.1',
      port,
      user: SUPERUSER,
      password,
      database: 'postgres',
    });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${DATABASE}`);
    } finally {
      await admin.end();
    }
    return {
      url: `postgres://${SUPERUSER}:${password}@127.0.0.1:${port}/${DATABASE}`,
      port,
      dir,
      stop: async () => stopSync(),
      stopSync,
    };
  } catch (err) {
    stopSync();
    throw err;
  }
}

export interface PgSetup {
  url: string | null;
  skipped: string | null;
  stop(): Promise<void>;
}

/** The global setup's part: start (or skip, or fail under CI) the run's PostgreSQL. */
export async function setupPostgres(log: (line: string) => void = (l) => console.log(l)): Promise<PgSetup> {
  const external = process.env[PG_URL_ENV];
  if (external) {
    log(`[meshbridge tests] PostgreSQL: using ${PG_URL_ENV} (external server)`);
    return { url: external, skipped: null, stop: async () => undefined };
  }
  const ci = isCi();
  if (/^(0|off|false|no)$/i.test(process.env.MESHBRIDGE_TEST_PG ?? '')) {
    if (ci)
      throw new Error(
        'MESHBRIDGE_TEST_PG=off is not allowed under CI=true: CI runs the store tests on PostgreSQL',
      );
    const why = 'MESHBRIDGE_TEST_PG=off';
    log(`[meshbridge tests] PostgreSQL SKIPPED (${why}): store tests run on SQLite only`);
    return { url: null, skipped: why, stop: async () => undefined };
  }
  const binDir = findPgBinDir();
  if (binDir === null) {
    const why =
      'PostgreSQL server binaries (postgres, initdb, pg_ctl) not found; install with .ci/install-debian.sh';
    if (ci) throw new Error(`CI=true requires PostgreSQL: ${why}`);
    log(`[meshbridge tests] PostgreSQL SKIPPED: ${why}. Store tests run on SQLite only.`);
    return { url: null, skipped: why, stop: async () => undefined };
  }
  const started = Date.now();
  const cluster = await startPostgres(binDir);
  const onExit = () => cluster.stopSync();
  process.once('exit', onExit);
  log(
    `[meshbridge tests] PostgreSQL started from ${binDir} on 127.0.0.1:${cluster.port} in ${Date.now() - started} ms`,
  );
  return {
    url: cluster.url,
    skipped: null,
    stop: async () => {
      process.off('exit', onExit);
      await cluster.stop();
    },
  };
}

/** A fresh, empty database on the run's server, for tests that need their own schema. */
export async function createTestDatabase(
  baseUrl: string,
  prefix = 'mbt',
): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return {
    url: url.href,
    drop: async () => {
      const c = new pg.Client({ connectionString: baseUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
