/**
 * The broker's serving certificate, its trust bundles and its policy change on disk
 * while it runs: new connections see the new certificate, callers of a newly trusted
 * CA are accepted, the new policy applies; a half-written rotation or a broken
 * policy is refused and the previous material stays in force.
 */
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, mintX509Svid } from '../../src/devca/index.js';
import { SpiffeId, TrustDomain } from '../../src/spiffe/spiffeid/index.js';
import { parseCertificates } from '../../src/spiffe/x509/certificate.js';
import { DEFAULT_POLICY, startBroker, type TestBroker } from './helpers/broker.js';
import { BROKER_ID, call, spireSvid } from './helpers/world.js';

const WEB = 'spiffe://example.org/ns/shop/sa/web';
let b: TestBroker;

beforeAll(async () => {
  b = await startBroker({ extraConfig: '  reloadInterval: 100ms' });
});
afterAll(async () => {
  await b?.close();
});

function servedFingerprint(): Promise<string> {
  const u = new URL(b.url);
  return new Promise((done, fail) => {
    const s = connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
      done(s.getPeerX509Certificate()!.fingerprint256.replaceAll(':', '').toLowerCase());
      s.end();
    });
    s.on('error', fail);
  });
}

async function eventually(check: () => Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('rotation without a restart', () => {
  it('swaps the serving certificate; a certificate without its key yet is not used', async () => {
    const first = parseCertificates(b.pki.broker.certPem)[0]!.fingerprint;
    expect(await servedFingerprint()).toBe(first);
    const next = mintX509Svid(b.pki.spire, SpiffeId.parse(BROKER_ID));
    const nextFp = parseCertificates(next.certPem)[0]!.fingerprint;

    b.ws.write('broker.pem', next.certPem); // the key file still holds the old key
    await new Promise((r) => setTimeout(r, 400));
    expect(await servedFingerprint()).toBe(first);

    b.ws.write('broker.key', next.keyPem);
    await eventually(async () => (await servedFingerprint()) === nextFp, 'the new serving certificate');
    const r = await call(b.url, {
      path: '/v1/credentials/orders-db',
      body: {},
      client: spireSvid(b.pki, WEB),
    });
    expect(r.status).toBe(200);
  });

  it('accepts the callers of a CA added to the trust bundle file (and stops when it is removed)', async () => {
    const newCa = createDevCa(TrustDomain.parse('example.org'));
    const client = mintX509Svid(newCa, SpiffeId.parse(WEB));
    const ask = () =>
      call(b.url, {
        path: '/v1/credentials/orders-db',
        body: {},
        client: { certPem: client.certPem, keyPem: client.keyPem },
      });
    expect((await ask()).status).toBe(401);
    b.ws.write('spire-bundle.pem', b.pki.spire.root.pem + newCa.root.pem);
    await eventually(async () => (await ask()).status === 200, 'the new CA to be trusted');
    b.ws.write('spire-bundle.pem', b.pki.spire.root.pem);
    await eventually(async () => (await ask()).status === 401, 'the removed CA to be distrusted');
  });

  it('applies a changed policy, and keeps the old one when the new one is broken', async () => {
    const intruder = spireSvid(b.pki, 'spiffe://example.org/ns/shop/sa/intruder');
    const ask = () => call(b.url, { path: '/v1/credentials/reports-key', body: {}, client: intruder });
    expect((await ask()).status).toBe(403);
    const before = b.server.policy.current().version;
    b.ws.write(
      'policy.yaml',
      `${DEFAULT_POLICY}  - name: intruder-reports\n    subjects: [spiffe://example.org/ns/shop/sa/intruder]\n    credentials: [reports-key]\n`,
    );
    await eventually(async () => (await ask()).status === 200, 'the new policy');
    const good = b.server.policy.current().version;
    expect(good).not.toBe(before);

    b.ws.write(
      'policy.yaml',
      `${DEFAULT_POLICY}  - name: broken\n    subjects: [not-an-id]\n    credentials: [reports-key]\n`,
    );
    await eventually(
      async () =>
        b.logs.records().some((l) => l.msg === 'policy refused; the previous policy stays in force'),
      'the broken policy to be refused',
    );
    expect(b.server.policy.current().version).toBe(good);
    expect((await ask()).status).toBe(200);
  });
});
