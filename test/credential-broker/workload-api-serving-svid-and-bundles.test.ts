/**
 * The broker takes its serving SVID and its trust bundles from a SPIRE agent (the
 * fake Workload API server speaks the real protocol), swaps its certificate when the
 * agent rotates it, and labels delivered trust domains by kind.
 */
import { createHash, createPrivateKey } from 'node:crypto';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBrokerConfig } from '../../src/credential-broker/config.js';
import { type BrokerServer, createBrokerServer } from '../../src/credential-broker/server.js';
import { mintX509Svid } from '../../src/devca/index.js';
import { SpiffeId } from '../../src/spiffe/spiffeid/index.js';
import { openStore, type Store } from '../../src/store/index.js';
import { FakeWorkloadApi } from '../spiffe/workloadapi/fake-server.js';
import { DEFAULT_POLICY } from './helpers/broker.js';
import {
  BROKER_ID,
  call,
  createPki,
  istioCert,
  LogSink,
  type Pki,
  spireSvid,
  type Workspace,
  workspace,
} from './helpers/world.js';

const WEB = 'spiffe://example.org/ns/shop/sa/web';
let pki: Pki;
let ws: Workspace;
let fake: FakeWorkloadApi;
let server: BrokerServer;
let store: Store;

function der(pem: string): Buffer {
  return Buffer.concat(
    [...pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)].map((m) =>
      Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'),
    ),
  );
}

function brokerContext(svid: { certPem: string; keyPem: string }) {
  return {
    svids: [
      {
        spiffeId: BROKER_ID,
        x509Svid: der(svid.certPem),
        x509SvidKey: createPrivateKey(svid.keyPem).export({ format: 'der', type: 'pkcs8' }),
        bundle: der(pki.spire.root.pem),
      },
    ],
    federatedBundles: { 'spiffe://cluster.local': der(pki.istioRoot.pem) },
  };
}

function servedFingerprint(url: string): Promise<string> {
  const u = new URL(url);
  return new Promise((done, fail) => {
    const s = connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
      done(s.getPeerX509Certificate()!.fingerprint256.replaceAll(':', '').toLowerCase());
      s.end();
    });
    s.on('error', fail);
  });
}

beforeAll(async () => {
  pki = createPki();
  ws = workspace('mb-wlapi-');
  fake = await FakeWorkloadApi.start();
  fake.setX509Context(brokerContext(pki.broker));
  fake.setJwtBundles({ 'spiffe://example.org': fake.jwks() });
  ws.write('policy.yaml', DEFAULT_POLICY);
  const config = parseBrokerConfig(
    `broker:
  listen: { host: 127.0.0.1, port: 0 }
  workloadApi:
    address: ${fake.address}
    kinds: { cluster.local: mesh }
  policy: policy.yaml
  backends: [{ type: ephemeral }]
  rateLimit: false
`,
    { baseDir: ws.dir, env: {} },
  );
  store = await openStore(':memory:');
  server = await createBrokerServer(config, { store, logDestination: new LogSink(), env: {} });
  await server.listen();
}, 60_000);

afterAll(async () => {
  await server?.close();
  await store?.close();
  await fake?.close();
  ws?.remove();
});

describe('trust and serving identity from the Workload API', () => {
  it('serves with the agent-delivered SVID and takes its ID as the JWT audience', async () => {
    expect(await servedFingerprint(server.url)).toBe(fingerprintOf(pki.broker.certPem));
    expect(server.broker.audience()).toEqual([BROKER_ID]);
  });

  it('verifies SPIRE SVIDs against the delivered bundle (kind spire) and mesh certs against a federated one (kind mesh)', async () => {
    const spire = await call(server.url, { path: '/v1/credentials', client: spireSvid(pki, WEB) });
    expect(spire.json.identity).toMatchObject({
      spiffeId: WEB,
      issuer: { kind: 'spire', label: 'workload-api' },
    });
    const mesh = await call(server.url, { path: '/v1/credentials', client: istioCert(pki, 'shop', 'cart') });
    expect(mesh.json.identity).toMatchObject({
      issuer: { kind: 'mesh', fingerprint: pki.istioRoot.fingerprint },
    });
  });

  it('verifies JWT-SVIDs against the delivered JWT bundles', async () => {
    const token = fake.mintJwtSvid(WEB, [BROKER_ID]);
    const r = await call(server.url, { path: '/v1/credentials/orders-db', body: {}, bearer: token });
    expect(r.status).toBe(200);
  });

  it('swaps the serving certificate when the agent rotates it', async () => {
    const next = mintX509Svid(pki.spire, SpiffeId.parse(BROKER_ID));
    fake.setX509Context(brokerContext({ certPem: next.certPem, keyPem: next.keyPem }));
    const want = fingerprintOf(next.certPem);
    const deadline = Date.now() + 5000;
    while ((await servedFingerprint(server.url)) !== want) {
      if (Date.now() > deadline) throw new Error('the rotated SVID was not served');
      await new Promise((r) => setTimeout(r, 50));
    }
  });
});

function fingerprintOf(pem: string): string {
  const first = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem)![1]!;
  return createHash('sha256')
    .update(Buffer.from(first.replace(/\s+/g, ''), 'base64'))
    .digest('hex');
}
