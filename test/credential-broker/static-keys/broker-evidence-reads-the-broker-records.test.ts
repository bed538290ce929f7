/**
 * `brokerEvidence` reads what the broker records (migrations/0006): sightings per
 * credential and SPIFFE ID, denials only the audit records carry, and leases of the
 * static value — under the key's credential name or naming its secret by reference.
 * Rows are written through the broker's own group-commit writer.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newAuditId } from '../../../src/credential-broker/audit.js';
import { newLeaseId } from '../../../src/credential-broker/leases.js';
import { brokerEvidence } from '../../../src/credential-broker/static-keys/index.js';
import { BatchWriter, type NewLease } from '../../../src/credential-broker/writer.js';
import { openStore, type Store } from '../../../src/store/index.js';
import { type FreshTarget, PG_SKIPPED, TARGETS } from '../../store/targets.js';

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/orders-db-AbCdEf';
const WEB = 'spiffe://example.org/ns/shop/sa/web';
const OLD = 'spiffe://example.org/ns/legacy/sa/cron';
const T = (h: number) => new Date(Date.UTC(2026, 2, 1, h)).toISOString();

function lease(spiffeId: string, credential: string, reference: string, at: string): NewLease {
  return {
    id: newLeaseId(),
    spiffe_id: spiffeId,
    auth_method: 'jwt' as const,
    issuer_kind: 'spire',
    issuer_fingerprint: 'ff',
    credential,
    backend: 'aws',
    backend_lease_id: null,
    reference,
    policy_version: 'p@1',
    purpose: null,
    issued_at: at,
    expires_at: new Date(Date.parse(at) + 300_000).toISOString(),
  };
}

if (PG_SKIPPED !== null) {
  describe.skip(`broker evidence on postgres — SKIPPED: ${PG_SKIPPED}`, () => {
    it('needs a PostgreSQL server', () => {});
  });
}

describe.each(TARGETS)('broker evidence on $name', (target) => {
  let fresh: FreshTarget;
  let store: Store;

  beforeEach(async () => {
    fresh = await target.fresh();
    store = await openStore(fresh.target);
    const writer = new BatchWriter(store);
    await writer.write({
      sightings: [
        { credential: 'orders-db', spiffeId: WEB, at: T(1), decision: 'allow', issuerKind: 'spire' },
        { credential: 'orders-db', spiffeId: WEB, at: T(5), decision: 'allow', issuerKind: 'spire' },
        { credential: 'orders-db', spiffeId: WEB, at: T(6), decision: 'deny' },
        { credential: 'other', spiffeId: OLD, at: T(7), decision: 'allow' },
      ],
      leases: [
        lease(WEB, 'orders-db', `${ARN}#v1`, T(1)),
        lease(WEB, 'orders-db', `${ARN}#v1`, T(5)),
        // Same secret, served under another credential name: still the static value.
        lease(OLD, 'orders-db-legacy', `${ARN}#v1`, T(4)),
        // A secret whose name merely starts the same way is another secret.
        lease(OLD, 'x', `${ARN}2#v1`, T(4)),
      ],
      // The policy no longer names the credential: the broker audits the denial, no sighting.
      audits: [
        {
          id: newAuditId(),
          at: T(8),
          instance: 'b1',
          action: 'issue',
          decision: 'deny',
          code: 'CREDENTIAL_NOT_FOUND',
          reason: 'no such credential',
          status: 404,
          spiffeId: OLD,
          credential: 'orders-db',
        },
      ],
    });
  });

  afterEach(async () => {
    await store.close();
    await fresh.cleanup();
  });

  it('sightings: allowed and denied per SPIFFE ID, plus audit-only denials, since a time', async () => {
    const evidence = brokerEvidence(store);
    const all = await evidence.sightings({ credential: 'orders-db', since: new Date(0) });
    expect(all).toEqual([
      {
        spiffeId: OLD,
        lastSeen: new Date(T(8)),
        lastAllowed: null,
        lastDenied: new Date(T(8)),
        allowedCount: 0,
        deniedCount: 1,
      },
      {
        spiffeId: WEB,
        lastSeen: new Date(T(6)),
        lastAllowed: new Date(T(5)),
        lastDenied: new Date(T(6)),
        allowedCount: 2,
        deniedCount: 1,
      },
    ]);
    const late = await evidence.sightings({ credential: 'orders-db', since: new Date(T(7)) });
    expect(late.map((s) => s.spiffeId)).toEqual([OLD]);
  });

  it('static leases: by credential or by the secret reference, newest first', async () => {
    const evidence = brokerEvidence(store);
    const byName = await evidence.staticLeases({ credential: 'orders-db', since: new Date(0) });
    expect(byName.map((l) => [l.spiffeId, l.issuedAt.toISOString()])).toEqual([
      [WEB, T(5)],
      [WEB, T(1)],
    ]);
    const byRef = await evidence.staticLeases({
      credential: 'orders-db',
      reference: ARN,
      since: new Date(T(2)),
    });
    expect(byRef.map((l) => [l.credential, l.issuedAt.toISOString()])).toEqual([
      ['orders-db', T(5)],
      ['orders-db-legacy', T(4)],
    ]);
  });
});
