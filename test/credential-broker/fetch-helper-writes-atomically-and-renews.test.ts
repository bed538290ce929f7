/**
 * `meshbridge fetch` and the function under it: the broker's certificate is checked
 * as an X.509-SVID before anything is sent; the secret is written atomically with
 * mode 0600 in the chosen format; with --watch it is renewed before expiry and a
 * command runs after every write.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerError, categoryOfStatus, statusOfCategory } from '../../src/credential-broker/errors.js';
import {
  type FetchEvent,
  fetchCredential,
  formatSecret,
  renewDelay,
  runFetch,
} from '../../src/credential-broker/fetch.js';
import { X509Bundle } from '../../src/spiffe/bundle/x509bundle.js';
import { cli } from '../cli/run.js';
import { startBroker, type TestBroker } from './helpers/broker.js';
import { BROKER_ID, expiredSvid, jwtSvid, spireSvid } from './helpers/world.js';

const WEB = 'spiffe://example.org/ns/shop/sa/web';
let b: TestBroker;

beforeAll(async () => {
  b = await startBroker({
    policy: `
credentials:
  orders-db: { spec: { type: ephemeral, kind: password, username: orders }, ttl: 2s, maxTtl: 1h }
  api: { spec: { type: ephemeral, kind: api-key } }
rules:
  - { name: web, subjects: [${WEB}], credentials: [orders-db, api] }
`,
  });
});
afterAll(async () => {
  await b?.close();
});

const trust = () => X509Bundle.parse('example.org', b.pki.spire.root.pem);

describe('fetchCredential', () => {
  it('authenticates by mTLS or JWT-SVID after checking the broker is the expected SVID', async () => {
    const web = spireSvid(b.pki, WEB);
    const viaCert = await fetchCredential({
      broker: b.url,
      credential: 'api',
      auth: { kind: 'x509', ...web },
      serverTrust: trust(),
      brokerId: BROKER_ID,
    });
    expect(viaCert.secret.api_key).toMatch(/^mbk_/);
    const viaJwt = await fetchCredential({
      broker: b.url,
      credential: 'orders-db',
      ttl: '10m',
      auth: { kind: 'jwt', token: jwtSvid(b.pki.spire, WEB) },
      serverTrust: trust,
    });
    expect(viaJwt.ttlSeconds).toBe(600);
  });

  it('refuses a broker whose certificate does not verify, or that is not the expected ID, before sending', async () => {
    const web = spireSvid(b.pki, WEB);
    const decisions = () => b.logs.records().filter((l) => l.audit !== undefined).length;
    const before = decisions();
    const stranger = X509Bundle.parse('example.org', b.pki.foreign.root.pem);
    await expect(
      fetchCredential({
        broker: b.url,
        credential: 'api',
        auth: { kind: 'x509', ...web },
        serverTrust: stranger,
      }),
    ).rejects.toMatchObject({ code: 'FETCH_SERVER_UNTRUSTED' });
    await expect(
      fetchCredential({
        broker: b.url,
        credential: 'api',
        auth: { kind: 'x509', ...web },
        serverTrust: trust(),
        brokerId: 'spiffe://example.org/ns/elsewhere/sa/impostor',
      }),
    ).rejects.toMatchObject({ code: 'FETCH_SERVER_UNTRUSTED' });
    // No request reached the broker: it recorded no decision.
    expect(decisions()).toBe(before);
  });

  it("passes on the broker's error code and Retry-After", async () => {
    const err = await fetchCredential({
      broker: b.url,
      credential: 'api',
      auth: { kind: 'x509', ...spireSvid(b.pki, 'spiffe://example.org/ns/shop/sa/intruder') },
      serverTrust: trust(),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BrokerError);
    expect(err).toMatchObject({ code: 'POLICY_NO_RULE', status: 403 });
  });
});

describe('formatSecret', () => {
  it('writes env lines a shell can source, JSON, or one raw field', () => {
    const s = { username: 'orders', password: "p'a ss$1", 'api-key': 'mbk_x' };
    expect(formatSecret(s, 'env')).toBe("USERNAME=orders\nPASSWORD='p'\\''a ss$1'\nAPI_KEY=mbk_x\n");
    expect(JSON.parse(formatSecret(s, 'json'))).toEqual(s);
    expect(formatSecret(s, 'raw', { field: 'password' })).toBe("p'a ss$1");
    expect(formatSecret({ token: 't' }, 'raw')).toBe('t');
    expect(() => formatSecret(s, 'raw')).toThrow(/--field/);
  });
});

describe('renewal', () => {
  it('renews after two thirds of the lifetime, and never later than 5 s before expiry', () => {
    const t0 = new Date('2026-01-01T00:00:00Z');
    const at = (ms: number) => () => new Date(t0.getTime() + ms);
    const c = (ttl: number) => ({
      name: 'x',
      leaseId: 'l',
      ttlSeconds: ttl,
      secret: {},
      receivedAt: t0,
      expiresAt: new Date(t0.getTime() + ttl * 1000),
    });
    expect(renewDelay(c(300), 2 / 3, at(0))).toBe(200_000);
    expect(renewDelay(c(12), 0.9, at(0))).toBe(9000);
    expect(renewDelay(c(60), 0.95, at(0))).toBe(55_000);
    expect(renewDelay(c(2), 2 / 3, at(0))).toBe(1333);
  });

  it('keeps the file fresh with --watch semantics and runs the command after each write', async () => {
    const out = b.ws.write('orders.env', 'stale\n');
    const ran = join(b.ws.dir, 'ran.log');
    const controller = new AbortController();
    const events: FetchEvent[] = [];
    const contents: string[] = [];
    const done = runFetch({
      broker: b.url,
      credential: 'orders-db',
      auth: () => ({ kind: 'x509', ...spireSvid(b.pki, WEB) }),
      serverTrust: trust,
      brokerId: BROKER_ID,
      out,
      format: 'env',
      watch: true,
      exec: `echo "$MESHBRIDGE_LEASE_ID $MESHBRIDGE_CREDENTIAL_FILE" >> '${ran}'`,
      signal: controller.signal,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'written') {
          contents.push(readFileSync(out, 'utf8'));
          expect(statSync(out).mode & 0o777).toBe(0o600);
        }
        if (events.filter((x) => x.type === 'exec').length >= 3) controller.abort();
      },
    });
    const last = await done;
    expect(last?.name).toBe('orders-db');
    const lines = readFileSync(ran, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(new Set(lines.map((l) => l.split(' ')[0])).size).toBe(3);
    expect(lines[0]?.split(' ')[1]).toBe(out);
    expect(new Set(contents).size).toBe(3);
    for (const c of contents) expect(c).toMatch(/^USERNAME=orders\nPASSWORD=.+\n$/);
    const scheduled = events.filter((e) => e.type === 'scheduled');
    expect(scheduled.length).toBeGreaterThanOrEqual(2);
  }, 20_000);
});

describe('meshbridge fetch (CLI)', () => {
  it('writes raw and json formats with --cert/--key/--bundle', async () => {
    const web = spireSvid(b.pki, WEB);
    b.ws.write('web.pem', web.certPem);
    b.ws.write('web.key', web.keyPem);
    b.ws.write('bundle.pem', b.pki.spire.root.pem);
    const raw = await cli(
      [
        'fetch',
        '--broker',
        b.url,
        '--credential',
        'api',
        '--cert',
        'web.pem',
        '--key',
        'web.key',
        '--bundle',
        'bundle.pem',
        '--format',
        'raw',
        '--out',
        'api.key',
      ],
      { cwd: b.ws.dir },
    );
    expect(raw.code, raw.stderr).toBe(0);
    expect(readFileSync(join(b.ws.dir, 'api.key'), 'utf8')).toMatch(/^mbk_[A-Za-z0-9]+$/);
    const json = await cli(
      [
        '--json',
        'fetch',
        '--broker',
        b.url,
        '--credential',
        'orders-db',
        '--cert',
        'web.pem',
        '--key',
        'web.key',
        '--bundle',
        'bundle.pem',
        '--format',
        'json',
        '--out',
        'db.json',
        '--ttl',
        '90s',
      ],
      { cwd: b.ws.dir },
    );
    expect(json.code, json.stderr).toBe(0);
    expect(json.json()).toMatchObject({ name: 'orders-db', ttlSeconds: 90 });
    expect(JSON.parse(readFileSync(join(b.ws.dir, 'db.json'), 'utf8'))).toMatchObject({ username: 'orders' });
  });

  it('exits 1 with the broker code when refused', async () => {
    const intruder = spireSvid(b.pki, 'spiffe://example.org/ns/shop/sa/intruder');
    b.ws.write('intruder.pem', intruder.certPem);
    b.ws.write('intruder.key', intruder.keyPem);
    const r = await cli(
      [
        'fetch',
        '--broker',
        b.url,
        '--credential',
        'api',
        '--cert',
        'intruder.pem',
        '--key',
        'intruder.key',
        '--bundle',
        'bundle.pem',
        '--out',
        'nope.env',
      ],
      { cwd: b.ws.dir },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[POLICY_NO_RULE]');
  });

  it('reads back from an HTTP status the category the broker answered it for', () => {
    for (const category of [
      'input',
      'verdict',
      'denied',
      'not-found',
      'conflict',
      'unavailable',
      'internal',
    ] as const)
      expect(categoryOfStatus(statusOfCategory(category))).toBe(category);
    expect([429, 502, 504].map(categoryOfStatus)).toEqual(['unavailable', 'unavailable', 'unavailable']);
    expect(categoryOfStatus(413)).toBe('input');
  });

  it("exits by the broker's HTTP status for codes of its own: a rejected SVID 1, a missing credential 2", async () => {
    b.ws.write('bundle.pem', b.pki.spire.root.pem);
    const expired = expiredSvid(b.pki, 'spiffe://example.org/ns/shop/sa/web');
    b.ws.write('expired.pem', expired.certPem);
    b.ws.write('expired.key', expired.keyPem);
    const run = (cert: string, credential: string) =>
      cli(
        [
          'fetch',
          '--broker',
          b.url,
          '--credential',
          credential,
          '--cert',
          `${cert}.pem`,
          '--key',
          `${cert}.key`,
        ].concat(['--bundle', 'bundle.pem', '--out', 'nope.env']),
        { cwd: b.ws.dir },
      );
    const rejected = await run('expired', 'api');
    expect(rejected.stderr).toMatch(/expired/i);
    expect(rejected.stderr).not.toContain('internal error');
    expect(rejected.code).toBe(1);

    const web = spireSvid(b.pki, 'spiffe://example.org/ns/shop/sa/web');
    b.ws.write('web2.pem', web.certPem);
    b.ws.write('web2.key', web.keyPem);
    const missing = await run('web2', 'no-such-credential');
    expect(missing.stderr).toContain('[CREDENTIAL_NOT_FOUND]');
    expect(missing.code).toBe(2);
  });
});
