/**
 * Nothing a backend returns for audit (`reference`, `backendLeaseId`) and nothing it
 * throws (message, details, JSON form, util.inspect form) contains a secret value: not
 * an issued secret, not a value being written, not the broker's own Vault token. The
 * Vault double is set to echo request bodies in its 400 errors, as a careless backend
 * might, so the redaction path is exercised, not just the happy path.
 */
import { inspect } from 'node:util';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AwsSecretsManagerBackend,
  EphemeralBackend,
  type IssuedCredential,
  type IssueRequest,
  VaultBackend,
} from '../../../src/credential-broker/backends/index.js';
import { VaultDouble } from '../../doubles/vault-double.js';
import { type MotoServer, motoOrSkip, startMoto } from '../../helpers/moto.js';

const subject = 'spiffe://example.org/ns/shop/sa/web';
const req = (spec: IssueRequest['spec']): IssueRequest => ({
  credential: 'c',
  subject,
  ttlSeconds: 300,
  spec,
});

/** Secrets seen, and every text that must not contain one. */
const secrets = new Set<string>();
const texts: string[] = [];

function recordIssued(issued: IssuedCredential): void {
  for (const v of Object.values(issued.secret)) secrets.add(v);
  texts.push(issued.reference);
  if (issued.backendLeaseId !== undefined) texts.push(issued.backendLeaseId);
}

async function recordFailure(p: Promise<unknown>, ...sentSecrets: string[]): Promise<Error> {
  for (const s of sentSecrets) secrets.add(s);
  const err = await p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: Error) => e,
  );
  texts.push(err.message, JSON.stringify(err), inspect(err, { depth: 20 }), String(err.stack));
  return err;
}

function expectNoSecretIn(allTexts: string[], allSecrets: Iterable<string>): void {
  for (const secret of allSecrets) {
    if (secret.length < 6) continue; // usernames like "app" are not secrets
    for (const text of allTexts)
      expect(text.includes(secret), `a secret leaked into: ${text.slice(0, 200)}`).toBe(false);
  }
}

describe('secrets never reach a reference or an error', () => {
  let vault: VaultDouble;
  let backend: VaultBackend;

  beforeAll(async () => {
    vault = await VaultDouble.start({
      echoRequestBodyInErrors: true,
      policies: { 'kv-app': ['secret/data/app/*'] },
    });
    backend = new VaultBackend({ address: vault.url, token: vault.rootToken });
    secrets.add(vault.rootToken);
  });

  afterAll(async () => {
    await backend?.close();
    await vault?.stop();
  });

  it('ephemeral references and lease ids hold no value', async () => {
    const eph = new EphemeralBackend();
    recordIssued(await eph.issue(req({ type: 'ephemeral', kind: 'password' })));
    recordIssued(await eph.issue(req({ type: 'ephemeral', kind: 'api-key' })));
    recordIssued(await eph.issue(req({ type: 'ephemeral', kind: 'token' })));
    await recordFailure(Promise.resolve().then(() => eph.verifyToken('v1.e30.AAAA')));
    expectNoSecretIn(texts, secrets);
  });

  it('Vault references and lease ids hold no value', async () => {
    vault.seedKv('secret', 'app/db', { username: 'app', password: 'kv-password-value-1' });
    recordIssued(await backend.issue(req({ type: 'vault', kind: 'kv', path: 'secret/app/db' })));
    recordIssued(await backend.issue(req({ type: 'vault', kind: 'token', policies: ['kv-app'] })));
    recordIssued(await backend.issue(req({ type: 'vault', kind: 'database', role: 'orders' })));
    recordIssued(await backend.issue(req({ type: 'vault', kind: 'aws', role: 'deploy' })));
    const rotated = await backend.rotate('secret/app/db', {
      username: 'app',
      password: 'rotated-password-value-2',
    });
    secrets.add('rotated-password-value-2');
    texts.push(rotated.reference);
    expectNoSecretIn(texts, [...secrets, ...vault.issuedSecrets()]);
  });

  it('a Vault error that echoes the request body is redacted', async () => {
    vault.seedKv('secret', 'app/race', { password: 'race-start-value-1' });
    const mine = 'my-new-secret-value-3';
    const err = await recordFailure(
      backend.rotate(
        'secret/app/race',
        { password: mine },
        {
          onStep: (step) => {
            if (step === 'marked') vault.seedKv('secret', 'app/race', { password: 'their-secret-value-4' });
          },
        },
      ),
      mine,
    );
    expect(err).toMatchObject({ code: 'BACKEND_CONFLICT' });
    // The double did echo the body; the client cut the value out.
    expect(err.message).toContain('[redacted]');
    expect(err.message).toContain('check-and-set');
    expectNoSecretIn(texts, secrets);
  });

  it("errors of a denied or wrong token carry neither the value written nor the broker's token", async () => {
    vault.seedKv('secret', 'other/x', { password: 'other-start-value-1' });
    const limited = vault.createToken(['kv-app']);
    secrets.add(limited.token);
    const asLimited = new VaultBackend({ address: vault.url, token: limited.token });
    await recordFailure(
      asLimited.rotate('secret/other/x', { password: 'denied-write-value-5' }),
      'denied-write-value-5',
    );
    const wrong = new VaultBackend({ address: vault.url, token: 'hvs.wrong-broker-token-value' });
    await recordFailure(
      wrong.issue(req({ type: 'vault', kind: 'database', role: 'orders' })),
      'hvs.wrong-broker-token-value',
    );
    await vault.goDown('refuse');
    try {
      await recordFailure(
        backend.rotate('secret/app/db', { password: 'down-write-value-6' }),
        'down-write-value-6',
      );
    } finally {
      await vault.comeBack();
    }
    expectNoSecretIn(texts, [...secrets, ...vault.issuedSecrets()]);
  });
});

describe.skipIf(!motoOrSkip())(
  'secrets never reach a reference or an error: AWS Secrets Manager (moto)',
  () => {
    let moto: MotoServer;
    let aws: AwsSecretsManagerBackend;

    beforeAll(async () => {
      moto = await startMoto();
      aws = new AwsSecretsManagerBackend({ client: new SecretsManagerClient(moto.clientConfig) });
    });

    afterAll(async () => {
      await aws?.close();
      await moto?.stop();
    });

    it('references hold no value and failed writes do not echo the value', async () => {
      const admin = new SecretsManagerClient(moto.clientConfig);
      await admin.send(
        new CreateSecretCommand({ Name: 'leak/db', SecretString: '{"password":"aws-secret-value-1"}' }),
      );
      admin.destroy();
      secrets.add('aws-secret-value-1');
      recordIssued(await aws.issue(req({ type: 'aws-secrets-manager', secretId: 'leak/db' })));
      const r = await aws.rotate('leak/db', { password: 'aws-rotated-value-2' });
      secrets.add('aws-rotated-value-2');
      texts.push(r.reference);
      await recordFailure(
        aws.rotate('leak/missing', { password: 'aws-missing-value-3' }),
        'aws-missing-value-3',
      );
      expectNoSecretIn(texts, secrets);
    });
  },
);
