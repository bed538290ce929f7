import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type BackendError,
  createBackend,
  type IssueRequest,
  TOKEN_ACCESSOR_PREFIX,
  VaultBackend,
} from '../../../src/credential-broker/backends/index.js';
import { VaultDouble } from '../../doubles/vault-double.js';
import { repoRoot } from '../../helpers/fixtures.js';
import { runTsChild } from './crash-drill.js';

const subject = 'spiffe://example.org/ns/shop/sa/web';

function req(spec: IssueRequest['spec'], ttlSeconds = 300): IssueRequest {
  return { credential: 'orders-db', subject, ttlSeconds, spec, leaseId: 'lease-123' };
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as BackendError).code;
  }
  return undefined;
}

describe('Vault backend against the Vault double', () => {
  let vault: VaultDouble;
  let backend: VaultBackend;
  let n = 0;
  let path: string;

  beforeAll(async () => {
    vault = await VaultDouble.start({
      policies: {
        'kv-app': ['secret/data/app/*', 'secret/metadata/app/*'],
        'orders-db': ['database/creds/orders'],
        'token-maker': ['auth/token/create'],
      },
      databaseRoles: { orders: { ttlSeconds: 600 } },
      awsRoles: { deploy: { ttlSeconds: 900 } },
    });
    backend = new VaultBackend({ address: vault.url, token: vault.rootToken, requestTimeoutMs: 2000 });
  });

  afterAll(async () => {
    await backend?.close();
    await vault?.stop();
  });

  beforeEach(() => {
    path = `app/svc-${n++}`;
  });

  describe('KV v2', () => {
    it('reads the latest version; the reference is the path and version, never the value', async () => {
      vault.seedKv('secret', path, { username: 'app', password: 'kv-secret-1' });
      vault.seedKv('secret', path, { username: 'app', password: 'kv-secret-2' });
      const issued = await backend.issue(req({ type: 'vault', kind: 'kv', path: `secret/${path}` }));
      expect(issued.secret).toEqual({ username: 'app', password: 'kv-secret-2' });
      expect(issued.reference).toBe(`vault:secret/data/${path}#v2`);
      expect(issued.backendLeaseId).toBeUndefined();
    });

    it('reads a pinned version and only the listed fields', async () => {
      vault.seedKv('secret', path, { username: 'app', password: 'kv-old-1' });
      vault.seedKv('secret', path, { username: 'app', password: 'kv-new-1' });
      const issued = await backend.issue(
        req({ type: 'vault', kind: 'kv', path: `secret/${path}`, version: 1, fields: ['password'] }),
      );
      expect(issued.secret).toEqual({ password: 'kv-old-1' });
      expect(issued.reference).toBe(`vault:secret/data/${path}#v1`);
    });

    it('maps a missing path to BACKEND_SECRET_NOT_FOUND and a missing version to BACKEND_VERSION_NOT_FOUND', async () => {
      expect(
        await codeOf(backend.issue(req({ type: 'vault', kind: 'kv', path: 'secret/app/nothing' }))),
      ).toBe('BACKEND_SECRET_NOT_FOUND');
      vault.seedKv('secret', path, { password: 'only-one-1' });
      expect(await codeOf(backend.readVersion(`secret/${path}`, '7'))).toBe('BACKEND_VERSION_NOT_FOUND');
    });

    it('rotates by writing a new version; the previous stays for rollback', async () => {
      vault.seedKv('secret', path, { username: 'app', password: 'rotate-me-1', port: 5432 });
      const steps: string[] = [];
      const r = await backend.rotate(`vault:secret/${path}`, undefined, {
        onStep: (s) => void steps.push(s),
      });
      expect(steps).toEqual(['marked', 'promoted', 'cleared']);
      expect(r).toMatchObject({ previousVersion: '1', newVersion: '2', recovered: false });
      expect(r.reference).toBe(`vault:secret/data/${path}#v2`);
      const key = vault.kvKey('secret', path);
      expect(key?.versions.get(2)?.data).toMatchObject({ username: 'app', port: 5432 });
      const now = await backend.readCurrent(`secret/${path}`);
      expect(now.value.password).not.toBe('rotate-me-1');
      expect((await backend.readVersion(`secret/${path}`, '1')).value.password).toBe('rotate-me-1');
      const d = await backend.describe(`secret/${path}`);
      expect(d).toMatchObject({ currentVersion: '2', previousVersion: '1', pending: null });
      expect(d.versions.map((v) => [v.version, v.stages])).toEqual([
        ['2', ['current']],
        ['1', ['previous']],
      ]);
    });

    it('keeps custom metadata that is not its own across a rotation', async () => {
      vault.seedKv('secret', path, { password: 'meta-1-value' });
      vault.kvKey('secret', path)!.custom_metadata = { owner: 'team-orders' };
      await backend.rotate(`secret/${path}`, { password: 'meta-2-value' });
      expect(vault.kvKey('secret', path)?.custom_metadata).toEqual({ owner: 'team-orders' });
    });

    it('rolls back by writing the old version again as a new one', async () => {
      vault.seedKv('secret', path, { password: 'roll-1-value' });
      const r = await backend.rotate(`secret/${path}`);
      const back = await backend.rollback(`secret/${path}`, r.previousVersion);
      expect(back).toMatchObject({ previousVersion: '2', newVersion: '3' });
      expect((await backend.readCurrent(`secret/${path}`)).value.password).toBe('roll-1-value');
      // History stays append-only: the rotated-away value is still there for a roll forward.
      expect((await backend.describe(`secret/${path}`)).previousVersion).toBe('2');
      expect((await backend.rollback(`secret/${path}`, '3')).newVersion).toBe('3');
    });

    it('refuses a rollback to a destroyed version or past the restore window', async () => {
      vault.seedKv('secret', path, { password: 'gone-1-value' });
      await backend.rotate(`secret/${path}`);
      const v1 = vault.kvKey('secret', path)!.versions.get(1)!;
      v1.destroyed = true;
      v1.data = null;
      expect(await codeOf(backend.rollback(`secret/${path}`, '1'))).toBe('BACKEND_VERSION_NOT_FOUND');

      const other = `app/window-${n++}`;
      vault.seedKv('secret', other, { password: 'window-1-value' });
      await backend.rotate(`secret/${other}`);
      const later = new VaultBackend({
        address: vault.url,
        token: vault.rootToken,
        restoreWindowSeconds: 600,
        clock: () => new Date(Date.now() + 3600_000),
      });
      expect(await codeOf(later.rollback(`secret/${other}`, '1'))).toBe('BACKEND_RESTORE_WINDOW_PASSED');
      await later.rollback(`secret/${other}`, '1', { restoreWindowSeconds: 7200 });
      expect((await backend.readCurrent(`secret/${other}`)).value.password).toBe('window-1-value');
    });

    it('a write that lost a check-and-set race is a conflict, and leaves no marker behind', async () => {
      vault.seedKv('secret', path, { password: 'race-1-value' });
      const err = await backend
        .rotate(
          `secret/${path}`,
          { password: 'race-mine-value' },
          {
            onStep: (step) => {
              if (step === 'marked') vault.seedKv('secret', path, { password: 'race-theirs-value' });
            },
          },
        )
        .catch((e: BackendError) => e);
      expect(err).toMatchObject({ code: 'BACKEND_CONFLICT', category: 'conflict' });
      expect(await backend.pendingRotation(`secret/${path}`)).toBeNull();
      expect((await backend.readCurrent(`secret/${path}`)).value.password).toBe('race-theirs-value');
    });

    const child = join(repoRoot, 'test/credential-broker/backends/rotation-crash-child.ts');

    it('a process killed after marking leaves a marker the next run detects; nothing was written', async () => {
      vault.seedKv('secret', path, { password: 'killed-1-value' });
      const end = await runTsChild(child, ['vault', vault.url, `secret/${path}`, 'marked'], {
        VAULT_TOKEN: vault.rootToken,
      });
      expect(end.signal, end.stderr).toBe('SIGKILL');
      expect(await backend.pendingRotation(`secret/${path}`)).toMatchObject({
        stage: 'marked',
        fromVersion: '1',
      });
      expect(await backend.finishRotation(`secret/${path}`)).toEqual({
        outcome: 'discarded',
        currentVersion: '1',
      });
      expect((await backend.readCurrent(`secret/${path}`)).value.password).toBe('killed-1-value');
      expect(await backend.pendingRotation(`secret/${path}`)).toBeNull();
    });

    it('a process killed after writing leaves a state the next run finishes, or undoes', async () => {
      vault.seedKv('secret', path, { password: 'killed-2-value' });
      let end = await runTsChild(child, ['vault', vault.url, `secret/${path}`, 'promoted'], {
        VAULT_TOKEN: vault.rootToken,
      });
      expect(end.signal, end.stderr).toBe('SIGKILL');
      expect(await backend.pendingRotation(`secret/${path}`)).toMatchObject({
        stage: 'promoted',
        fromVersion: '1',
        pendingVersion: '2',
      });
      // Re-running the rotation finishes the interrupted one instead of rotating twice.
      expect(await backend.rotate(`secret/${path}`)).toMatchObject({
        previousVersion: '1',
        newVersion: '2',
        recovered: true,
      });
      expect(await backend.pendingRotation(`secret/${path}`)).toBeNull();

      end = await runTsChild(child, ['vault', vault.url, `secret/${path}`, 'promoted'], {
        VAULT_TOKEN: vault.rootToken,
      });
      expect(end.signal, end.stderr).toBe('SIGKILL');
      const before = (await backend.readVersion(`secret/${path}`, '2')).value.password;
      expect(await backend.undoRotation(`secret/${path}`)).toEqual({
        outcome: 'undone',
        currentVersion: '4',
        previousVersion: '3',
      });
      expect((await backend.readCurrent(`secret/${path}`)).value.password).toBe(before);
    });

    it('retires by soft-deleting the current version (reads 404) and restores it by undelete', async () => {
      vault.seedKv('secret', path, { username: 'app', password: 'retire-1-value' });
      vault.seedKv('secret', path, { username: 'app', password: 'retire-2-value' });
      const raw = () =>
        fetch(`${vault.url}/v1/secret/data/${path}`, { headers: { 'X-Vault-Token': vault.rootToken } });
      const before = Date.now();
      const retired = await backend.retire(`secret/${path}`, { restoreWindowSeconds: 3600 });
      expect(retired).toMatchObject({
        reference: `vault:secret/data/${path}#v2`,
        version: '2',
        changed: true,
      });
      expect(retired.restorableUntil.getTime()).toBeGreaterThanOrEqual(before + 3_600_000);
      expect((await raw()).status).toBe(404);
      await expect(backend.readCurrent(`secret/${path}`)).rejects.toMatchObject({
        code: 'BACKEND_SECRET_NOT_FOUND',
      });
      const d = await backend.describe(`secret/${path}`);
      expect(d.deleted?.version).toBe('2');
      expect(d.currentVersion).toBe('2');
      // A soft delete of the latest version only: no metadata delete, no destroy.
      const mine = vault.requests.filter((r) => r.path.includes(path) && r.method !== 'GET');
      expect(mine.map((r) => `${r.method} ${r.path}`)).toEqual([`DELETE /v1/secret/data/${path}`]);
      expect(vault.kvKey('secret', path)?.versions.get(2)?.destroyed).toBe(false);

      expect(await backend.retire(`secret/${path}`, { restoreWindowSeconds: 3600 })).toMatchObject({
        changed: false,
      });

      expect(await backend.restore(`secret/${path}`)).toMatchObject({ version: '2', changed: true });
      expect((await raw()).status).toBe(200);
      expect((await backend.readCurrent(`secret/${path}`)).value).toEqual({
        username: 'app',
        password: 'retire-2-value',
      });
      expect((await backend.describe(`secret/${path}`)).deleted).toBeUndefined();
      expect(await backend.restore(`secret/${path}`)).toMatchObject({ changed: false });
    });

    it('refuses to start a different rotation or a rollback over a pending one', async () => {
      vault.seedKv('secret', path, { password: 'pending-1-value' });
      vault.kvKey('secret', path)!.custom_metadata = { 'meshbridge-rotation-from': '1' };
      vault.seedKv('secret', path, { password: 'pending-2-value' });
      expect(await codeOf(backend.rotate(`secret/${path}`, { password: 'other-value' }))).toBe(
        'BACKEND_ROTATION_PENDING',
      );
      expect(await codeOf(backend.rotate(`secret/${path}`, undefined, { onPending: 'fail' }))).toBe(
        'BACKEND_ROTATION_PENDING',
      );
      expect(await codeOf(backend.rollback(`secret/${path}`, '1'))).toBe('BACKEND_ROTATION_PENDING');
    });
  });

  describe('tokens', () => {
    it('creates a token with the TTL and policies; the accessor is the lease id, not the token', async () => {
      const before = Date.now();
      const issued = await backend.issue(req({ type: 'vault', kind: 'token', policies: ['kv-app'] }, 120));
      const token = issued.secret.token as string;
      expect(token).toMatch(/^hvs\./);
      expect(issued.backendLeaseId?.startsWith(TOKEN_ACCESSOR_PREFIX)).toBe(true);
      expect(issued.backendLeaseId).not.toContain(token);
      expect(issued.reference).not.toContain(token);
      expect(issued.expiresAt.getTime()).toBeGreaterThanOrEqual(before + 120_000);
      expect(issued.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 120_000);

      // The token works within its policies, and only there.
      vault.seedKv('secret', path, { password: 'for-the-token-1' });
      const asCaller = new VaultBackend({ address: vault.url, token });
      expect((await asCaller.readCurrent(`secret/${path}`)).value.password).toBe('for-the-token-1');
      expect(await codeOf(asCaller.issue(req({ type: 'vault', kind: 'database', role: 'orders' })))).toBe(
        'BACKEND_DENIED',
      );

      const accessor = (issued.backendLeaseId as string).slice(TOKEN_ACCESSOR_PREFIX.length);
      expect(vault.accessorAlive(accessor)).toBe(true);
      await backend.revoke(issued.backendLeaseId as string);
      expect(vault.accessorAlive(accessor)).toBe(false);
      await backend.revoke(issued.backendLeaseId as string); // already gone: still fine
      expect(await codeOf(asCaller.readCurrent(`secret/${path}`))).toBe('BACKEND_DENIED');
    });

    it("does not adopt the created token as the broker's own", async () => {
      await backend.issue(req({ type: 'vault', kind: 'token', policies: ['kv-app'] }));
      // With the child token, database creds would be denied.
      const issued = await backend.issue(req({ type: 'vault', kind: 'database', role: 'orders' }));
      expect(issued.secret.username).toBeDefined();
    });

    it('refuses policies beyond its own token', async () => {
      const limited = vault.createToken(['token-maker', 'kv-app']);
      const broker = new VaultBackend({ address: vault.url, token: limited.token });
      expect(await codeOf(broker.issue(req({ type: 'vault', kind: 'token', policies: ['orders-db'] })))).toBe(
        'BACKEND_REQUEST_REJECTED',
      );
      const ok = await broker.issue(req({ type: 'vault', kind: 'token', policies: ['kv-app'] }));
      expect(ok.secret.token).toBeDefined();
    });
  });

  describe('dynamic secrets and leases', () => {
    it('issues database credentials with their lease; expiry is the shorter of TTL and lease', async () => {
      const before = Date.now();
      const issued = await backend.issue(req({ type: 'vault', kind: 'database', role: 'orders' }, 3600));
      expect(Object.keys(issued.secret).sort()).toEqual(['password', 'username']);
      expect(issued.backendLeaseId).toMatch(/^database\/creds\/orders\//);
      expect(issued.reference).toBe(`vault:${issued.backendLeaseId}`);
      expect(issued.expiresAt.getTime() - before).toBeGreaterThanOrEqual(600_000);
      expect(issued.expiresAt.getTime() - before).toBeLessThan(601_000);
    });

    it('issues AWS credentials with their lease, leaving out null fields', async () => {
      const issued = await backend.issue(req({ type: 'vault', kind: 'aws', role: 'deploy' }, 300));
      expect(Object.keys(issued.secret).sort()).toEqual(['access_key', 'secret_key']);
      expect(issued.backendLeaseId).toMatch(/^aws\/creds\/deploy\//);
    });

    it('revokes a lease exactly once, however often and however concurrently it is asked', async () => {
      const issued = await backend.issue(req({ type: 'vault', kind: 'database', role: 'orders' }));
      const id = issued.backendLeaseId as string;
      await Promise.all([backend.revoke(id), backend.revoke(id), backend.revoke(id)]);
      expect(vault.lease(id)).toMatchObject({ revoked: true, revocations: 1, revokeCalls: 1 });
      await backend.revoke(id);
      expect(vault.lease(id)).toMatchObject({ revoked: true, revocations: 1, revokeCalls: 2 });
    });

    it('refuses an empty lease id and an unknown role', async () => {
      expect(await codeOf(backend.revoke(''))).toBe('BACKEND_LEASE_ID_INVALID');
      expect(await codeOf(backend.issue(req({ type: 'vault', kind: 'database', role: 'nope' })))).toBe(
        'BACKEND_REQUEST_REJECTED',
      );
    });
  });

  describe('denied, sealed and down', () => {
    it('maps a token without the policy, and a wrong token, to BACKEND_DENIED', async () => {
      const limited = vault.createToken(['kv-app']);
      const broker = new VaultBackend({ address: vault.url, token: limited.token });
      expect(await codeOf(broker.issue(req({ type: 'vault', kind: 'kv', path: 'secret/other/x' })))).toBe(
        'BACKEND_DENIED',
      );
      const wrong = new VaultBackend({ address: vault.url, token: 'hvs.not-a-token' });
      const err = await wrong.issue(req({ type: 'vault', kind: 'database', role: 'orders' })).catch((e) => e);
      expect(err).toMatchObject({ code: 'BACKEND_DENIED', category: 'denied' });
      expect(err.message).toMatch(/permission denied/);
      expect(err.message).not.toContain('hvs.not-a-token');
    });

    it.each([
      ['sealed', 'sealed', 'sealed'],
      ['refusing connections', 'refuse', 'down'],
      ['answering 500', 'error', 'down'],
    ] as const)(
      'while %s: BACKEND_UNAVAILABLE and no credential; then it recovers by itself',
      async (_name, mode, healthStatus) => {
        const leasesBefore = vault.allLeases().length;
        await vault.goDown(mode);
        try {
          let issued: unknown;
          const err = await backend
            .issue(req({ type: 'vault', kind: 'database', role: 'orders' }))
            .then((c) => {
              issued = c;
            })
            .catch((e: BackendError) => e);
          expect(issued).toBeUndefined();
          expect(err).toMatchObject({ code: 'BACKEND_UNAVAILABLE', category: 'unavailable' });
          expect(
            await codeOf(backend.issue(req({ type: 'vault', kind: 'token', policies: ['kv-app'] }))),
          ).toBe('BACKEND_UNAVAILABLE');
          expect(await codeOf(backend.revoke('database/creds/orders/x'))).toBe('BACKEND_UNAVAILABLE');
          const health = await backend.health();
          expect(health).toMatchObject({ ok: false, status: healthStatus });
          expect(vault.allLeases().length).toBe(leasesBefore);
        } finally {
          await vault.comeBack();
        }
        expect(await backend.health()).toMatchObject({ ok: true, status: 'up' });
        const issued = await backend.issue(req({ type: 'vault', kind: 'database', role: 'orders' }));
        expect(issued.secret.password).toBeDefined();
      },
    );

    it('a Vault that accepts but never answers times out into BACKEND_UNAVAILABLE', async () => {
      const impatient = new VaultBackend({
        address: vault.url,
        token: vault.rootToken,
        requestTimeoutMs: 200,
      });
      await vault.goDown('hang');
      try {
        const err = await impatient
          .issue(req({ type: 'vault', kind: 'database', role: 'orders' }))
          .catch((e) => e);
        expect(err).toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
        expect(err.details.network).toMatch(/ECONNABORTED|ETIMEDOUT/);
        expect(await impatient.health()).toMatchObject({ ok: false, status: 'down' });
      } finally {
        await vault.comeBack();
      }
      expect(
        (await impatient.issue(req({ type: 'vault', kind: 'database', role: 'orders' }))).secret,
      ).toHaveProperty('password');
    });

    it('reports a healthy Vault as up', async () => {
      expect(await backend.health()).toMatchObject({ ok: true, status: 'up' });
    });
  });

  describe('built from config', () => {
    it('takes the token from an environment variable and the KV mounts from config', async () => {
      vault.seedKv('secret', path, { password: 'from-config-1' });
      const fromConfig = createBackend(
        { type: 'vault', address: vault.url, tokenEnv: 'BROKER_VAULT_TOKEN', kvMounts: ['secret'] },
        { env: { BROKER_VAULT_TOKEN: vault.rootToken } },
      );
      expect((await fromConfig.readCurrent(`secret/${path}`)).value.password).toBe('from-config-1');
      expect(await codeOf(fromConfig.readCurrent('kv/other/x'))).toBe('BACKEND_SPEC_INVALID');
    });

    it('refuses a config without a token, and one with an unknown field', () => {
      expect(() => createBackend({ type: 'vault', address: vault.url }, { env: {} })).toThrow(
        expect.objectContaining({ code: 'BACKEND_CONFIG_INVALID' }),
      );
      expect(() =>
        createBackend({ type: 'vault', address: vault.url, token: 't', tokne: 'x' } as never, { env: {} }),
      ).toThrow(/tokne|additional/i);
    });
  });
});
