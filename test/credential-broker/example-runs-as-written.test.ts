/**
 * examples/broker works as its README says: from a copy of the folder, `dev mint`
 * then `broker serve --config meshbridge.yaml` (a real process) serves HTTPS on
 * 127.0.0.1:8443 with certs/broker.pem; web gets the ephemeral orders-db, intruder
 * gets nothing; `meshbridge fetch` writes the secret; `policy test` passes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificates } from '../../src/spiffe/x509/certificate.js';
import { cli } from '../cli/run.js';
import { repoRoot } from '../helpers/fixtures.js';
import { call } from './helpers/world.js';

const EXAMPLE = resolve(repoRoot, 'examples', 'broker');
const TSX = resolve(repoRoot, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs');
const MAIN = resolve(repoRoot, 'src', 'cli', 'main.ts');

let dir: string;
let child: ChildProcess | undefined;
let url = 'https://127.0.0.1:8443';
let stderr = '';
let stdout = '';

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = createServer();
    s.once('error', () => done(false));
    s.listen(port, '127.0.0.1', () => s.close(() => done(true)));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mb-example-broker-'));
  cpSync(EXAMPLE, dir, {
    recursive: true,
    filter: (src) => !/certs|meshbridge\.db|\.env$/.test(src.slice(EXAMPLE.length)),
  });
  const mint = await cli(
    [
      'dev',
      'mint',
      '--out',
      'certs',
      '--trust-domain',
      'example.org',
      '--id',
      'spiffe://example.org/ns/shop/sa/web',
      '--id',
      'spiffe://example.org/ns/shop/sa/intruder',
      '--id',
      'spiffe://example.org/ns/meshbridge/sa/broker',
    ],
    { cwd: dir },
  );
  expect(mint.code, mint.stderr).toBe(0);
  // The example listens on 8443 as written; only if something else holds that port here is it moved.
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.MESHBRIDGE_DB;
  if (!(await portFree(8443))) {
    env.MESHBRIDGE_BROKER_PORT = '0';
    console.warn('port 8443 is busy on this machine: the example runs on a free port instead');
  }
  child = spawn(process.execPath, ['--import', TSX, MAIN, 'broker', 'serve', '--config', 'meshbridge.yaml'], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  await new Promise<void>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`broker did not start:\n${stderr}\n${stdout}`)), 30_000);
    child!.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = /listening on (https:\/\/\S+)/.exec(stderr);
      if (m !== null) {
        clearTimeout(timer);
        url = m[1]!;
        done();
      }
    });
    child!.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`broker exited with ${code}:\n${stderr}\n${stdout}`));
    });
  });
}, 60_000);

afterAll(async () => {
  if (child !== undefined && child.exitCode === null) {
    child.kill('SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
});

const read = (name: string) => readFileSync(join(dir, name), 'utf8');
const cert = (name: string) => ({ certPem: read(`certs/${name}.pem`), keyPem: read(`certs/${name}.key`) });

describe('examples/broker', () => {
  it('serves HTTPS on 127.0.0.1:8443 with certs/broker.pem', async () => {
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const served = await new Promise<string>((done, fail) => {
      import('node:tls').then(({ connect }) => {
        const s = connect(
          { host: '127.0.0.1', port: Number(new URL(url).port), rejectUnauthorized: false },
          () => {
            done(s.getPeerX509Certificate()!.fingerprint256.replaceAll(':', '').toLowerCase());
            s.end();
          },
        );
        s.on('error', fail);
      }, fail);
    });
    expect(served).toBe(parseCertificates(read('certs/broker.pem'))[0]!.fingerprint);
  });

  it('gives web the ephemeral orders-db', async () => {
    const r = await call(url, { path: '/v1/credentials/orders-db', method: 'POST', client: cert('web') });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ name: 'orders-db', ttlSeconds: 300, secret: { username: 'orders' } });
  });

  it('gives intruder nothing', async () => {
    const r = await call(url, {
      path: '/v1/credentials/orders-db',
      method: 'POST',
      client: cert('intruder'),
    });
    expect(r.status).toBe(403);
    expect(r.json).toMatchObject({ error: { code: 'POLICY_NO_RULE' } });
    const list = await call(url, { path: '/v1/credentials', client: cert('intruder') });
    expect(list.json.credentials).toEqual([]);
  });

  it('accepts web with a JWT-SVID from `dev jwt` for the broker audience', async () => {
    const jwt = await cli(
      [
        'dev',
        'jwt',
        '--ca',
        'certs',
        '--id',
        'spiffe://example.org/ns/shop/sa/web',
        '--audience',
        'spiffe://example.org/ns/meshbridge/sa/broker',
      ],
      { cwd: dir },
    );
    expect(jwt.code).toBe(0);
    const r = await call(url, {
      path: '/v1/credentials/orders-db',
      body: { ttl: '1m' },
      bearer: jwt.stdout.trim(),
    });
    expect(r.status).toBe(200);
    expect(r.json.ttlSeconds).toBe(60);
  });

  it('lets `meshbridge fetch` write the secret for web, verifying the broker by its SPIFFE ID', async () => {
    const r = await cli(
      [
        'fetch',
        '--broker',
        url,
        '--credential',
        'orders-db',
        '--cert',
        'certs/web.pem',
        '--key',
        'certs/web.key',
        '--bundle',
        'certs/bundle.pem',
        '--broker-id',
        'spiffe://example.org/ns/meshbridge/sa/broker',
        '--out',
        'orders-db.env',
      ],
      { cwd: dir },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(read('orders-db.env')).toMatch(/^USERNAME=orders\nPASSWORD=.+\n$/);
    expect(statSync(join(dir, 'orders-db.env')).mode & 0o777).toBe(0o600);
  });

  it('passes its own policy test cases', async () => {
    const r = await cli(['policy', 'test', 'policy.yaml', 'cases.yaml'], { cwd: dir });
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain('PASS: 4/4');
  });

  it('stops cleanly on SIGTERM, having logged each decision as JSON', async () => {
    const started = Date.now();
    const exited = new Promise<number | null>((done) => child!.once('exit', (code) => done(code)));
    child!.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    const audits = stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { audit?: { decision: string; spiffeId?: string } })
      .filter((l) => l.audit !== undefined);
    expect(audits.some((l) => l.audit?.decision === 'allow')).toBe(true);
    expect(audits.some((l) => l.audit?.decision === 'deny' && l.audit.spiffeId?.endsWith('/intruder'))).toBe(
      true,
    );
  });
});
