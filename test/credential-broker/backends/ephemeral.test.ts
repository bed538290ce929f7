import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type BackendError,
  createBackend,
  decodeEphemeralKey,
  EphemeralBackend,
  type IssueRequest,
  signEphemeralToken,
  verifyEphemeralToken,
} from '../../../src/credential-broker/backends/index.js';

const T0 = new Date('2026-03-01T12:00:00Z');

function fixedClock(start = T0) {
  let now = start.getTime();
  return {
    clock: () => new Date(now),
    advance: (seconds: number) => {
      now += seconds * 1000;
    },
  };
}

const subject = 'spiffe://example.org/ns/shop/sa/web';

function request(spec: IssueRequest['spec'], ttlSeconds = 300): IssueRequest {
  return { credential: 'orders-db', spec, subject, ttlSeconds };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as BackendError).code;
  }
  return undefined;
}

describe('ephemeral passwords and API keys', () => {
  it('mints a password with every character class, a username if asked, and the granted TTL', async () => {
    const { clock } = fixedClock();
    const backend = new EphemeralBackend({ clock });
    const issued = await backend.issue(
      request({ type: 'ephemeral', kind: 'password', length: 40, username: 'orders' }, 600),
    );
    const password = issued.secret.password as string;
    expect(password).toHaveLength(40);
    expect(password).toMatch(/[a-z]/);
    expect(password).toMatch(/[A-Z]/);
    expect(password).toMatch(/[0-9]/);
    expect(password).toMatch(/[^A-Za-z0-9]/);
    expect(issued.secret.username).toBe('orders');
    expect(issued.expiresAt.getTime()).toBe(T0.getTime() + 600_000);
    expect(issued.backendLeaseId).toMatch(/^eph_/);
    expect(issued.reference).toMatch(/^ephemeral:password:hmac-sha256:/);
    expect(issued.reference).not.toContain(password);
  });

  it('mints distinct values on every request', async () => {
    const backend = new EphemeralBackend();
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const issued = await backend.issue(request({ type: 'ephemeral', kind: 'password', symbols: false }));
      expect(issued.secret.password).toMatch(/^[A-Za-z0-9]{32}$/);
      seen.add(issued.secret.password as string);
    }
    expect(seen.size).toBe(200);
  });

  it('mints API keys with a scanner-friendly prefix', async () => {
    const backend = new EphemeralBackend();
    const issued = await backend.issue(
      request({ type: 'ephemeral', kind: 'api-key', prefix: 'shop_', length: 30 }),
    );
    expect(issued.secret.api_key).toMatch(/^shop_[A-Za-z0-9]{30}$/);
    const dflt = await backend.issue(request({ type: 'ephemeral', kind: 'api-key' }));
    expect(dflt.secret.api_key).toMatch(/^mbk_[A-Za-z0-9]{40}$/);
  });

  it('checks a minted value: active, then revoked; another one active, then expired at its TTL', async () => {
    const { clock, advance } = fixedClock();
    const backend = new EphemeralBackend({ clock });
    const a = await backend.issue(request({ type: 'ephemeral', kind: 'api-key' }, 60));
    const b = await backend.issue(request({ type: 'ephemeral', kind: 'password' }, 60));
    expect(backend.checkValue(a.secret.api_key as string)).toMatchObject({ status: 'active', subject });
    await backend.revoke(a.backendLeaseId as string);
    await backend.revoke(a.backendLeaseId as string);
    expect(backend.checkValue(a.secret.api_key as string).status).toBe('revoked');
    advance(59);
    expect(backend.checkValue(b.secret.password as string).status).toBe('active');
    advance(1);
    expect(backend.checkValue(b.secret.password as string).status).toBe('expired');
    expect(backend.checkValue('never-minted-here').status).toBe('unknown');
  });

  it('remembers only the newest `remember` values for checks, but never forgets a revocation early', async () => {
    const { clock } = fixedClock();
    const backend = new EphemeralBackend({ clock, remember: 3 });
    const minted = [];
    for (let i = 0; i < 5; i++)
      minted.push(await backend.issue(request({ type: 'ephemeral', kind: 'api-key' }, 600)));
    const first = minted[0]!;
    await backend.revoke(first.backendLeaseId as string);
    const statuses = minted.map((m) => backend.checkValue(m.secret.api_key as string).status);
    expect(statuses).toEqual(['unknown', 'unknown', 'active', 'active', 'active']);
    // Forgotten by the value index, the revocation still holds for the id until its expiry.
    expect(backend.isRevoked(first.backendLeaseId as string)).toBe(true);
  });

  it.each([
    ['zero', 0],
    ['negative', -5],
    ['fractional', 1.5],
  ])('refuses a %s TTL', async (_name, ttl) => {
    const backend = new EphemeralBackend();
    await expect(backend.issue(request({ type: 'ephemeral', kind: 'password' }, ttl))).rejects.toMatchObject({
      code: 'BACKEND_SPEC_INVALID',
    });
  });

  it('refuses a spec meant for another backend', async () => {
    const backend = new EphemeralBackend();
    await expect(
      backend.issue(request({ type: 'vault', kind: 'database', role: 'orders' })),
    ).rejects.toMatchObject({
      code: 'BACKEND_SPEC_INVALID',
    });
  });

  it('is always healthy', async () => {
    expect(await new EphemeralBackend().health()).toMatchObject({ ok: true, status: 'up' });
  });
});

describe('ephemeral signed tokens', () => {
  const key = randomBytes(32);

  it('verify downstream with the key: subject, credential, expiry', async () => {
    const { clock } = fixedClock();
    const backend = new EphemeralBackend({ clock, signingKey: key, keyId: 'k1' });
    const issued = await backend.issue(
      request({ type: 'ephemeral', kind: 'token', audience: 'orders-api' }, 120),
    );
    const token = issued.secret.token as string;
    expect(token).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const claims = verifyEphemeralToken(token, key, clock, { audience: 'orders-api' });
    expect(claims).toMatchObject({ v: 1, sub: subject, cred: 'orders-db', aud: 'orders-api', kid: 'k1' });
    expect(claims.exp - claims.iat).toBe(120);
    expect(issued.expiresAt.getTime()).toBe(claims.exp * 1000);
    expect(issued.backendLeaseId).toBe(claims.jti);
    expect(issued.reference).toBe(`ephemeral:token:${claims.jti}`);
  });

  it('expire at exp: valid one second before, refused at it', async () => {
    const { clock, advance } = fixedClock();
    const backend = new EphemeralBackend({ clock, signingKey: key });
    const token = (await backend.issue(request({ type: 'ephemeral', kind: 'token' }, 30))).secret
      .token as string;
    advance(29);
    expect(verifyEphemeralToken(token, key, clock).sub).toBe(subject);
    advance(1);
    expect(codeOf(() => verifyEphemeralToken(token, key, clock))).toBe('EPHEMERAL_TOKEN_EXPIRED');
    expect(verifyEphemeralToken(token, key, clock, { leewaySeconds: 5 }).sub).toBe(subject);
  });

  it('are refused by the backend once revoked (downstream checkers without the list still see a valid MAC)', async () => {
    const { clock } = fixedClock();
    const backend = new EphemeralBackend({ clock, signingKey: key });
    const issued = await backend.issue(request({ type: 'ephemeral', kind: 'token' }, 30));
    const token = issued.secret.token as string;
    expect(backend.verifyToken(token).jti).toBe(issued.backendLeaseId);
    await backend.revoke(issued.backendLeaseId as string);
    expect(codeOf(() => backend.verifyToken(token))).toBe('EPHEMERAL_TOKEN_REVOKED');
    expect(backend.isRevoked(issued.backendLeaseId as string)).toBe(true);
  });

  it('hold a revocation exactly until the credential expires (the id carries its expiry); unknown ids for maxTtl', async () => {
    const { clock, advance } = fixedClock();
    const backend = new EphemeralBackend({ clock, signingKey: key, maxTtlSeconds: 3600 });
    const password = await backend.issue(request({ type: 'ephemeral', kind: 'password' }, 60));
    const token = await backend.issue(request({ type: 'ephemeral', kind: 'token' }, 120));
    for (const issued of [password, token]) await backend.revoke(issued.backendLeaseId as string);
    await backend.revoke('minted-by-another-version');
    advance(59);
    expect(backend.isRevoked(password.backendLeaseId as string)).toBe(true);
    advance(1);
    expect(backend.isRevoked(password.backendLeaseId as string)).toBe(false); // expired anyway
    expect(backend.isRevoked(token.backendLeaseId as string)).toBe(true);
    advance(60);
    expect(backend.isRevoked(token.backendLeaseId as string)).toBe(false);
    expect(backend.isRevoked('minted-by-another-version')).toBe(true);
    advance(3600);
    expect(backend.isRevoked('minted-by-another-version')).toBe(false);
  });

  const { clock } = fixedClock();
  const good = signEphemeralToken(
    { v: 1, sub: subject, cred: 'c', iat: T0.getTime() / 1000, exp: T0.getTime() / 1000 + 60, jti: 'j' },
    key,
  );
  const [, payload, mac] = good.split('.') as [string, string, string];
  const forged = Buffer.from(
    JSON.stringify({ v: 1, sub: 'spiffe://evil/x', cred: 'c', iat: 1, exp: 9e9, jti: 'j' }),
  );
  it.each([
    ['another key', good, randomBytes(32), 'EPHEMERAL_TOKEN_SIGNATURE_INVALID'],
    [
      'a swapped payload',
      `v1.${forged.toString('base64url')}.${mac}`,
      key,
      'EPHEMERAL_TOKEN_SIGNATURE_INVALID',
    ],
    ['a truncated MAC', `v1.${payload}.${mac.slice(0, 10)}`, key, 'EPHEMERAL_TOKEN_SIGNATURE_INVALID'],
    ['another version prefix', `v2.${payload}.${mac}`, key, 'EPHEMERAL_TOKEN_MALFORMED'],
    ['two parts', `v1.${payload}`, key, 'EPHEMERAL_TOKEN_MALFORMED'],
    ['non-base64url characters', `v1.${payload}!.${mac}`, key, 'EPHEMERAL_TOKEN_MALFORMED'],
    ['an empty string', '', key, 'EPHEMERAL_TOKEN_MALFORMED'],
  ])('are refused with %s', (_name, token, k, code) => {
    expect(codeOf(() => verifyEphemeralToken(token, k, clock))).toBe(code);
  });

  it('are refused for the wrong audience', () => {
    expect(codeOf(() => verifyEphemeralToken(good, key, clock, { audience: 'billing' }))).toBe(
      'EPHEMERAL_TOKEN_AUDIENCE_MISMATCH',
    );
  });

  it('verify with the key configured as base64 in the backend config', async () => {
    const text = randomBytes(32).toString('base64');
    const { clock: c } = fixedClock();
    const backend = createBackend({ type: 'ephemeral', signingKey: text }, { clock: c });
    const token = (await backend.issue(request({ type: 'ephemeral', kind: 'token' }))).secret.token as string;
    expect(verifyEphemeralToken(token, decodeEphemeralKey(text), c).sub).toBe(subject);
    expect(() => decodeEphemeralKey(randomBytes(16).toString('base64'))).toThrow(/at least 32 bytes/);
  });
});
