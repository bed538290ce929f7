/**
 * Scale-out: two broker processes on one database (PostgreSQL when the run has one,
 * a shared SQLite file otherwise), under concurrent load. Every credential handed out
 * has exactly one lease; once the leases expire, the sweepers (running in both
 * processes) revoke each one downstream exactly once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerDb } from '../../src/credential-broker/schema.js';
import { openStore, type Store } from '../../src/store/index.js';
import { repoRoot } from '../helpers/fixtures.js';
import { type FreshTarget, postgresCase, sqliteCase, testPgUrl } from '../store/targets.js';
import { createPki, jwtSvid, type Pki, type Workspace, workspace, writeTrust } from './helpers/world.js';

const TSX = resolve(repoRoot, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs');
const CHILD = resolve(repoRoot, 'test', 'credential-broker', 'helpers', 'broker-child.ts');
const WEB = 'spiffe://example.org/ns/shop/sa/web';
const pgUrl = testPgUrl();
const target = pgUrl === null ? sqliteCase : postgresCase(pgUrl);

let pki: Pki;
let ws: Workspace;
let fresh: FreshTarget;
let store: Store;
const children: ChildProcess[] = [];
const urls: string[] = [];
let revocationLog: string;

function startChild(instance: string, config: string): Promise<string> {
  const child = spawn(process.execPath, ['--import', TSX, CHILD, config, revocationLog, instance], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MESHBRIDGE_DB: '' },
  });
  children.push(child);
  let out = '';
  let err = '';
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`${instance} did not start: ${err}`)), 60_000);
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /READY (\S+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        done(m[1]!);
      }
    });
    child.once('exit', (code) => fail(new Error(`${instance} exited ${code}: ${err}`)));
  });
}

beforeAll(async () => {
  pki = createPki();
  ws = workspace('mb-scaleout-');
  fresh = await target.fresh();
  revocationLog = ws.write('revocations.log', '');
  ws.write(
    'policy.yaml',
    `credentials:
  orders-db: { spec: { type: ephemeral, kind: password }, ttl: 2s, maxTtl: 2s }
rules:
  - { name: web, subjects: [${WEB}], credentials: [orders-db] }
`,
  );
  const config = ws.write(
    'meshbridge.yaml',
    `broker:
  listen: { host: 127.0.0.1, port: 0 }
  tls: { cert: broker.pem, key: broker.key }
${writeTrust(ws, pki)}
  policy: policy.yaml
  backends: [{ type: ephemeral }]
  store: "${fresh.target}"
  sweeper: { interval: 300ms }
  rateLimit: false
`,
  );
  urls.push(...(await Promise.all([startChild('broker-1', config), startChild('broker-2', config)])));
  store = await openStore(fresh.target);
}, 120_000);

afterAll(async () => {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((done) => {
          if (c.exitCode !== null) return done();
          c.once('exit', () => done());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), 5000).unref();
        }),
    ),
  );
  await store?.close();
  await fresh?.cleanup();
  ws?.remove();
});

function issue(
  url: string,
  agent: Agent,
  token: string,
): Promise<{ status: number; leaseId?: string; password?: string }> {
  const u = new URL('/v1/credentials/orders-db', url);
  return new Promise((done, fail) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: 'POST',
        agent,
        rejectUnauthorized: false,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
        });
        res.on('end', () => {
          const j = JSON.parse(text) as { leaseId?: string; secret?: { password?: string } };
          done({
            status: res.statusCode ?? 0,
            ...(j.leaseId === undefined ? {} : { leaseId: j.leaseId }),
            ...(j.secret?.password === undefined ? {} : { password: j.secret.password }),
          });
        });
      },
    );
    req.on('error', fail);
    req.end('{}');
  });
}

describe(`two broker processes on one ${target.name} store`, () => {
  it('lease every credential once under load and revoke each expired lease exactly once', async () => {
    const token = jwtSvid(pki.spire, WEB);
    const agents = urls.map(() => new Agent({ keepAlive: true, maxSockets: 16 }));
    const results: { status: number; leaseId?: string; password?: string }[] = [];
    const perWorker = 25;
    await Promise.all(
      Array.from({ length: 32 }, async (_, w) => {
        const i = w % urls.length;
        for (let k = 0; k < perWorker; k++) results.push(await issue(urls[i]!, agents[i]!, token));
      }),
    );
    for (const a of agents) a.destroy();
    const ok = results.filter((r) => r.status === 200);
    expect(ok).toHaveLength(32 * perWorker);
    const leaseIds = ok.map((r) => r.leaseId!);
    expect(new Set(leaseIds).size).toBe(leaseIds.length);
    expect(new Set(ok.map((r) => r.password)).size).toBe(ok.length);

    const db = brokerDb(store);
    const rows = await db.selectFrom('broker_leases').select(['id', 'backend_lease_id']).execute();
    expect(rows.map((r) => r.id).sort()).toEqual([...leaseIds].sort());
    const audits = await db
      .selectFrom('broker_audit')
      .select('lease_id')
      .where('action', '=', 'issue')
      .execute();
    expect(audits.map((a) => a.lease_id).sort()).toEqual([...leaseIds].sort());

    // Wait for the leases (2 s) to expire and both sweepers to finish with them.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const open = await db
        .selectFrom('broker_leases')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (Number(open?.n) === 0) break;
      if (Date.now() > deadline) throw new Error(`${open?.n} leases still unrevoked`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const lines = readFileSync(revocationLog, 'utf8').trim().split('\n');
    const byLease = new Map<string, number>();
    for (const line of lines) {
      const id = line.split(' ')[1]!;
      byLease.set(id, (byLease.get(id) ?? 0) + 1);
    }
    expect(byLease.size).toBe(rows.length);
    for (const r of rows) expect(byLease.get(r.backend_lease_id!)).toBe(1);
    const expired = await db
      .selectFrom('broker_audit')
      .select('lease_id')
      .where('action', '=', 'expire')
      .execute();
    expect(expired).toHaveLength(rows.length);
  }, 120_000);
});
