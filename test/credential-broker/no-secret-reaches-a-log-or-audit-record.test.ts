/**
 * A full run (every route, every credential kind of the ephemeral and Vault backends,
 * allows, denials, 401s, a backend outage, revocations, token exchange with an actor,
 * the expiry sweeper) at log level trace; then every log line and every row of every
 * broker table is searched for every secret value handed out and every bearer token
 * presented. None may appear.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerDb } from '../../src/credential-broker/schema.js';
import { VaultDouble } from '../doubles/vault-double.js';
import { startBroker, type TestBroker } from './helpers/broker.js';
import { call, expiredSvid, istioCert, jwtHs256, jwtSvid, linkerdCert, spireSvid } from './helpers/world.js';

const WEB = 'spiffe://example.org/ns/shop/sa/web';
let vault: VaultDouble;
let b: TestBroker;
let offsetMs = 0;
const secrets = new Set<string>();
const bearers = new Set<string>();

beforeAll(async () => {
  vault = await VaultDouble.start({
    databaseRoles: { orders: { ttlSeconds: 600 } },
    policies: { deploy: ['secret/*'] },
  });
  b = await startBroker({
    policy: `
credentials:
  pw: { spec: { type: ephemeral, kind: password, username: app }, ttl: 5m }
  key: { spec: { type: ephemeral, kind: api-key }, ttl: 5m }
  tok: { spec: { type: ephemeral, kind: token, audience: svc }, ttl: 5m }
  dyn: { backend: vault, spec: { type: vault, kind: database, role: orders }, ttl: 5m }
  vtok: { backend: vault, spec: { type: vault, kind: token, policies: [deploy] }, ttl: 5m }
rules:
  - { name: web, subjects: [${WEB}], credentials: [pw, key, tok, dyn, vtok] }
  - { name: istio, subjects: ["spiffe://cluster.local/ns/shop/**"], credentials: [key] }
  - { name: linkerd, subjects: ["spiffe://example.org/ns/billing/sa/*"], credentials: [pw] }
`,
    backendsYaml: `    - { type: ephemeral }
    - { type: vault, address: "${vault.url}", token: "${vault.rootToken}", requestTimeoutMs: 2000 }`,
    extraConfig: '  logLevel: trace',
    deps: { clock: () => new Date(Date.now() + offsetMs) },
  });
  bearers.add(vault.rootToken);
});
afterAll(async () => {
  await b?.close();
  await vault?.stop();
});

function collect(json: Record<string, unknown>): void {
  // Every field but a configured user name (`app`, not a secret) counts as secret.
  for (const [k, v] of Object.entries((json.secret as Record<string, string> | undefined) ?? {}))
    if (!(k === 'username' && v === 'app')) secrets.add(v);
  if (typeof json.access_token === 'string') secrets.add(json.access_token);
}

describe('a full run', () => {
  it('hands out every kind of credential, refuses, fails over, revokes and sweeps', async () => {
    const web = spireSvid(b.pki, WEB);
    const jwt = jwtSvid(b.pki.spire, WEB);
    bearers.add(jwt);
    const leases: string[] = [];
    for (const cred of ['pw', 'key', 'tok', 'dyn', 'vtok']) {
      for (const auth of [{ client: web }, { bearer: jwt }]) {
        const r = await call(b.url, {
          path: `/v1/credentials/${cred}`,
          body: { purpose: 'grep-test' },
          ...auth,
        });
        expect(r.status, r.text).toBe(200);
        collect(r.json);
        leases.push(r.json.leaseId as string);
      }
    }
    collect(
      (await call(b.url, { path: '/v1/credentials/key', body: {}, client: istioCert(b.pki, 'shop', 'cart') }))
        .json,
    );
    collect(
      (
        await call(b.url, {
          path: '/v1/credentials/pw',
          body: {},
          client: linkerdCert(b.pki, 'billing', 'payer'),
        })
      ).json,
    );
    await call(b.url, { path: '/v1/credentials', client: web });

    const actor = jwtSvid(b.pki.spire, 'spiffe://example.org/ns/agents/sa/bot');
    const userActor = jwtHs256(b.pki.spire, 'spiffe://example.org/user/bob');
    bearers.add(actor);
    bearers.add(userActor);
    for (const actorToken of [actor, userActor]) {
      const x = await call(b.url, {
        path: '/oauth2/token',
        form: true,
        body: {
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token: jwt,
          subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
          audience: 'tok',
          actor_token: actorToken,
        },
      });
      expect(x.status).toBe(200);
      collect(x.json);
    }

    // refusals
    expect(
      (
        await call(b.url, {
          path: '/v1/credentials/pw',
          body: {},
          client: spireSvid(b.pki, 'spiffe://example.org/x/intruder'),
        })
      ).status,
    ).toBe(403);
    expect(
      (await call(b.url, { path: '/v1/credentials/pw', body: {}, client: expiredSvid(b.pki, WEB) })).status,
    ).toBe(401);
    const wrongAud = jwtSvid(b.pki.spire, WEB, 'elsewhere');
    bearers.add(wrongAud);
    expect((await call(b.url, { path: '/v1/credentials/pw', body: {}, bearer: wrongAud })).status).toBe(401);
    expect(
      (
        await call(b.url, {
          path: '/v1/credentials/pw',
          body: {},
          bearer: 'not-a-jwt-but-a-secret-looking-string',
        })
      ).status,
    ).toBe(401);
    bearers.add('not-a-jwt-but-a-secret-looking-string');

    // a backend outage
    await vault.goDown('error');
    expect((await call(b.url, { path: '/v1/credentials/dyn', body: {}, client: web })).status).toBe(503);
    await vault.comeBack();

    // revocations: by the holder, then the rest by the sweeper two hours later
    for (const id of leases.slice(0, 3)) {
      expect((await call(b.url, { method: 'DELETE', path: `/v1/leases/${id}`, client: web })).status).toBe(
        200,
      );
    }
    offsetMs = 2 * 3600_000;
    const swept = await b.server.broker.leases.sweep();
    expect(swept.revoked.length).toBeGreaterThanOrEqual(leases.length - 3);
    expect(swept.failed).toEqual([]);

    // a careless log call is redacted too
    b.server.broker.logger.info(
      {
        secret: { password: [...secrets][0] },
        req: { headers: { authorization: `Bearer ${jwt}` } },
        subject_token: jwt,
      },
      'careless log line',
    );
    await b.server.broker.writer.flush();
    for (const s of vault.issuedSecrets()) secrets.add(s);
    expect(secrets.size).toBeGreaterThan(15);
  });

  it('leaves no secret value and no bearer token in any log line or stored row', async () => {
    const db = brokerDb(b.store);
    const stored = JSON.stringify({
      audit: await db.selectFrom('broker_audit').selectAll().execute(),
      leases: await db.selectFrom('broker_leases').selectAll().execute(),
      sightings: await db.selectFrom('broker_credential_sightings').selectAll().execute(),
      locks: await db.selectFrom('broker_locks').selectAll().execute(),
    });
    const logs = b.logs.text;
    expect(b.logs.lines.length).toBeGreaterThan(30);
    expect(logs).toContain('[redacted]');
    const leaks: string[] = [];
    for (const value of [...secrets, ...bearers]) {
      expect(value.length).toBeGreaterThanOrEqual(12);
      if (logs.includes(value)) leaks.push(`log: ${value.slice(0, 6)}…`);
      if (stored.includes(value)) leaks.push(`store: ${value.slice(0, 6)}…`);
      // a JWT's signature alone is as good as a fingerprint of the token
      const sig = value.split('.')[2];
      if (sig !== undefined && sig.length > 20 && (logs.includes(sig) || stored.includes(sig)))
        leaks.push(`sig: ${sig.slice(0, 6)}…`);
    }
    expect(leaks).toEqual([]);
  });
});
