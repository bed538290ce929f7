import { describe, expect, it } from 'vitest';
import { compilePolicy, evaluate, obtainable } from '../../../src/credential-broker/policy/index.js';
import { SpiffeId } from '../../../src/spiffe/spiffeid/index.js';

const policy = compilePolicy(
  `
version: "7"
defaults: { ttl: 2m, maxTtl: 30m }
credentials:
  db: { spec: { type: ephemeral, kind: password }, ttl: 5m, maxTtl: 20m }
  key: { spec: { type: ephemeral, kind: api-key } }
  batch: { spec: { type: ephemeral, kind: token } }
rules:
  - name: exact
    subjects: [spiffe://example.org/ns/shop/sa/web]
    credentials: [db]
    maxTtl: 10m
  - name: trust-domain
    subjects: [spiffe://partner.org]
    credentials: [key]
  - name: glob
    subjects: ["spiffe://example.org/ns/*/sa/reporter", "spiffe://example.org/jobs/**"]
    credentials: [key]
  - name: cut-over
    subjects: ["spiffe://cluster.local/ns/payments/**"]
    credentials: [db]
    issuer: spire
  - name: office-hours
    subjects: [spiffe://example.org/ns/ops/sa/batch]
    credentials: [batch]
    purposes: [nightly-export, backfill]
    windows: [{ days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00", timeZone: Europe/Berlin }]
  - name: overnight
    subjects: [spiffe://example.org/ns/ops/sa/night]
    credentials: [batch]
    windows: [{ days: [fri], from: "22:00", to: "02:00" }]
  - name: temporary
    subjects: [spiffe://example.org/ns/ops/sa/contractor]
    credentials: [key]
    notAfter: 2026-06-30T00:00:00Z
`,
  'policy.yaml',
);

// 2026-03-02 is a Monday.
const MONDAY_NOON_BERLIN = new Date('2026-03-02T11:00:00Z');
const MONDAY_NIGHT_BERLIN = new Date('2026-03-02T20:00:00Z');

function ask(id: string, credential: string, extra: Partial<Parameters<typeof evaluate>[1]> = {}) {
  return evaluate(policy, { id, credential, issuer: 'spire', at: MONDAY_NOON_BERLIN, ...extra });
}

describe('evaluate', () => {
  it('allows by exact ID with the credential default TTL and names the rule and version', () => {
    const d = ask('spiffe://example.org/ns/shop/sa/web', 'db');
    expect(d).toMatchObject({ decision: 'allow', rule: 'exact', ttlSeconds: 300, capped: false });
    expect(d.policyVersion).toMatch(/^7@[0-9a-f]{12}$/);
  });

  it('caps the TTL at the smallest of credential and rule maximum', () => {
    expect(ask('spiffe://example.org/ns/shop/sa/web', 'db', { ttlSeconds: 3600 })).toMatchObject({
      decision: 'allow',
      ttlSeconds: 600,
      capped: true,
    });
    expect(ask('spiffe://partner.org/any/thing', 'key', { ttlSeconds: 7200 })).toMatchObject({
      ttlSeconds: 1800,
    });
    expect(ask('spiffe://partner.org/any/thing', 'key')).toMatchObject({ ttlSeconds: 120 });
  });

  it('denies by default, naming the reason', () => {
    expect(ask('spiffe://example.org/ns/shop/sa/intruder', 'db')).toMatchObject({
      decision: 'deny',
      code: 'POLICY_NO_RULE',
      status: 403,
    });
    expect(ask('spiffe://example.org/ns/shop/sa/web', 'key')).toMatchObject({ code: 'POLICY_NO_RULE' });
    expect(ask('spiffe://example.org/ns/shop/sa/web', 'nope')).toMatchObject({
      code: 'CREDENTIAL_NOT_FOUND',
      status: 404,
    });
  });

  it('matches a trust domain as every member, and never another trust domain', () => {
    expect(ask('spiffe://partner.org/svc', 'key').decision).toBe('allow');
    expect(ask('spiffe://partner.org.evil/svc', 'key').decision).toBe('deny');
  });

  it('matches globs per segment', () => {
    expect(ask('spiffe://example.org/ns/a/sa/reporter', 'key').decision).toBe('allow');
    expect(ask('spiffe://example.org/ns/a/b/sa/reporter', 'key').decision).toBe('deny');
    expect(ask('spiffe://example.org/jobs/x/y/z', 'key').decision).toBe('allow');
    expect(ask('spiffe://example.org/jobsx', 'key').decision).toBe('deny');
  });

  it('requires a SPIRE issuer once a scope has cut over', () => {
    expect(ask('spiffe://cluster.local/ns/payments/sa/api', 'db', { issuer: 'mesh' })).toMatchObject({
      decision: 'deny',
      code: 'POLICY_ISSUER_NOT_ALLOWED',
      rule: 'cut-over',
    });
    expect(ask('spiffe://cluster.local/ns/payments/sa/api', 'db', { issuer: 'spire' }).decision).toBe(
      'allow',
    );
  });

  it('checks purpose and time window', () => {
    const id = 'spiffe://example.org/ns/ops/sa/batch';
    expect(ask(id, 'batch')).toMatchObject({ code: 'POLICY_PURPOSE_REQUIRED' });
    expect(ask(id, 'batch', { purpose: 'fun' })).toMatchObject({ code: 'POLICY_PURPOSE_NOT_ALLOWED' });
    expect(ask(id, 'batch', { purpose: 'backfill' }).decision).toBe('allow');
    expect(ask(id, 'batch', { purpose: 'backfill', at: MONDAY_NIGHT_BERLIN })).toMatchObject({
      code: 'POLICY_OUTSIDE_WINDOW',
    });
    expect(ask(id, 'batch', { purpose: 'backfill', at: new Date('2026-03-07T11:00:00Z') })).toMatchObject({
      code: 'POLICY_OUTSIDE_WINDOW',
    });
  });

  it('reads a window spanning midnight from the day it opens', () => {
    const id = 'spiffe://example.org/ns/ops/sa/night';
    expect(ask(id, 'batch', { at: new Date('2026-03-06T23:00:00Z') }).decision).toBe('allow'); // Fri 23:00
    expect(ask(id, 'batch', { at: new Date('2026-03-07T01:30:00Z') }).decision).toBe('allow'); // Sat 01:30
    expect(ask(id, 'batch', { at: new Date('2026-03-07T23:00:00Z') }).decision).toBe('deny'); // Sat 23:00
    expect(ask(id, 'batch', { at: new Date('2026-03-06T21:00:00Z') }).decision).toBe('deny'); // Fri 21:00
  });

  it('ends a rule at notAfter', () => {
    const id = 'spiffe://example.org/ns/ops/sa/contractor';
    expect(ask(id, 'key', { at: new Date('2026-06-29T23:59:59Z') }).decision).toBe('allow');
    expect(ask(id, 'key', { at: new Date('2026-06-30T00:00:00Z') })).toMatchObject({
      code: 'POLICY_OUTSIDE_WINDOW',
    });
  });

  it('lists what an identity may obtain', () => {
    expect(obtainable(policy, SpiffeId.parse('spiffe://example.org/ns/shop/sa/web'), 'spire')).toMatchObject([
      { name: 'db', maxTtlSeconds: 600, defaultTtlSeconds: 300, timeLimited: false },
    ]);
    expect(obtainable(policy, SpiffeId.parse('spiffe://cluster.local/ns/payments/sa/api'), 'mesh')).toEqual(
      [],
    );
    expect(obtainable(policy, SpiffeId.parse('spiffe://example.org/ns/ops/sa/batch'), 'spire')).toMatchObject(
      [{ name: 'batch', purposes: ['backfill', 'nightly-export'], timeLimited: true }],
    );
  });
});
