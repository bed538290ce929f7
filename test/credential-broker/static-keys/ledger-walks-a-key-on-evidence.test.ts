/**
 * The ledger on both databases: adding, the walk of an external key from static to
 * retired on (fake) evidence, rollback within the restore window, history, and two
 * operators advancing the same key at once.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type StaticKeyError,
  StaticKeyLedger,
  staticKeyFunnel,
} from '../../../src/credential-broker/static-keys/index.js';
import { openStore, type Store } from '../../../src/store/index.js';
import { type FreshTarget, PG_SKIPPED, TARGETS } from '../../store/targets.js';
import { DAY, FakeEvidence, TestClock } from './fake-evidence.js';

const WEB = 'spiffe://example.org/ns/shop/sa/web';
const WORKER = 'spiffe://example.org/ns/shop/sa/worker';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as StaticKeyError).code ?? String(err);
  }
  return undefined;
}

if (PG_SKIPPED !== null) {
  describe.skip(`static-key ledger on postgres — SKIPPED: ${PG_SKIPPED}`, () => {
    it('needs a PostgreSQL server', () => {});
  });
}

describe.each(TARGETS)('static-key ledger on $name', (target) => {
  let fresh: FreshTarget;
  let store: Store;
  let evidence: FakeEvidence;
  let clock: TestClock;
  let ledger: StaticKeyLedger;

  beforeEach(async () => {
    fresh = await target.fresh();
    store = await openStore(fresh.target);
    evidence = new FakeEvidence();
    clock = new TestClock(new Date('2026-03-01T09:00:00.000Z'));
    ledger = new StaticKeyLedger({ store, evidence, clock: clock.fn });
  });

  afterEach(async () => {
    await store.close();
    await fresh.cleanup();
  });

  it('adds a key; show answers the issue contract; a second add of the name is refused', async () => {
    const view = await ledger.add({
      name: 'legacy-ftp',
      location: 'external',
      note: 'FTP appliance, changed by NetOps',
      owner: 'netops',
      consumers: [WEB, WORKER],
      by: 'alice',
    });
    expect(view).toMatchObject({
      name: 'legacy-ftp',
      state: 'static',
      location: 'external',
      owner: 'netops',
      consumers: [
        { id: WEB, lastSeen: null },
        { id: WORKER, lastSeen: null },
      ],
      next: { state: 'brokered', ready: true, blockers: [] },
      note: 'FTP appliance, changed by NetOps',
      version: 1,
    });
    expect(
      await codeOf(ledger.add({ name: 'legacy-ftp', location: 'external', owner: 'x', consumers: [WEB] })),
    ).toBe('STATIC_KEY_EXISTS');
    expect(await codeOf(ledger.add({ name: 'k2', location: 'nfs:/x', owner: 'x', consumers: [WEB] }))).toBe(
      'STATIC_KEY_LOCATION_INVALID',
    );
    expect(
      await codeOf(ledger.add({ name: 'k2', location: 'external', owner: 'x', consumers: ['web'] })),
    ).toBe('STATIC_KEY_CONSUMER_INVALID');
    expect(await codeOf(ledger.add({ name: 'k2', location: 'external', owner: 'x', consumers: [] }))).toBe(
      'STATIC_KEY_CONSUMER_INVALID',
    );
    expect(await codeOf(ledger.show('nope'))).toBe('STATIC_KEY_NOT_FOUND');
    expect((await ledger.history('legacy-ftp')).map((t) => [t.kind, t.from, t.to, t.by])).toEqual([
      ['add', null, 'static', 'alice'],
    ]);
  });

  it('walks an external key static -> retired, each gate first refusing with its blockers', async () => {
    await ledger.add({
      name: 'ftp',
      location: 'external:appliance',
      owner: 'netops',
      consumers: [WEB, WORKER],
    });
    expect((await ledger.advance('ftp', { by: 'alice' })).state).toBe('brokered');

    // brokered -> rotated: one consumer seen, an intruder asked, no confirmation.
    clock.advance(DAY);
    evidence.fetched('ftp', WEB, clock.now);
    evidence.denied('ftp', 'spiffe://example.org/ns/shop/sa/intruder', clock.now);
    let r = await ledger.advance('ftp', { by: 'alice' });
    expect(r.state).toBe('brokered');
    expect(r.refused?.state).toBe('rotated');
    expect(r.refused?.blockers.map((b) => [b.code, b.consumer ?? b.spiffeId ?? null])).toEqual([
      ['CONSUMER_NOT_SEEN', WORKER],
      ['UNEXPECTED_CALLER', 'spiffe://example.org/ns/shop/sa/intruder'],
      ['CONFIRMATION_REQUIRED', null],
    ]);

    // The intruder's request ages out of the window; the worker fetches; the operator confirms.
    clock.advance(8 * DAY);
    evidence.fetched('ftp', WEB, clock.now).fetched('ftp', WORKER, clock.now);
    r = await ledger.advance('ftp', { confirm: true, by: 'alice' });
    expect(r.refused).toBeNull();
    expect(r.state).toBe('rotated');
    expect(r.transitions[0]?.evidence).toMatchObject({
      operatorConfirmed: true,
      consumers: [
        { id: WEB, lastSeen: clock.now.toISOString() },
        { id: WORKER, lastSeen: clock.now.toISOString() },
      ],
    });

    // rotated -> short-lived: leases of the static value within the window block.
    r = await ledger.advance('ftp');
    expect(r.refused?.blockers.map((b) => [b.code, b.spiffeId])).toEqual([
      ['STATIC_LEASE_ISSUED', WEB],
      ['STATIC_LEASE_ISSUED', WORKER],
    ]);
    clock.advance(8 * DAY);
    expect((await ledger.advance('ftp')).state).toBe('short-lived');

    // short-lived -> retired: quiet period, nobody asking, confirmation.
    r = await ledger.advance('ftp', { confirm: true });
    expect(r.refused?.blockers.map((b) => b.code)).toEqual(['QUIET_PERIOD_NOT_OVER']);
    clock.advance(3 * DAY);
    evidence.denied('ftp', WORKER, clock.now);
    clock.advance(5 * DAY);
    r = await ledger.advance('ftp', { confirm: true });
    expect(r.refused?.blockers.map((b) => [b.code, b.spiffeId])).toEqual([
      ['ASKED_DURING_QUIET_PERIOD', WORKER],
    ]);
    // A worker that asks once does not reset the clock in the ledger: the operator rolls back and forward.
    expect((await ledger.rollback('ftp', { reason: 'worker still asks', by: 'bob' })).state).toBe('rotated');
    clock.advance(1);
    expect((await ledger.advance('ftp')).state).toBe('short-lived');
    clock.advance(8 * DAY);
    r = await ledger.advance('ftp');
    expect(r.refused?.blockers.map((b) => b.code)).toEqual(['CONFIRMATION_REQUIRED']);
    r = await ledger.advance('ftp', { confirm: true, by: 'carol' });
    expect(r.state).toBe('retired');
    const shown = await ledger.show('ftp');
    expect(shown.next).toEqual({ state: null, ready: false, blockers: [], gates: [] });
    expect(shown.restoreUntil).toBe(new Date(clock.now.getTime() + 30 * DAY * 1000).toISOString());

    const history = await ledger.history('ftp');
    expect(history.map((t) => `${t.kind}:${t.from}->${t.to}`)).toEqual([
      'add:null->static',
      'advance:static->brokered',
      'advance:brokered->rotated',
      'advance:rotated->short-lived',
      'rollback:short-lived->rotated',
      'advance:rotated->short-lived',
      'advance:short-lived->retired',
    ]);
    expect(history[4]).toMatchObject({ reason: 'worker still asks', by: 'bob' });
    expect((await ledger.advance('ftp')).refused?.blockers[0]?.code).toBe('ALREADY_RETIRED');
  });

  it('rolls back out of retired only within the restore window', async () => {
    await ledger.add({
      name: 'k',
      location: 'external',
      owner: 'o',
      consumers: [WEB],
      windowSeconds: DAY,
      quietSeconds: DAY,
      restoreSeconds: 2 * DAY,
    });
    await ledger.advance('k');
    evidence.fetched('k', WEB, clock.now);
    await ledger.advance('k', { confirm: true });
    clock.advance(2 * DAY);
    await ledger.advance('k');
    clock.advance(2 * DAY);
    expect((await ledger.advance('k', { confirm: true })).state).toBe('retired');
    clock.advance(3 * DAY);
    const late = await ledger.rollback('k', { reason: 'oops' });
    expect(late.refused?.blockers.map((b) => b.code)).toEqual(['RESTORE_WINDOW_PASSED']);
    expect((await ledger.show('k')).state).toBe('retired');
    expect(await codeOf(ledger.rollback('k', { reason: '  ' }))).toBe('STATIC_KEY_SETTING_INVALID');
  });

  it('advance --to walks several steps and stops at the first refusing gate', async () => {
    await ledger.add({ name: 'k', location: 'external', owner: 'o', consumers: [WEB] });
    evidence.fetched('k', WEB, clock.now);
    const r = await ledger.advance('k', { to: 'retired', confirm: true });
    expect(r.transitions.map((t) => t.to)).toEqual(['brokered', 'rotated']);
    expect(r.state).toBe('rotated');
    expect(r.refused?.state).toBe('short-lived');
    expect(await codeOf(ledger.advance('k', { to: 'static' }))).toBe('STATIC_KEY_TARGET_INVALID');
    expect(await codeOf(ledger.advance('k', { to: 'sideways' }))).toBe('STATIC_KEY_STATE_INVALID');
    expect((await ledger.rollback('k', { reason: 'r1' })).state).toBe('brokered');
    expect((await ledger.rollback('k', { reason: 'r2' })).state).toBe('static');
    expect((await ledger.rollback('k', { reason: 'r3' })).refused?.blockers[0]?.code).toBe(
      'NOTHING_TO_ROLL_BACK',
    );
  });

  it('list and the funnel count keys per state and collect the blockers', async () => {
    await ledger.add({ name: 'a', location: 'external', owner: 'o1', consumers: [WEB] });
    await ledger.add({ name: 'b', location: 'external', owner: 'o2', consumers: [WEB, WORKER] });
    await ledger.add({ name: 'c', location: 'external', owner: 'o3', consumers: [WEB] });
    await ledger.advance('b');
    await ledger.advance('c');
    const views = await ledger.list();
    expect(views.map((v) => [v.name, v.state])).toEqual([
      ['a', 'static'],
      ['b', 'brokered'],
      ['c', 'brokered'],
    ]);
    const funnel = staticKeyFunnel(views);
    expect(funnel.total).toBe(3);
    expect(funnel.states).toEqual([
      { state: 'static', count: 1 },
      { state: 'brokered', count: 2 },
      { state: 'rotated', count: 0 },
      { state: 'short-lived', count: 0 },
      { state: 'retired', count: 0 },
    ]);
    expect(funnel.ready).toEqual(['a']);
    expect(funnel.blockers.map((b) => [b.key, b.code])).toEqual([
      ['b', 'CONSUMER_NOT_SEEN'],
      ['b', 'CONSUMER_NOT_SEEN'],
      ['b', 'CONFIRMATION_REQUIRED'],
      ['c', 'CONSUMER_NOT_SEEN'],
      ['c', 'CONFIRMATION_REQUIRED'],
    ]);
  });
});

describe.each(TARGETS)('two operators advancing one key at once on $name', (target) => {
  let fresh: FreshTarget;
  const stores: Store[] = [];

  beforeAll(async () => {
    fresh = await target.fresh();
  });
  afterAll(async () => {
    for (const s of stores) await s.close();
    await fresh.cleanup();
  });

  it('exactly one succeeds; the other gets STATIC_KEY_CONFLICT', async () => {
    // PostgreSQL: two pools, as two broker processes. SQLite: one connection shared (its
    // driver is synchronous, so a second connection in this process would block the
    // event loop on the first one's write lock); both still read before either writes.
    const a = await openStore(fresh.target);
    const b = target.name === 'sqlite' ? a : await openStore(fresh.target);
    stores.push(...new Set([a, b]));
    const evidence = new FakeEvidence();
    let arrived = 0;
    let release: () => void = () => {};
    const barrier = new Promise<void>((r) => {
      release = r;
    });
    const hooks = {
      afterGates: async () => {
        arrived++;
        if (arrived === 2) release();
        await barrier;
      },
    };
    const ledgerA = new StaticKeyLedger({ store: a, evidence, hooks });
    const ledgerB = new StaticKeyLedger({ store: b, evidence, hooks });
    await ledgerA.add({ name: 'shared', location: 'external', owner: 'o', consumers: [WEB] });
    const results = await Promise.allSettled([
      ledgerA.advance('shared', { by: 'alice' }),
      ledgerB.advance('shared', { by: 'bob' }),
    ]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(1);
    expect(failed[0]?.reason).toMatchObject({ code: 'STATIC_KEY_CONFLICT', category: 'conflict' });
    expect(String((failed[0]?.reason as Error | undefined)?.message)).toContain('changed by someone else');
    const history = await ledgerA.history('shared');
    expect(history.filter((t) => t.kind === 'advance')).toHaveLength(1);
    expect((await ledgerA.show('shared')).version).toBe(2);
  });
});
