/**
 * The group-commit writer lays rows out field by field (for speed); each layout's values
 * must come in its columns' order, and an audit record laid out as a row must read back
 * through `auditFromRow` as itself.
 * (Rows reaching the store and being read back on both databases is proven by the
 * sweeper and static-key evidence tests.)
 */
import { describe, expect, it } from 'vitest';
import { type AuditRecord, auditFromRow } from '../../src/credential-broker/audit.js';
import type { BrokerAuditTable } from '../../src/credential-broker/schema.js';
import { AUDITS, LEASES, type RowLayout, SIGHTINGS } from '../../src/credential-broker/writer.js';

/** A row whose every field holds a value unique to that field. */
function distinct<R>(layout: RowLayout<R>): R {
  return Object.fromEntries(layout.columns.map((c) => [c, `value of ${c}`])) as R;
}

describe('writer row layouts', () => {
  it.each([
    ['broker_leases', LEASES as RowLayout<unknown>],
    ['broker_credential_sightings', SIGHTINGS as RowLayout<unknown>],
  ])('%s: values come in the order of the columns', (_table, layout) => {
    expect(layout.values(distinct(layout))).toEqual(layout.columns.map((c) => `value of ${c}`));
    expect(new Set(layout.columns).size).toBe(layout.columns.length);
  });

  it('broker_audit: a record laid out as a row reads back as the same record', () => {
    const full: AuditRecord = {
      id: 'aud_1',
      at: '2026-11-23T00:00:00.000Z',
      instance: 'broker-1',
      requestId: 'req-1',
      action: 'exchange',
      decision: 'allow',
      code: 'ALLOWED',
      reason: 'rule web',
      status: 200,
      spiffeId: 'spiffe://example.org/web',
      presentedIdentity: 'web.shop.serviceaccount.identity.linkerd.cluster.local',
      authMethod: 'jwt',
      issuerKind: 'spire',
      issuerFingerprint: 'sha256:ab',
      credential: 'orders-db',
      policyVersion: 'v1',
      policyRule: 'web',
      leaseId: 'lse_1',
      reference: 'ephemeral:password:hmac',
      ttlSeconds: 300,
      purpose: 'nightly',
      actor: { sub: 'alice', verified: false, type: 'urn:ietf:params:oauth:token-type:jwt' },
      clientAddress: '127.0.0.1',
    };
    const sparse: AuditRecord = {
      id: 'aud_2',
      at: full.at,
      instance: 'broker-1',
      action: 'issue',
      decision: 'deny',
      code: 'POLICY_DENIED',
      reason: 'no rule',
      status: 403,
    };
    expect(new Set(AUDITS.columns).size).toBe(AUDITS.columns.length);
    for (const record of [full, sparse]) {
      const values = AUDITS.values(record);
      expect(values).not.toContain(undefined);
      const row = Object.fromEntries(
        AUDITS.columns.map((c, i) => [c, values[i]]),
      ) as unknown as BrokerAuditTable;
      expect(auditFromRow(row)).toEqual(record);
    }
  });
});
