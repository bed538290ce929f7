/**
 * What the retirement gates need to know about a key's use, behind one narrow
 * interface: who asked the broker for it (allowed or denied) and which leases of the
 * static value it issued. `brokerEvidence` reads the broker's own records
 * (migrations/0006_broker.sql): `broker_credential_sightings` (per credential and SPIFFE
 * ID: last seen, last allowed, last denied), `broker_audit` (denials the sightings do not
 * carry, e.g. a credential the policy no longer names) and `broker_leases`.
 */
import { sql } from 'kysely';
import type { Store } from '../../store/index.js';
import { ledgerDb } from './schema.js';

/** Everything one SPIFFE ID did with a credential, as far as the evidence goes. */
export interface KeySighting {
  spiffeId: string;
  /** Last request, allowed or denied. */
  lastSeen: Date;
  /** Last request the broker answered with the credential (a fetch). */
  lastAllowed: Date | null;
  lastDenied: Date | null;
  allowedCount: number;
  deniedCount: number;
}

/** A lease the broker issued of the static value (the key's credential or its secret). */
export interface StaticLease {
  leaseId: string;
  spiffeId: string;
  credential: string;
  /** Non-secret name of what was issued (ARN#version, vault:...#vN). */
  reference: string;
  issuedAt: Date;
  expiresAt: Date;
}

export interface EvidenceQuery {
  /** The broker credential (policy name) consumers fetch the key as. */
  credential: string;
  /**
   * Non-secret name of the key's secret downstream (an ARN, `vault:<mount>/data/<path>`):
   * leases whose reference names a version of it count as leases of the static value
   * even when issued under another credential name.
   */
  reference?: string | null;
  /** Only what happened at or after this instant. */
  since: Date;
}

export interface KeyEvidenceSource {
  /** One entry per SPIFFE ID that asked for the credential (allowed or denied) since `since`. */
  sightings(query: EvidenceQuery): Promise<KeySighting[]>;
  /** Leases of the static value issued since `since`, newest first. */
  staticLeases(query: EvidenceQuery): Promise<StaticLease[]>;
}

const MAX_LEASES = 1000;

/** The evidence the broker records in the store it shares with the ledger. */
export function brokerEvidence(store: Store): KeyEvidenceSource {
  const db = ledgerDb(store);
  return {
    async sightings(q) {
      const since = q.since.toISOString();
      const rows = await db
        .selectFrom('broker_credential_sightings')
        .selectAll()
        .where('credential', '=', q.credential)
        .where('last_seen', '>=', since)
        .execute();
      const out = new Map<string, KeySighting>();
      for (const r of rows)
        out.set(r.spiffe_id, {
          spiffeId: r.spiffe_id,
          lastSeen: new Date(r.last_seen),
          lastAllowed: r.last_allowed === null ? null : new Date(r.last_allowed),
          lastDenied: r.last_denied === null ? null : new Date(r.last_denied),
          allowedCount: Number(r.allowed_count),
          deniedCount: Number(r.denied_count),
        });
      // Denials the sightings table does not carry (e.g. CREDENTIAL_NOT_FOUND once the
      // policy dropped the credential) are in the audit records.
      const denials = await db
        .selectFrom('broker_audit')
        .select(['spiffe_id', sql<string>`MAX(at)`.as('last'), sql<number>`COUNT(*)`.as('n')])
        .where('credential', '=', q.credential)
        .where('decision', '<>', 'allow')
        .where('spiffe_id', 'is not', null)
        .where('at', '>=', since)
        .groupBy('spiffe_id')
        .execute();
      for (const d of denials) {
        const id = d.spiffe_id as string;
        const last = new Date(d.last);
        const known = out.get(id);
        if (known === undefined) {
          out.set(id, {
            spiffeId: id,
            lastSeen: last,
            lastAllowed: null,
            lastDenied: last,
            allowedCount: 0,
            deniedCount: Number(d.n),
          });
        } else {
          if (last > known.lastSeen) known.lastSeen = last;
          if (known.lastDenied === null || last > known.lastDenied) known.lastDenied = last;
          known.deniedCount = Math.max(known.deniedCount, Number(d.n));
        }
      }
      return [...out.values()].sort((a, b) => (a.spiffeId < b.spiffeId ? -1 : 1));
    },

    async staticLeases(q) {
      const reference = q.reference ?? null;
      const prefix = reference === null ? null : `${reference}#`;
      const rows = await db
        .selectFrom('broker_leases')
        .select(['id', 'spiffe_id', 'credential', 'reference', 'issued_at', 'expires_at'])
        .where('issued_at', '>=', q.since.toISOString())
        .where((eb) =>
          prefix === null
            ? eb('credential', '=', q.credential)
            : eb.or([
                eb('credential', '=', q.credential),
                eb(sql<string>`substr(reference, 1, ${prefix.length})`, '=', prefix),
              ]),
        )
        .orderBy('issued_at', 'desc')
        .limit(MAX_LEASES)
        .execute();
      return rows.map((r) => ({
        leaseId: r.id,
        spiffeId: r.spiffe_id,
        credential: r.credential,
        reference: r.reference,
        issuedAt: new Date(r.issued_at),
        expiresAt: new Date(r.expires_at),
      }));
    },
  };
}
