/**
 * A key in AWS Secrets Manager (moto) and in Vault (the double) walked through every
 * state by the ledger (fake evidence, injected clock): rotation on brokered -> rotated;
 * on short-lived -> retired the secret is deleted downstream, restorably (AWS scheduled
 * deletion, KV v2 soft delete), so it no longer reads; rollback out of retired within
 * the restore window restores it with the same value, and after the window is refused.
 */

import { randomBytes } from 'node:crypto';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BackendError, type RotatingSecretStore } from '../../../src/credential-broker/backends/index.js';
import { StaticKeyLedger } from '../../../src/credential-broker/static-keys/index.js';
import { openStore, type Store } from '../../../src/store/index.js';
import { type FreshTarget, PG_SKIPPED, TARGETS } from '../../store/targets.js';
import { DAY, FakeEvidence, TestClock } from './fake-evidence.js';
import { FLAVOURS, type Rig, type RigFactory } from './rigs.js';

const WEB = 'spiffe://example.org/ns/shop/sa/web';

if (PG_SKIPPED !== null) {
  describe.skip(`backend keys on postgres — SKIPPED: ${PG_SKIPPED}`, () => {
    it('needs a PostgreSQL server', () => {});
  });
}

/** Reads the secret with the backend's own API, bypassing meshbridge: true if it reads. */
async function readsDownstream(rig: Rig): Promise<{ ok: boolean; status: string }> {
  if (rig.kind === 'aws') {
    const client = new SecretsManagerClient({
      endpoint: rig.env.AWS_ENDPOINT_URL as string,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    try {
      await client.send(new GetSecretValueCommand({ SecretId: rig.where }));
      return { ok: true, status: 'ok' };
    } catch (err) {
      return { ok: false, status: (err as Error).name };
    } finally {
      client.destroy();
    }
  }
  const [mount, ...rest] = rig.where.split('/');
  const res = await fetch(`${rig.env.VAULT_ADDR}/v1/${mount}/data/${rest.join('/')}`, {
    headers: { 'X-Vault-Token': rig.env.VAULT_TOKEN as string },
  });
  return { ok: res.ok, status: res.ok ? 'ok' : String(res.status) };
}

for (const flavour of FLAVOURS) {
  describe.skipIf(flavour.skip).each(TARGETS)(
    `a ${flavour.name} key through every state, ledger on $name`,
    (target) => {
      let env: RigFactory;
      let rig: Rig;
      let fresh: FreshTarget;
      let store: Store;
      let evidence: FakeEvidence;
      let clock: TestClock;
      let ledger: StaticKeyLedger;
      const gone = flavour.name === 'aws' ? 'InvalidRequestException' : '404';

      beforeAll(async () => {
        env = await flavour.start();
      });
      afterAll(async () => {
        await env?.stop();
      });
      beforeEach(async () => {
        fresh = await target.fresh();
        store = await openStore(fresh.target);
        evidence = new FakeEvidence();
        clock = new TestClock(new Date());
        rig = await env.rig(`key-${randomBytes(4).toString('hex')}`);
        ledger = new StaticKeyLedger({ store, evidence, clock: clock.fn, secretStores: () => rig.backend });
      });
      afterEach(async () => {
        await store.close();
        await fresh.cleanup();
      });

      const current = async () => (await rig.backend.readCurrent(rig.where)).value;

      /** add the key and take it to brokered. */
      async function toBrokered(restoreSeconds = 10 * DAY) {
        await ledger.add({
          name: 'db',
          location: rig.location,
          owner: 'o',
          consumers: [WEB],
          windowSeconds: DAY,
          quietSeconds: DAY,
          restoreSeconds,
        });
        expect((await ledger.advance('db')).state).toBe('brokered');
      }

      /** add, broker, rotate, go short-lived: returns the value after the rotation. */
      async function toShortLived(restoreSeconds = 10 * DAY) {
        await toBrokered(restoreSeconds);
        evidence.fetched('db', WEB, clock.now);
        expect((await ledger.advance('db')).state).toBe('rotated');
        const afterRotation = await current();
        expect(afterRotation.password).not.toBe(rig.oldPassword);
        expect(afterRotation.username).toBe('orders');
        clock.advance(2 * DAY);
        expect((await ledger.advance('db')).state).toBe('short-lived');
        clock.advance(2 * DAY);
        return afterRotation;
      }

      it('retires by deleting downstream; rollback within the window restores the same value', async () => {
        const afterRotation = await toShortLived();
        const rotatedKey = await ledger.get('db');

        const retired = await ledger.advance('db');
        expect(retired.state).toBe('retired');
        const t = retired.transitions[0];
        expect(t).toMatchObject({
          from: 'short-lived',
          to: 'retired',
          backendFromVersion: rotatedKey.currentVersion,
          backendToVersion: rotatedKey.currentVersion,
        });
        const until = (t?.evidence as { retirement?: { restorableUntil?: string } } | undefined)?.retirement
          ?.restorableUntil as string;
        expect(new Date(until).getTime()).toBeGreaterThan(clock.now.getTime());
        // Deleted downstream: the backend's own read fails, and so does meshbridge's.
        expect(await readsDownstream(rig)).toEqual({ ok: false, status: gone });
        await expect(current()).rejects.toMatchObject({ code: 'BACKEND_SECRET_NOT_FOUND' });
        // The ledger's versions are untouched: nothing was rotated to a value nobody knows.
        expect(await ledger.get('db')).toMatchObject({
          currentVersion: rotatedKey.currentVersion,
          previousVersion: rotatedKey.previousVersion,
        });
        const shown = await ledger.show('db');
        expect(shown).toMatchObject({ state: 'retired', restorableUntil: until, interrupted: null });
        expect(shown.next.state).toBeNull();

        clock.advance(3 * DAY);
        const back = await ledger.rollback('db', { reason: 'a forgotten cron job' });
        expect(back.refused).toBeNull();
        expect(back.state).toBe('short-lived');
        expect(await readsDownstream(rig)).toEqual({ ok: true, status: 'ok' });
        expect(await current()).toEqual(afterRotation);
        expect((await ledger.get('db')).currentVersion).toBe(rotatedKey.currentVersion);

        // Retire again (after another quiet period), then back down to brokered: the old value.
        clock.advance(2 * DAY);
        expect((await ledger.advance('db')).state).toBe('retired');
        expect((await readsDownstream(rig)).ok).toBe(false);
        expect((await ledger.rollback('db', { reason: 'r' })).state).toBe('short-lived');
        expect((await ledger.rollback('db', { reason: 'r' })).state).toBe('rotated');
        expect(await current()).toEqual(afterRotation);
        expect((await ledger.rollback('db', { reason: 'r' })).state).toBe('brokered');
        expect((await current()).password).toBe(rig.oldPassword);
      });

      it('refuses a rollback out of retired after the restore window; the secret stays deleted', async () => {
        await toShortLived(8 * DAY);
        expect((await ledger.advance('db')).state).toBe('retired');
        // The ledger's window, or AWS's deletion date (8 whole days from AWS's own clock) if sooner.
        const shown = await ledger.show('db');
        expect(shown.restoreUntil).toBe(shown.restorableUntil);
        const until = new Date(shown.restoreUntil as string).getTime();
        expect(until).toBeLessThanOrEqual(clock.now.getTime() + 8 * DAY * 1000);
        if (flavour.name === 'vault') expect(until).toBe(clock.now.getTime() + 8 * DAY * 1000);
        clock.advance(9 * DAY);
        const late = await ledger.rollback('db', { reason: 'too late' });
        expect(late.state).toBe('retired');
        expect(late.refused?.blockers.map((b) => b.code)).toEqual(['RESTORE_WINDOW_PASSED']);
        expect(await readsDownstream(rig)).toEqual({ ok: false, status: gone });
      });

      it('a backend call that fails before changing anything leaves no journal: the next step just runs', async () => {
        /** The rig's backend, with `method` failing before it reaches the backend. */
        const down = (method: 'rotate' | 'retire' | 'restore'): RotatingSecretStore =>
          Object.create(rig.backend, {
            [method]: {
              value: async () => {
                throw new BackendError('BACKEND_UNAVAILABLE', `${method}: backend down (test switch)`);
              },
            },
          });
        const failing = (method: 'rotate' | 'retire' | 'restore') =>
          new StaticKeyLedger({ store, evidence, clock: clock.fn, secretStores: () => down(method) });
        const untouched = async (state: string) => {
          const shown = await ledger.show('db');
          expect(shown.state).toBe(state);
          expect(shown.interrupted).toBeNull();
        };

        await toBrokered();
        evidence.fetched('db', WEB, clock.now);
        await expect(failing('rotate').advance('db')).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
        await untouched('brokered');
        expect((await current()).password).toBe(rig.oldPassword);
        const rotated = await ledger.advance('db');
        expect(rotated).toMatchObject({ state: 'rotated', recovered: null });

        clock.advance(2 * DAY);
        expect((await ledger.advance('db')).state).toBe('short-lived');
        clock.advance(2 * DAY);
        await expect(failing('retire').advance('db')).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
        await untouched('short-lived');
        expect(await readsDownstream(rig)).toEqual({ ok: true, status: 'ok' });
        expect(await ledger.advance('db')).toMatchObject({ state: 'retired', recovered: null });

        await expect(failing('restore').rollback('db', { reason: 'r' })).rejects.toMatchObject({
          code: 'BACKEND_UNAVAILABLE',
        });
        await untouched('retired');
        expect((await ledger.rollback('db', { reason: 'r' })).state).toBe('short-lived');
      });

      it('a retirement cut off before the ledger update is journaled, and recovered (finished or undone)', async () => {
        const afterRotation = await toShortLived();
        const crashing = new StaticKeyLedger({
          store,
          evidence,
          clock: clock.fn,
          secretStores: () => rig.backend,
          hooks: {
            beforeLedgerUpdate: () => {
              throw new Error('killed');
            },
          },
        });
        await expect(crashing.advance('db')).rejects.toThrow('killed');
        expect(await readsDownstream(rig)).toEqual({ ok: false, status: gone });
        const shown = await ledger.show('db');
        expect(shown.state).toBe('short-lived');
        expect(shown.interrupted).toMatchObject({
          from: 'short-lived',
          to: 'retired',
          downstream: { stage: 'written' },
        });

        // Undo: the secret is readable again with the same value; the key stays short-lived.
        const undone = await ledger.recover('db', { mode: 'undo', force: true });
        expect(undone).toMatchObject({ outcome: 'undone', state: 'short-lived' });
        expect(await current()).toEqual(afterRotation);
        expect((await ledger.show('db')).interrupted).toBeNull();

        // Again, and this time the next advance finishes it, recording the restore deadline.
        await expect(crashing.advance('db')).rejects.toThrow('killed');
        clock.advance(120);
        const finished = await ledger.advance('db');
        expect(finished.recovered?.outcome).toBe('finished');
        expect(finished.state).toBe('retired');
        expect((await ledger.show('db')).restorableUntil).not.toBeNull();
        expect((await readsDownstream(rig)).ok).toBe(false);

        // A restore cut off the same way: finishing it lands in short-lived, value intact.
        await expect(crashing.rollback('db', { reason: 'r' })).rejects.toThrow('killed');
        expect((await readsDownstream(rig)).ok).toBe(true);
        expect((await ledger.show('db')).interrupted).toMatchObject({ from: 'retired', to: 'short-lived' });
        const restored = await ledger.recover('db', { force: true });
        expect(restored).toMatchObject({ outcome: 'finished', state: 'short-lived' });
        expect(await current()).toEqual(afterRotation);
      });
    },
  );
}
