/**
 * `meshbridge serve` (issue 9) mounts the broker as a plugin in its own fastify app:
 * the broker's routes, error shape and OpenAPI document live under its prefix, and
 * its error handler does not leak into the host app.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBrokerConfig } from '../../src/credential-broker/config.js';
import { type BrokerRuntime, brokerPlugin, createBrokerRuntime } from '../../src/credential-broker/server.js';
import { openStore, type Store } from '../../src/store/index.js';
import { DEFAULT_POLICY } from './helpers/broker.js';
import {
  createPki,
  jwtSvid,
  LogSink,
  type Pki,
  type Workspace,
  workspace,
  writeTrust,
} from './helpers/world.js';

let pki: Pki;
let ws: Workspace;
let store: Store;
let rt: BrokerRuntime;
let host: FastifyInstance;

beforeAll(async () => {
  pki = createPki();
  ws = workspace('mb-plugin-');
  ws.write('policy.yaml', DEFAULT_POLICY);
  const config = parseBrokerConfig(
    `broker:
  tls: { cert: broker.pem, key: broker.key }
${writeTrust(ws, pki)}
  policy: policy.yaml
  backends: [{ type: ephemeral }]
  rateLimit: false
`,
    { baseDir: ws.dir, env: {} },
  );
  store = await openStore(':memory:');
  rt = await createBrokerRuntime(config, { store, logDestination: new LogSink(), env: {} });
  host = Fastify();
  host.get('/healthz', async () => ({ ok: true }));
  host.get('/boom', async () => {
    throw new Error('host failure');
  });
  await host.register(brokerPlugin, { broker: rt.broker, prefix: '/broker' });
  await host.ready();
});

afterAll(async () => {
  await host?.close();
  await rt?.close();
  await store?.close();
  ws?.remove();
});

describe('brokerPlugin in a host app', () => {
  it('serves the broker routes under the prefix (JWT-SVID bearer, no TLS here)', async () => {
    const r = await host.inject({
      method: 'POST',
      url: '/broker/v1/credentials/orders-db',
      headers: { authorization: `Bearer ${jwtSvid(pki.spire, 'spiffe://example.org/ns/shop/sa/web')}` },
      payload: {},
    });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ name: 'orders-db', ttlSeconds: 300 });
    const none = await host.inject({ method: 'GET', url: '/broker/v1/credentials' });
    expect(none.statusCode).toBe(401);
    expect(none.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
  });

  it('documents its routes with the prefix', async () => {
    const doc = (await host.inject({ method: 'GET', url: '/broker/openapi.json' })).json() as {
      paths: object;
    };
    expect(Object.keys(doc.paths)).toContain('/broker/v1/credentials/{name}');
  });

  it('keeps its error handler to itself', async () => {
    expect((await host.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ ok: true });
    const boom = await host.inject({ method: 'GET', url: '/boom' });
    expect(boom.statusCode).toBe(500);
    expect(boom.json()).toMatchObject({ message: 'host failure' });
    expect((await host.inject({ method: 'GET', url: '/broker/nothing' })).json()).toMatchObject({
      error: { code: 'ROUTE_NOT_FOUND' },
    });
  });

  it('reports its health for /readyz', async () => {
    const h = await rt.broker.health();
    expect(h).toMatchObject({
      ready: true,
      store: { ok: true },
      trustDomains: ['cluster.local', 'example.org'],
    });
    expect(h.backends).toEqual([{ name: 'ephemeral', kind: 'ephemeral', ok: true, status: 'up' }]);
  });
});
