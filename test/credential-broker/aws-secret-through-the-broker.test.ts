/**
 * A static secret held in AWS Secrets Manager (moto, started here on 127.0.0.1),
 * handed out through the broker to the identity the policy names, with a lease and
 * an audit record that names the secret version, never its value.
 */
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerDb } from '../../src/credential-broker/schema.js';
import { type MotoServer, motoOrSkip, startMoto } from '../helpers/moto.js';
import { startBroker, type TestBroker } from './helpers/broker.js';
import { call, jwtSvid, spireSvid } from './helpers/world.js';

const WEB = 'spiffe://example.org/ns/shop/sa/web';
const LEGACY_PASSWORD = 'S3cr3t-legacy-orders-password-7f1d';

describe.skipIf(!motoOrSkip())('AWS Secrets Manager backend (moto)', () => {
  let moto: MotoServer;
  let b: TestBroker;

  beforeAll(async () => {
    moto = await startMoto();
    process.env.AWS_ACCESS_KEY_ID = 'testing';
    process.env.AWS_SECRET_ACCESS_KEY = 'testing';
    const sm = new SecretsManagerClient(moto.clientConfig);
    await sm.send(
      new CreateSecretCommand({
        Name: 'legacy/orders-db',
        SecretString: JSON.stringify({ username: 'orders', password: LEGACY_PASSWORD, host: 'db.internal' }),
      }),
    );
    sm.destroy();
    b = await startBroker({
      policy: `
credentials:
  orders-static:
    spec: { type: aws-secrets-manager, secretId: legacy/orders-db, fields: [username, password] }
    ttl: 10m
rules:
  - { name: web, subjects: [${WEB}], credentials: [orders-static] }
`,
      backendsYaml: `    - { type: aws-secrets-manager, region: us-east-1, endpoint: "${moto.url}" }`,
    });
  }, 60_000);

  afterAll(async () => {
    await b?.close();
    await moto?.stop();
  });

  it('hands the secret to the allowed identity, by mTLS and by JWT-SVID', async () => {
    const r = await call(b.url, {
      path: '/v1/credentials/orders-static',
      body: {},
      client: spireSvid(b.pki, WEB),
    });
    expect(r.status).toBe(200);
    expect(r.json.secret).toEqual({ username: 'orders', password: LEGACY_PASSWORD });
    const j = await call(b.url, {
      path: '/v1/credentials/orders-static',
      body: {},
      bearer: jwtSvid(b.pki.spire, WEB),
    });
    expect(j.status).toBe(200);
  });

  it('refuses everyone else', async () => {
    const r = await call(b.url, {
      path: '/v1/credentials/orders-static',
      body: {},
      client: spireSvid(b.pki, 'spiffe://example.org/ns/shop/sa/intruder'),
    });
    expect(r.status).toBe(403);
  });

  it('records the secret by ARN and version, never by value, and the sighting per identity', async () => {
    const rows = await brokerDb(b.store)
      .selectFrom('broker_audit')
      .selectAll()
      .where('decision', '=', 'allow')
      .execute();
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const row of rows) {
      expect(row.reference).toMatch(/^arn:aws:secretsmanager:.*legacy\/orders-db.*/);
      expect(JSON.stringify(row)).not.toContain(LEGACY_PASSWORD);
    }
    const sightings = await brokerDb(b.store)
      .selectFrom('broker_credential_sightings')
      .selectAll()
      .orderBy('spiffe_id')
      .execute();
    expect(sightings.map((s) => [s.spiffe_id, Number(s.allowed_count), Number(s.denied_count)])).toEqual([
      ['spiffe://example.org/ns/shop/sa/intruder', 0, 1],
      [WEB, 2, 0],
    ]);
    expect(b.logs.text).not.toContain(LEGACY_PASSWORD);
  });
});
