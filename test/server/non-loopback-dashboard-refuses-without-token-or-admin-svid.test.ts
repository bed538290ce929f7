import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDevCa, mintX509Svid } from '../../src/devca/index.js';
import { createServer, parseServeConfig, tokenMatches } from '../../src/server/index.js';
import { SpiffeId } from '../../src/spiffe/spiffeid/index.js';
import { type DemoServer, demoServer } from './demo-server.js';

const TOKEN = 'a-long-admin-token-for-the-test-0123456789';
const ADMIN = 'spiffe://prod.example.org/ns/ops/sa/admin';

interface Tls {
  cert?: string | Buffer;
  key?: string | Buffer;
  ca: Buffer;
}

function httpsCall(
  url: string,
  tls: Tls,
  opts: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = request(
      url,
      { method: opts.method ?? 'GET', ...tls, servername: 'localhost', headers: opts.headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => done({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', fail);
    req.end(opts.method === 'POST' ? '{}' : undefined);
  });
}

describe('the dashboard off loopback (bound to 127.0.0.2)', () => {
  let demo: DemoServer;
  let http: string;
  let https: string;
  let ca: Buffer;
  let admin: { cert: string; key: string };
  let api: { cert: Buffer; key: Buffer };

  beforeAll(async () => {
    demo = await demoServer({
      edit: (yaml) =>
        `${yaml
          .replace(/^listen: \{ host: 127\.0\.0\.1,/m, 'listen: { host: 127.0.0.2,')
          .replace(
            /^ {2}listen: \{ host: 127\.0\.0\.1,/m,
            '  listen: { host: 127.0.0.2,',
          )}access:\n  adminIds: [${ADMIN}]\n  tokens: [{ name: ops, env: TEST_ADMIN_TOKEN }]\n`,
      env: { TEST_ADMIN_TOKEN: TOKEN },
    });
    http = demo.server.urls.dashboard;
    https = demo.server.urls.broker!;
    expect(http).toMatch(/^http:\/\/127\.0\.0\.2:\d+$/);
    expect(https).toMatch(/^https:\/\/127\.0\.0\.2:\d+$/);
    const spire = join(demo.prepared.dir, 'spire');
    ca = readFileSync(join(spire, 'bundle.pem'));
    const svid = mintX509Svid(loadDevCa(spire), SpiffeId.parse(ADMIN));
    admin = { cert: svid.certPem, key: svid.keyPem };
    api = { cert: readFileSync(demo.prepared.files.cert), key: readFileSync(demo.prepared.files.key) };
  }, 60_000);

  afterAll(async () => {
    await demo?.close();
  });

  it('refuses the page and every API route without a token, with 401 JSON', async () => {
    for (const path of [
      '/',
      '/api/v1/overview',
      '/api/v1/scopes',
      '/api/v1/broker',
      '/assets/dashboard.js',
    ]) {
      const res = await fetch(`${http}${path}`);
      expect(res.status, path).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('UNAUTHENTICATED');
      expect(JSON.stringify(body)).not.toContain(TOKEN);
    }
  });

  it('refuses a wrong token, and answers the admin token', async () => {
    const wrong = await fetch(`${http}/api/v1/overview`, { headers: { authorization: `Bearer ${TOKEN}x` } });
    expect(wrong.status).toBe(401);
    const short = await fetch(`${http}/api/v1/overview`, { headers: { authorization: 'Bearer a' } });
    expect(short.status).toBe(401);
    const ok = await fetch(`${http}/api/v1/overview`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    const page = await fetch(`${http}/`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('data-scope="istio/east/payments"');
  });

  it('keeps probes, metrics and the bundle endpoint open', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/bundle/cluster.local']) {
      expect((await fetch(`${http}${path}`)).status, path).toBe(200);
    }
  });

  it('answers an admin SVID over mTLS on the broker listener, and refuses other SVIDs', async () => {
    const none = await httpsCall(`${https}/api/v1/overview`, { ca });
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body).error.code).toBe('UNAUTHENTICATED');
    const asAdmin = await httpsCall(`${https}/api/v1/overview`, { ca, ...admin });
    expect(asAdmin.status).toBe(200);
    expect((JSON.parse(asAdmin.body) as { scopes: unknown[] }).scopes.length).toBe(4);
    const notAdmin = await httpsCall(`${https}/api/v1/overview`, { ca, ...api });
    expect(notAdmin.status).toBe(403);
    expect(JSON.parse(notAdmin.body).error).toMatchObject({ code: 'FORBIDDEN' });
    const withToken = await httpsCall(`${https}/`, { ca }, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(withToken.status).toBe(200);
    // The broker's own routes keep their own authentication.
    const credential = await httpsCall(
      `${https}/v1/credentials/payments-db`,
      { ca, ...api },
      { method: 'POST', headers: { 'content-type': 'application/json' } },
    );
    expect(credential.status).toBe(200);
  });

  it('asks on 127.0.0.1 too with access.requireAuth, and not without it', async () => {
    for (const [yaml, expected] of [
      ['listen: { host: 127.0.0.1, port: 0 }\naccess: { requireAuth: true }\n', 401],
      ['listen: { host: 127.0.0.1, port: 0 }\n', 200],
    ] as const) {
      const config = parseServeConfig(yaml, { env: {} });
      const server = await createServer(config, {
        store: demo.server.store,
        logDestination: { write: () => true } as never,
      });
      try {
        const urls = await server.listen();
        expect((await fetch(`${urls.dashboard}/api/v1/scopes`)).status, yaml).toBe(expected);
        expect((await fetch(`${urls.dashboard}/healthz`)).status).toBe(200);
      } finally {
        await server.close();
      }
    }
  });

  it('compares tokens whole, whatever their length', () => {
    const tokens = [{ name: 'a', value: TOKEN }];
    expect(tokenMatches(TOKEN, tokens)).toBe(true);
    expect(tokenMatches(TOKEN.slice(0, -1), tokens)).toBe(false);
    expect(tokenMatches(`${TOKEN}0`, tokens)).toBe(false);
    expect(tokenMatches('', tokens)).toBe(false);
    expect(tokenMatches(TOKEN, [{ name: 'unresolved' }])).toBe(false);
  });
});
