import { type AddressInfo, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recoveryWindowDays } from '../../../src/credential-broker/backends/aws-secrets-manager.js';
import {
  AwsSecretsManagerBackend,
  type BackendError,
  createBackend,
  type IssueRequest,
  type RotationStep,
} from '../../../src/credential-broker/backends/index.js';
import { repoRoot } from '../../helpers/fixtures.js';
import { freePort, type MotoServer, motoOrSkip, startMoto } from '../../helpers/moto.js';
import { runTsChild } from './crash-drill.js';

const haveMoto = motoOrSkip();
const subject = 'spiffe://example.org/ns/shop/sa/web';
let seq = 0;

describe.skipIf(!haveMoto)('AWS Secrets Manager backend against moto', () => {
  let moto: MotoServer;
  let admin: SecretsManagerClient;
  let backend: AwsSecretsManagerBackend;

  beforeAll(async () => {
    moto = await startMoto();
    admin = new SecretsManagerClient(moto.clientConfig);
    backend = new AwsSecretsManagerBackend({ client: new SecretsManagerClient(moto.clientConfig) });
  });

  afterAll(async () => {
    admin?.destroy();
    await backend?.close();
    await moto?.stop();
  });

  async function createSecret(
    value: string | Record<string, unknown>,
  ): Promise<{ name: string; arn: string; version: string }> {
    const name = `meshbridge/test/${Date.now()}-${seq++}`;
    const out = await admin.send(
      new CreateSecretCommand({
        Name: name,
        SecretString: typeof value === 'string' ? value : JSON.stringify(value),
      }),
    );
    return { name, arn: out.ARN as string, version: out.VersionId as string };
  }

  async function currentString(name: string): Promise<string> {
    const out = await admin.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }));
    return out.SecretString as string;
  }

  function issueRequest(
    spec: Partial<Extract<IssueRequest['spec'], { type: 'aws-secrets-manager' }>> & { secretId: string },
  ) {
    return {
      credential: 'legacy-db',
      subject,
      ttlSeconds: 300,
      spec: { type: 'aws-secrets-manager' as const, ...spec },
    };
  }

  describe('issue', () => {
    it('reads a JSON secret at AWSCURRENT; the reference is ARN#versionId, never the value', async () => {
      const s = await createSecret({ username: 'app', password: 'S3cret-value-1', port: 5432 });
      const before = Date.now();
      const issued = await backend.issue(issueRequest({ secretId: s.name }));
      expect(issued.secret).toEqual({ username: 'app', password: 'S3cret-value-1', port: '5432' });
      expect(issued.reference).toBe(`${s.arn}#${s.version}`);
      expect(issued.backendLeaseId).toBeUndefined();
      expect(issued.expiresAt.getTime()).toBeGreaterThanOrEqual(before + 300_000);
    });

    it('hands out only the listed fields, and refuses a field the secret lacks', async () => {
      const s = await createSecret({ username: 'app', password: 'S3cret-value-2' });
      const issued = await backend.issue(issueRequest({ secretId: s.name, fields: ['password'] }));
      expect(issued.secret).toEqual({ password: 'S3cret-value-2' });
      await expect(
        backend.issue(issueRequest({ secretId: s.name, fields: ['token'] })),
      ).rejects.toMatchObject({
        code: 'BACKEND_SPEC_INVALID',
      });
    });

    it('reads a plain-string secret as {value}', async () => {
      const s = await createSecret('plain-api-key-123');
      expect((await backend.issue(issueRequest({ secretId: s.name }))).secret).toEqual({
        value: 'plain-api-key-123',
      });
    });

    it('reads at another stage or a pinned version id', async () => {
      const s = await createSecret({ password: 'first-value-1' });
      const r = await backend.rotate(s.name, { password: 'second-value-2' });
      expect(
        (await backend.issue(issueRequest({ secretId: s.name, versionStage: 'AWSPREVIOUS' }))).secret,
      ).toEqual({
        password: 'first-value-1',
      });
      const pinned = await backend.issue(issueRequest({ secretId: s.name, versionId: r.newVersion }));
      expect(pinned.secret).toEqual({ password: 'second-value-2' });
      expect(pinned.reference).toBe(`${s.arn}#${r.newVersion}`);
    });

    it('maps a missing secret to BACKEND_SECRET_NOT_FOUND and a missing stage to BACKEND_VERSION_NOT_FOUND', async () => {
      await expect(backend.issue(issueRequest({ secretId: 'meshbridge/nope' }))).rejects.toMatchObject({
        code: 'BACKEND_SECRET_NOT_FOUND',
        category: 'not-found',
      });
      const s = await createSecret({ password: 'x-value-123' });
      await expect(
        backend.issue(issueRequest({ secretId: s.name, versionStage: 'AWSPENDING' })),
      ).rejects.toMatchObject({
        code: 'BACKEND_VERSION_NOT_FOUND',
      });
    });

    it('refuses a spec meant for another backend', async () => {
      await expect(
        backend.issue({
          credential: 'x',
          subject,
          ttlSeconds: 60,
          spec: { type: 'ephemeral', kind: 'password' },
        }),
      ).rejects.toMatchObject({ code: 'BACKEND_SPEC_INVALID' });
    });

    it('reaches moto through the SDK standard environment alone (AWS_ENDPOINT_URL, AWS_REGION, keys)', async () => {
      const s = await createSecret({ password: 'env-configured-1' });
      const saved = { ...process.env };
      Object.assign(process.env, {
        AWS_ENDPOINT_URL: moto.url,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
      });
      const fromEnv = createBackend({ type: 'aws-secrets-manager' });
      try {
        expect((await fromEnv.issue(issueRequest({ secretId: s.name }))).secret).toEqual({
          password: 'env-configured-1',
        });
        expect(await fromEnv.health()).toMatchObject({ ok: true, status: 'up' });
      } finally {
        await fromEnv.close();
        for (const k of ['AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'])
          if (saved[k] === undefined) delete process.env[k];
          else process.env[k] = saved[k];
      }
    });
  });

  describe('rotation by the staged sequence', () => {
    it('writes AWSPENDING, promotes it to AWSCURRENT, keeps AWSPREVIOUS and clears AWSPENDING', async () => {
      const s = await createSecret({ username: 'app', password: 'old-password-1', port: 5432 });
      const steps: RotationStep[] = [];
      const result = await backend.rotate(s.name, undefined, { onStep: (step) => void steps.push(step) });
      expect(steps).toEqual(['staged', 'promoted', 'cleared']);
      expect(result).toMatchObject({ previousVersion: s.version, recovered: false });
      expect(result.reference).toBe(`${s.arn}#${result.newVersion}`);

      const d = await backend.describe(s.name);
      expect(d.currentVersion).toBe(result.newVersion);
      expect(d.previousVersion).toBe(s.version);
      expect(d.pending).toBeNull();
      const stages = Object.fromEntries(d.versions.map((v) => [v.version, v.stages]));
      expect(stages[result.newVersion]).toEqual(['AWSCURRENT']);
      expect(stages[s.version]).toEqual(['AWSPREVIOUS']);

      // Only the password changed; the other fields keep their JSON types.
      const now = JSON.parse(await currentString(s.name));
      expect(now.username).toBe('app');
      expect(now.port).toBe(5432);
      expect(now.password).not.toBe('old-password-1');
      expect(now.password).toMatch(/^[A-Za-z0-9]{32}$/);
      expect((await backend.readCurrent(s.name)).version).toBe(result.newVersion);
      expect((await backend.readVersion(s.name, s.version)).value.password).toBe('old-password-1');
    });

    it('writes a given value, and keeps a plain-string secret plain', async () => {
      const s = await createSecret('plain-old-value');
      await backend.rotate(`aws:${s.name}`, { value: 'plain-new-value' });
      expect(await currentString(s.name)).toBe('plain-new-value');
      await backend.rotate(s.name);
      expect(await currentString(s.name)).toMatch(/^[A-Za-z0-9]{32}$/);
    });

    it('refuses to guess which field to generate', async () => {
      const s = await createSecret({ user: 'a', key: 'b-value' });
      await expect(backend.rotate(s.name)).rejects.toMatchObject({ code: 'BACKEND_SPEC_INVALID' });
      await backend.rotate(s.name, undefined, { generate: { fields: ['key'], length: 20 } });
      expect(JSON.parse(await currentString(s.name)).key).toHaveLength(20);
    });

    it('rolls back by moving AWSCURRENT back to the previous version id', async () => {
      const s = await createSecret({ password: 'before-rotation-1' });
      const r = await backend.rotate(s.name);
      expect(JSON.parse(await currentString(s.name)).password).not.toBe('before-rotation-1');
      const back = await backend.rollback(s.name, r.previousVersion);
      expect(back).toMatchObject({ previousVersion: r.newVersion, newVersion: s.version });
      expect(JSON.parse(await currentString(s.name)).password).toBe('before-rotation-1');
      const d = await backend.describe(s.name);
      expect(d.currentVersion).toBe(s.version);
      expect(d.previousVersion).toBe(r.newVersion);
      // Rolling back to the current version is a no-op.
      expect((await backend.rollback(s.name, s.version)).newVersion).toBe(s.version);
    });

    it('refuses a rollback past the restore window, and to a version that does not exist', async () => {
      const s = await createSecret({ password: 'windowed-value-1' });
      const r = await backend.rotate(s.name);
      const later = new AwsSecretsManagerBackend({
        client: new SecretsManagerClient(moto.clientConfig),
        restoreWindowSeconds: 3600,
        clock: () => new Date(Date.now() + 2 * 3600_000),
      });
      await expect(later.rollback(s.name, r.previousVersion)).rejects.toMatchObject({
        code: 'BACKEND_RESTORE_WINDOW_PASSED',
      });
      // Within the window (per-call override) it works.
      await later.rollback(s.name, r.previousVersion, { restoreWindowSeconds: 3 * 3600 });
      await later.close();
      await expect(backend.rollback(s.name, '00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({
        code: 'BACKEND_VERSION_NOT_FOUND',
      });
    });
  });

  describe('retirement: deleted with a recovery window, restorable', () => {
    it('schedules the deletion so GetSecretValue fails, and restore brings back the same value', async () => {
      const s = await createSecret({ username: 'app', password: 'retire-me-1' });
      const before = Date.now();
      const retired = await backend.retire(s.name, { restoreWindowSeconds: 3 * 86_400 });
      expect(retired).toMatchObject({
        reference: `${s.arn}#${s.version}`,
        version: s.version,
        changed: true,
      });
      // 3 days asked, 7 is AWS's least: the deletion date is 7 days out.
      expect(retired.restorableUntil.getTime()).toBeGreaterThanOrEqual(before + 7 * 86_400_000 - 5_000);
      expect(retired.restorableUntil.getTime()).toBeLessThan(before + 8 * 86_400_000);
      await expect(currentString(s.name)).rejects.toMatchObject({ name: 'InvalidRequestException' });
      await expect(backend.readCurrent(s.name)).rejects.toMatchObject({
        code: 'BACKEND_SECRET_NOT_FOUND',
        details: { deleted: true },
      });
      const d = await backend.describe(s.name);
      expect(d.deleted?.version).toBe(s.version);
      expect(d.deleted?.restorableUntil?.getTime()).toBe(retired.restorableUntil.getTime());

      // Idempotent: deleting again changes nothing and is no error.
      const again = await backend.retire(s.name, { restoreWindowSeconds: 3 * 86_400 });
      expect(again).toMatchObject({ changed: false, version: s.version });

      expect(await backend.restore(s.name)).toMatchObject({ version: s.version, changed: true });
      expect(JSON.parse(await currentString(s.name))).toEqual({ username: 'app', password: 'retire-me-1' });
      expect((await backend.describe(s.name)).deleted).toBeUndefined();
      // Idempotent: restoring a secret that is not deleted is no error.
      expect(await backend.restore(s.name)).toMatchObject({ changed: false });
    });

    it('asks AWS for whole days between 7 and 30', () => {
      expect(recoveryWindowDays(1)).toBe(7);
      expect(recoveryWindowDays(7 * 86_400)).toBe(7);
      expect(recoveryWindowDays(7 * 86_400 + 1)).toBe(8);
      expect(recoveryWindowDays(10 * 86_400)).toBe(10);
      expect(recoveryWindowDays(90 * 86_400)).toBe(30);
    });

    it('refuses to retire over an interrupted rotation', async () => {
      const s = await createSecret({ password: 'p' });
      await admin.send(
        new PutSecretValueCommand({
          SecretId: s.name,
          SecretString: JSON.stringify({ password: 'q' }),
          VersionStages: ['AWSPENDING'],
        }),
      );
      await expect(backend.retire(s.name, { restoreWindowSeconds: 86_400 })).rejects.toMatchObject({
        code: 'BACKEND_ROTATION_PENDING',
      });
      expect(JSON.parse(await currentString(s.name))).toEqual({ password: 'p' });
    });
  });

  describe('recovery from an interrupted rotation', () => {
    async function stagePending(name: string, value: Record<string, string>): Promise<string> {
      const out = await admin.send(
        new PutSecretValueCommand({
          SecretId: name,
          SecretString: JSON.stringify(value),
          VersionStages: ['AWSPENDING'],
        }),
      );
      return out.VersionId as string;
    }

    it('reports a staged AWSPENDING, and rotate() finishes it instead of starting another', async () => {
      const s = await createSecret({ password: 'crash-old-1' });
      const pendingVersion = await stagePending(s.name, { password: 'crash-new-1' });
      expect(await backend.pendingRotation(s.name)).toEqual({
        stage: 'staged',
        fromVersion: s.version,
        pendingVersion,
      });
      const r = await backend.rotate(s.name);
      expect(r).toMatchObject({ previousVersion: s.version, newVersion: pendingVersion, recovered: true });
      expect(JSON.parse(await currentString(s.name)).password).toBe('crash-new-1');
      expect(await backend.pendingRotation(s.name)).toBeNull();
    });

    it('undoes a staged AWSPENDING: the label goes, AWSCURRENT never moved', async () => {
      const s = await createSecret({ password: 'undo-old-1' });
      await stagePending(s.name, { password: 'undo-new-1' });
      expect(await backend.undoRotation(s.name)).toMatchObject({
        outcome: 'undone',
        currentVersion: s.version,
      });
      expect(await backend.pendingRotation(s.name)).toBeNull();
      expect(JSON.parse(await currentString(s.name)).password).toBe('undo-old-1');
      expect(await backend.undoRotation(s.name)).toMatchObject({ outcome: 'nothing-pending' });
    });

    it('finishes a promoted rotation whose AWSPENDING was not cleared', async () => {
      const s = await createSecret({ password: 'promoted-old-1' });
      const pendingVersion = await stagePending(s.name, { password: 'promoted-new-1' });
      await admin.send(
        new UpdateSecretVersionStageCommand({
          SecretId: s.name,
          VersionStage: 'AWSCURRENT',
          MoveToVersionId: pendingVersion,
          RemoveFromVersionId: s.version,
        }),
      );
      expect(await backend.pendingRotation(s.name)).toEqual({
        stage: 'promoted',
        fromVersion: s.version,
        pendingVersion,
      });
      expect(await backend.finishRotation(s.name)).toEqual({
        outcome: 'finished',
        currentVersion: pendingVersion,
        previousVersion: s.version,
      });
      expect(await backend.pendingRotation(s.name)).toBeNull();
    });

    it('refuses to start a different rotation, or a rollback, over a pending one', async () => {
      const s = await createSecret({ password: 'busy-old-1' });
      await stagePending(s.name, { password: 'busy-new-1' });
      await expect(backend.rotate(s.name, { password: 'something-else' })).rejects.toMatchObject({
        code: 'BACKEND_ROTATION_PENDING',
        category: 'conflict',
      });
      await expect(backend.rotate(s.name, undefined, { onPending: 'fail' })).rejects.toMatchObject({
        code: 'BACKEND_ROTATION_PENDING',
      });
      await expect(backend.rollback(s.name, s.version)).rejects.toMatchObject({
        code: 'BACKEND_ROTATION_PENDING',
      });
      // Re-running with the pending value itself is the same rotation: it finishes.
      expect(await backend.rotate(s.name, { password: 'busy-new-1' })).toMatchObject({ recovered: true });
      // onPending 'undo' drops a pending value and rotates afresh.
      await stagePending(s.name, { password: 'stale-pending-1' });
      const fresh = await backend.rotate(s.name, { password: 'fresh-value-1' }, { onPending: 'undo' });
      expect(fresh.recovered).toBe(false);
      expect(JSON.parse(await currentString(s.name)).password).toBe('fresh-value-1');
    });

    const child = join(repoRoot, 'test/credential-broker/backends/rotation-crash-child.ts');

    it('a process killed after staging leaves AWSPENDING that the next run detects and finishes', async () => {
      const s = await createSecret({ password: 'killed-old-1' });
      const end = await runTsChild(child, ['aws', moto.url, s.name, 'staged']);
      expect(end.signal, end.stderr).toBe('SIGKILL');
      const pending = await backend.pendingRotation(s.name);
      expect(pending).toMatchObject({ stage: 'staged', fromVersion: s.version });
      // The pending value is stored in AWS: known, not lost.
      const staged = await backend.readVersion(s.name, pending?.pendingVersion as string);
      expect(staged.value.password).not.toBe('killed-old-1');
      await backend.finishRotation(s.name);
      expect(JSON.parse(await currentString(s.name)).password).toBe(staged.value.password);
      expect(await backend.pendingRotation(s.name)).toBeNull();
    });

    it('a process killed after promoting leaves a state the next run detects and undoes', async () => {
      const s = await createSecret({ password: 'killed-old-2' });
      const end = await runTsChild(child, ['aws', moto.url, s.name, 'promoted']);
      expect(end.signal, end.stderr).toBe('SIGKILL');
      expect(await backend.pendingRotation(s.name)).toMatchObject({
        stage: 'promoted',
        fromVersion: s.version,
      });
      expect(await backend.undoRotation(s.name)).toMatchObject({
        outcome: 'undone',
        currentVersion: s.version,
      });
      expect(JSON.parse(await currentString(s.name)).password).toBe('killed-old-2');
      expect(await backend.pendingRotation(s.name)).toBeNull();
    });
  });

  describe('when AWS is down or refuses', () => {
    it('a backend that cannot be reached yields BACKEND_UNAVAILABLE and no credential, then recovers', async () => {
      const port = await freePort();
      const down = new AwsSecretsManagerBackend({
        client: new SecretsManagerClient({
          ...moto.clientConfig,
          endpoint: `http://127.0.0.1:${port}`,
          maxAttempts: 1,
        }),
      });
      let issued: unknown;
      try {
        issued = await down.issue(issueRequest({ secretId: 'meshbridge/any' }));
      } catch (err) {
        expect(err).toMatchObject({ code: 'BACKEND_UNAVAILABLE', category: 'unavailable' });
        expect((err as BackendError).details).toMatchObject({ network: 'ECONNREFUSED' });
      }
      expect(issued).toBeUndefined();
      await expect(down.rotate('meshbridge/any')).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
      expect(await down.health()).toMatchObject({ ok: false, status: 'down' });

      // The service comes back on the same address: the same backend object works again.
      const revived = await startMoto({ port });
      try {
        const reviveAdmin = new SecretsManagerClient(revived.clientConfig);
        await reviveAdmin.send(
          new CreateSecretCommand({ Name: 'meshbridge/any', SecretString: '{"password":"back-again-1"}' }),
        );
        reviveAdmin.destroy();
        expect(await down.health()).toMatchObject({ ok: true, status: 'up' });
        expect((await down.issue(issueRequest({ secretId: 'meshbridge/any' }))).secret).toEqual({
          password: 'back-again-1',
        });
      } finally {
        await down.close();
        await revived.stop();
      }
    });

    it('an endpoint that accepts but never answers times out into BACKEND_UNAVAILABLE', async () => {
      const sockets = new Set<Socket>();
      const silent = createServer((socket) => void sockets.add(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const port = (silent.address() as AddressInfo).port;
      const slow = new AwsSecretsManagerBackend({
        ...moto.clientConfig,
        endpoint: `http://127.0.0.1:${port}`,
        maxAttempts: 1,
        requestTimeoutMs: 300,
      });
      try {
        const started = Date.now();
        const err = await slow.issue(issueRequest({ secretId: 'meshbridge/any' })).catch((e) => e);
        expect(err).toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
        expect(Date.now() - started).toBeLessThan(5000);
      } finally {
        await slow.close();
        for (const s of sockets) s.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
    });

    it('maps credentials AWS refuses to BACKEND_DENIED', async () => {
      const strict = await startMoto({ env: { INITIAL_NO_AUTH_ACTION_COUNT: '0' } });
      const denied = new AwsSecretsManagerBackend({
        client: new SecretsManagerClient({ ...strict.clientConfig, maxAttempts: 1 }),
      });
      try {
        await expect(denied.issue(issueRequest({ secretId: 'meshbridge/any' }))).rejects.toMatchObject({
          code: 'BACKEND_DENIED',
          category: 'denied',
        });
      } finally {
        await denied.close();
        await strict.stop();
      }
    });
  });
});
