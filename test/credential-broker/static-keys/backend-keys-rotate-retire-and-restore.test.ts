/**
 * A key in Vault walked through every state by the ledger (fake evidence, injected
 * clock): rotation on brokered -> rotated, one more rotation to a value nobody is given
 * on short-lived -> retired, and rollbacks that restore the previous value only within
 * the restore window.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { VaultBackend } from '../../../src/credential-broker/backends/index.js';
import { StaticKeyLedger } from '../../../src/credential-broker/static-keys/index.js';
import { openStore, type Store } from '../../../src/store/index.js';
import { VaultDouble } from '../../doubles/vault-double.js';
import { type FreshTarget, PG_SKIPPED, TARGETS } from '../../store/targets.js';
import { DAY, FakeEvidence, TestClock } from './fake-evidence.js';

const WEB = 'spiffe://example.org/ns/shop/sa/web';

if (PG_SKIPPED !== null) {
  describe.skip(`backend keys on postgres — SKIPPED: ${PG_SKIPPED}`, () => {
    it('needs a PostgreSQL server', () => {});
  });
}

describe.each(TARGETS)('a Vault key through every state, ledger on $name', (target) => {
  let vault: VaultDouble;
  let backend: VaultBackend;
  let fresh: FreshTarget;
  let store: Store;
  let evidence: FakeEvidence;
  let clock: TestClock;
  let ledger: StaticKeyLedger;
  let n = 0;
  let path: string;

  beforeAll(async () => {
    vault = await VaultDouble.start();
    backend = new VaultBackend({ address: vault.url, token: vault.rootToken });
  });
  afterAll(async () => {
    await backend.close();
    await vault.stop();
  });
  beforeEach(async () => {
    fresh = await target.fresh();
    store = await openStore(fresh.target);
    evidence = new FakeEvidence();
    clock = new TestClock(new Date());
    ledger = new StaticKeyLedger({ store, evidence, clock: clock.fn, secretStores: () => backend });
    path = `app/key-${n++}`;
    vault.seedKv('secret', path, { username: 'svc', password: 'the-old-static-one', port: '5432' });
  });
  afterEach(async () => {
    await store.close();
    await fresh.cleanup();
  });

  const current = async () => (await backend.readCurrent(`secret/${path}`)).value;

  it('rotates, retires with a fresh unknown value, and restores within the window', async () => {
    await ledger.add({
      name: 'db',
      location: `vault:secret/${path}`,
      owner: 'o',
      consumers: [WEB],
      windowSeconds: DAY,
      quietSeconds: DAY,
      restoreSeconds: 10 * DAY,
    });
    expect((await ledger.advance('db')).state).toBe('brokered');
    expect(await ledger.get('db')).toMatchObject({
      backendReference: `vault:secret/data/${path}`,
      currentVersion: '1',
    });
    evidence.fetched('db', WEB, clock.now);
    const rotated = await ledger.advance('db');
    expect(rotated.state).toBe('rotated');
    const afterRotation = await current();
    expect(afterRotation.password).not.toBe('the-old-static-one');
    expect(afterRotation).toMatchObject({ username: 'svc', port: '5432' });
    expect(await ledger.get('db')).toMatchObject({ currentVersion: '2', previousVersion: '1' });

    clock.advance(2 * DAY);
    expect((await ledger.advance('db')).state).toBe('short-lived');
    clock.advance(2 * DAY);
    const retired = await ledger.advance('db');
    expect(retired.state).toBe('retired');
    expect(retired.transitions[0]).toMatchObject({ backendFromVersion: '2', backendToVersion: '3' });
    expect((await current()).password).not.toBe(afterRotation.password);

    // Out of retired: the value from before retirement comes back.
    const back = await ledger.rollback('db', { reason: 'a forgotten cron job' });
    expect(back.refused).toBeNull();
    expect(back.state).toBe('short-lived');
    expect((await current()).password).toBe(afterRotation.password);
    // short-lived -> rotated is the ledger's alone; rotated -> brokered restores the old value.
    expect((await ledger.rollback('db', { reason: 'r' })).state).toBe('rotated');
    expect((await current()).password).toBe(afterRotation.password);
    clock.advance(11 * DAY);
    const late = await ledger.rollback('db', { reason: 'too late' });
    expect(late.refused?.blockers.map((b) => b.code)).toEqual(['RESTORE_WINDOW_PASSED']);
    expect((await current()).password).toBe(afterRotation.password);
  });

  it('restores the old value from rotated; a downstream rotation it did not start blocks it', async () => {
    await ledger.add({ name: 'db', location: `vault:secret/${path}`, owner: 'o', consumers: [WEB] });
    await ledger.advance('db');
    evidence.fetched('db', WEB, clock.now);
    await ledger.advance('db');
    const back = await ledger.rollback('db', { reason: 'consumer broke' });
    expect(back.state).toBe('brokered');
    expect((await current()).password).toBe('the-old-static-one');
    const key = await ledger.get('db');
    expect(key.currentVersion).toBe('3');

    // Someone else's rotation left a marker with a written version: the ledger will not step on it.
    await backend
      .rotate(`secret/${path}`, undefined, {
        onStep: (step) => {
          if (step === 'promoted') throw new Error('stop here');
        },
      })
      .catch(() => undefined);
    const refused = await ledger.advance('db');
    expect(refused.refused?.blockers.map((b) => b.code)).toEqual(['DOWNSTREAM_ROTATION_PENDING']);
  });
});
