import { describe, expect, it } from 'vitest';
import {
  type KeySighting,
  nextStep,
  type StaticKey,
  type StaticLease,
} from '../../../src/credential-broker/static-keys/index.js';

const now = new Date('2026-03-10T12:00:00.000Z');
const ago = (days: number) => new Date(now.getTime() - days * 86_400_000);
const WEB = 'spiffe://example.org/ns/shop/sa/web';
const WORKER = 'spiffe://example.org/ns/shop/sa/worker';
const BATCH = 'spiffe://example.org/ns/batch/sa/**';

function key(over: Partial<StaticKey> = {}): StaticKey {
  return {
    name: 'orders-db',
    credential: 'orders-db',
    location: { kind: 'aws', secretId: 'prod/orders-db' },
    owner: 'payments',
    state: 'brokered',
    version: 3,
    consumers: [WEB, WORKER, BATCH],
    windowSeconds: 7 * 86_400,
    quietSeconds: 7 * 86_400,
    restoreSeconds: 30 * 86_400,
    backendReference: 'arn:aws:secretsmanager:us-east-1:123:secret:prod/orders-db-AbCdEf',
    currentVersion: 'v1',
    previousVersion: null,
    replacedAt: null,
    stateSince: ago(20),
    createdAt: ago(30),
    updatedAt: ago(20),
    ...over,
  };
}

function seen(spiffeId: string, days: number, decision: 'allow' | 'deny' = 'allow'): KeySighting {
  const at = ago(days);
  return {
    spiffeId,
    lastSeen: at,
    lastAllowed: decision === 'allow' ? at : null,
    lastDenied: decision === 'deny' ? at : null,
    allowedCount: decision === 'allow' ? 1 : 0,
    deniedCount: decision === 'deny' ? 1 : 0,
  };
}

function lease(spiffeId: string, days: number): StaticLease {
  const at = ago(days);
  return {
    leaseId: `lse_${spiffeId.length}_${days}`,
    spiffeId,
    credential: 'orders-db',
    reference: 'arn#v1',
    issuedAt: at,
    expiresAt: new Date(at.getTime() + 300_000),
  };
}

describe('brokered -> rotated', () => {
  it('names each expected consumer not seen within the window, and only those', () => {
    const step = nextStep({
      key: key(),
      now,
      sightings: [seen(WEB, 1), seen(WORKER, 9), seen('spiffe://example.org/ns/batch/sa/nightly', 2)],
      staticLeases: [],
      journal: null,
    });
    expect(step.state).toBe('rotated');
    expect(step.ready).toBe(false);
    expect(step.blockers.map((b) => [b.code, b.consumer])).toEqual([['CONSUMER_NOT_SEEN', WORKER]]);
    expect(step.blockers[0]?.message).toContain('within 7d');
    const gates = Object.fromEntries(step.gates.map((g) => [g.name, g.ok]));
    expect(gates).toEqual({
      'no-interrupted-operation': true,
      'consumers-fetched-through-broker': false,
      'no-unexpected-callers': true,
      'operator-confirmed': true,
    });
  });

  it('a consumer that never fetched is named as never seen', () => {
    const step = nextStep({ key: key(), now, sightings: [seen(WEB, 1)], staticLeases: [], journal: null });
    const worker = step.blockers.find((b) => b.consumer === WORKER);
    expect(worker?.message).toContain('has never fetched orders-db');
    expect(step.blockers.map((b) => b.consumer)).toEqual([WORKER, BATCH]);
  });

  it('names an unexpected SPIFFE ID that asked in the window, allowed or denied; old ones do not count', () => {
    const intruder = 'spiffe://example.org/ns/shop/sa/intruder';
    const stranger = 'spiffe://other.org/ns/x/sa/y';
    const step = nextStep({
      key: key(),
      now,
      sightings: [
        seen(WEB, 1),
        seen(WORKER, 1),
        seen('spiffe://example.org/ns/batch/sa/nightly', 1),
        seen(intruder, 2, 'deny'),
        seen(stranger, 3),
        seen('spiffe://example.org/ns/old/sa/gone', 30, 'deny'),
      ],
      staticLeases: [],
      journal: null,
    });
    expect(step.blockers.map((b) => [b.code, b.spiffeId])).toEqual([
      ['UNEXPECTED_CALLER', intruder],
      ['UNEXPECTED_CALLER', stranger],
    ]);
    expect(step.blockers[0]).toMatchObject({ denied: 1, allowed: 0 });
  });

  it('is ready when every consumer fetched within the window and nobody else asked', () => {
    const step = nextStep({
      key: key(),
      now,
      sightings: [seen(WEB, 1), seen(WORKER, 6), seen('spiffe://example.org/ns/batch/sa/a/b', 0)],
      staticLeases: [],
      journal: null,
    });
    expect(step).toMatchObject({ state: 'rotated', ready: true, blockers: [] });
  });

  it('an external key also needs the operator to confirm', () => {
    const ext = key({ location: { kind: 'external', note: 'FTP appliance' }, consumers: [WEB] });
    const input = { key: ext, now, sightings: [seen(WEB, 1)], staticLeases: [], journal: null };
    expect(nextStep(input).blockers.map((b) => b.code)).toEqual(['CONFIRMATION_REQUIRED']);
    expect(nextStep({ ...input, confirmed: true }).ready).toBe(true);
  });

  it('an interrupted operation blocks every step', () => {
    const step = nextStep({
      key: key(),
      now,
      sightings: [seen(WEB, 1), seen(WORKER, 1), seen('spiffe://example.org/ns/batch/sa/x', 1)],
      staticLeases: [],
      journal: {
        operation: 'rotate',
        fromState: 'brokered',
        toState: 'rotated',
        keyVersion: 3,
        backendFromVersion: 'v1',
        backendTargetVersion: null,
        startedAt: ago(1),
        by: 'alice',
        reason: null,
        evidence: null,
      },
    });
    expect(step.blockers.map((b) => b.code)).toEqual(['OPERATION_INTERRUPTED']);
    expect(step.blockers[0]?.message).toContain('meshbridge keys recover orders-db');
  });
});

describe('rotated -> short-lived', () => {
  it('names each SPIFFE ID that got a lease of the static value within the window', () => {
    const step = nextStep({
      key: key({ state: 'rotated', stateSince: ago(10) }),
      now,
      sightings: [],
      staticLeases: [lease(WEB, 1), lease(WEB, 2), lease(WORKER, 8)],
      journal: null,
    });
    expect(step.state).toBe('short-lived');
    expect(step.blockers).toMatchObject([{ code: 'STATIC_LEASE_ISSUED', spiffeId: WEB, leases: 2 }]);
  });

  it('passes when the last static lease is older than the window', () => {
    const step = nextStep({
      key: key({ state: 'rotated', stateSince: ago(10) }),
      now,
      sightings: [],
      staticLeases: [lease(WORKER, 8)],
      journal: null,
    });
    expect(step.ready).toBe(true);
  });
});

describe('short-lived -> retired', () => {
  it('waits for the quiet period, then names whoever asked since', () => {
    const early = nextStep({
      key: key({ state: 'short-lived', stateSince: ago(3) }),
      now,
      sightings: [seen(WORKER, 1, 'deny')],
      staticLeases: [],
      journal: null,
    });
    expect(early.blockers.map((b) => b.code)).toEqual(['QUIET_PERIOD_NOT_OVER', 'ASKED_DURING_QUIET_PERIOD']);
    expect(early.blockers[0]?.until).toBe(new Date(ago(3).getTime() + 7 * 86_400_000).toISOString());
    const later = nextStep({
      key: key({ state: 'short-lived', stateSince: ago(8) }),
      now,
      sightings: [seen(WORKER, 9)],
      staticLeases: [],
      journal: null,
    });
    expect(later.ready).toBe(true);
  });

  it('retired has no next step', () => {
    expect(
      nextStep({ key: key({ state: 'retired' }), now, sightings: [], staticLeases: [], journal: null }),
    ).toEqual({ state: null, ready: false, blockers: [], gates: [] });
  });
});
