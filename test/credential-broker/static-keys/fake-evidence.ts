/**
 * In-memory `KeyEvidenceSource` for ledger tests that do not need the broker: record
 * what the broker would have seen (a fetch, a denial, a lease) at a chosen instant.
 */
import type {
  EvidenceQuery,
  KeyEvidenceSource,
  KeySighting,
  StaticLease,
} from '../../../src/credential-broker/static-keys/index.js';

interface Event {
  credential: string;
  spiffeId: string;
  at: Date;
  decision: 'allow' | 'deny';
}

export class FakeEvidence implements KeyEvidenceSource {
  readonly events: Event[] = [];
  readonly leases: StaticLease[] = [];
  private n = 0;

  fetched(credential: string, spiffeId: string, at: Date): this {
    this.events.push({ credential, spiffeId, at, decision: 'allow' });
    this.leases.push({
      leaseId: `lse_fake${++this.n}`,
      spiffeId,
      credential,
      reference: `fake:${credential}#v1`,
      issuedAt: at,
      expiresAt: new Date(at.getTime() + 300_000),
    });
    return this;
  }

  denied(credential: string, spiffeId: string, at: Date): this {
    this.events.push({ credential, spiffeId, at, decision: 'deny' });
    return this;
  }

  async sightings(q: EvidenceQuery): Promise<KeySighting[]> {
    const byId = new Map<string, KeySighting>();
    for (const e of this.events) {
      if (e.credential !== q.credential || e.at < q.since) continue;
      const s = byId.get(e.spiffeId) ?? {
        spiffeId: e.spiffeId,
        lastSeen: e.at,
        lastAllowed: null,
        lastDenied: null,
        allowedCount: 0,
        deniedCount: 0,
      };
      if (e.at > s.lastSeen) s.lastSeen = e.at;
      if (e.decision === 'allow') {
        s.allowedCount++;
        if (s.lastAllowed === null || e.at > s.lastAllowed) s.lastAllowed = e.at;
      } else {
        s.deniedCount++;
        if (s.lastDenied === null || e.at > s.lastDenied) s.lastDenied = e.at;
      }
      byId.set(e.spiffeId, s);
    }
    return [...byId.values()];
  }

  async staticLeases(q: EvidenceQuery): Promise<StaticLease[]> {
    return this.leases
      .filter((l) => l.credential === q.credential && l.issuedAt >= q.since)
      .sort((a, b) => b.issuedAt.getTime() - a.issuedAt.getTime());
  }
}

/** A clock tests move by hand. */
export class TestClock {
  constructor(public now: Date) {}
  readonly fn = (): Date => this.now;
  advance(seconds: number): Date {
    this.now = new Date(this.now.getTime() + seconds * 1000);
    return this.now;
  }
}

export const DAY = 86_400;
