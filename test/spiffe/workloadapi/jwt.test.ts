import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TrustDomain } from '../../../src/spiffe/spiffeid/index.js';
import { verifyJwtSvid } from '../../../src/spiffe/svid/jwtsvid/index.js';
import type { JwtBundleSet } from '../../../src/spiffe/workloadapi/bundleset.js';
import { WorkloadApiClient } from '../../../src/spiffe/workloadapi/client.js';
import { FakeWorkloadApi } from './fake-server.js';
import { javaJwks, jwksWithoutUse } from './payloads.js';
import { Recorder, until } from './recorder.js';

const FAST = { initialMs: 50, maxMs: 200, jitter: 0.1 };
const ME = 'spiffe://example.org/workload';
const OTHER = 'spiffe://example.org/batch';

let fake: FakeWorkloadApi;
let client: WorkloadApiClient;

beforeEach(async () => {
  fake = await FakeWorkloadApi.start();
  client = new WorkloadApiClient({ address: fake.address, backoff: FAST });
});

afterEach(async () => {
  client.close();
  await fake.close();
});

describe('FetchJWTSVID (unary, R98, R99)', () => {
  it('fetches the default JWT-SVID for an audience and reads its claims', async () => {
    fake.setJwtIdentities([{ spiffeId: ME }, { spiffeId: OTHER, hint: 'batch' }]);
    const before = Date.now();
    const svid = await client.fetchJwtSvid({ audience: ['spiffe://example.org/db'] });
    expect(svid.id.toString()).toBe(ME);
    // A single audience arrives as a string (N8) and is returned as an array.
    expect(svid.audience).toEqual(['spiffe://example.org/db']);
    expect(svid.expiresAt.getTime()).toBeGreaterThan(before);
    expect(svid.token.split('.')).toHaveLength(3);
    expect(svid.hint).toBeUndefined();
    expect(fake.lastJwtSvidRequest).toEqual({ audience: ['spiffe://example.org/db'], spiffe_id: '' });
  });

  it('returns every identity when no SPIFFE ID is asked for, one when it is (R99)', async () => {
    fake.setJwtIdentities([{ spiffeId: ME }, { spiffeId: OTHER, hint: 'batch' }]);
    const all = await client.fetchJwtSvids({ audience: ['a', 'b'] });
    expect(all.map((s) => [s.id.toString(), s.hint])).toEqual([
      [ME, undefined],
      [OTHER, 'batch'],
    ]);
    expect(all[0]!.audience).toEqual(['a', 'b']);
    const one = await client.fetchJwtSvids({ audience: ['a'], spiffeId: OTHER });
    expect(one.map((s) => s.id.toString())).toEqual([OTHER]);
    expect(fake.lastJwtSvidRequest?.spiffe_id).toBe(OTHER);
  });

  it('de-duplicates non-empty hints (R92)', async () => {
    fake.setJwtIdentities([
      { spiffeId: 'spiffe://test/a', hint: 'x' },
      { spiffeId: 'spiffe://test/b', hint: 'x' },
      { spiffeId: 'spiffe://test/c' },
    ]);
    const all = await client.fetchJwtSvids({ audience: ['aud'] });
    expect(all.map((s) => s.id.toString())).toEqual(['spiffe://test/a', 'spiffe://test/c']);
  });

  it('refuses to ask without an audience (R98)', async () => {
    await expect(client.fetchJwtSvid({ audience: [] })).rejects.toMatchObject({
      code: 'WORKLOAD_API_INVALID_REQUEST',
      rule: 98,
    });
    expect(fake.calls.FetchJWTSVID).toBe(0);
  });

  it('maps PermissionDenied (no identity) to WORKLOAD_API_PERMISSION_DENIED', async () => {
    await expect(client.fetchJwtSvid({ audience: ['aud'] })).rejects.toMatchObject({
      code: 'WORKLOAD_API_PERMISSION_DENIED',
    });
  });

  it('rejects an already expired token as an invalid response', async () => {
    fake.setJwtIdentities([{ spiffeId: ME }]);
    const late = new WorkloadApiClient({
      address: fake.address,
      clock: () => new Date(Date.now() + 3600_000),
    });
    try {
      await expect(late.fetchJwtSvid({ audience: ['aud'] })).rejects.toMatchObject({
        code: 'WORKLOAD_API_INVALID_RESPONSE',
      });
    } finally {
      late.close();
    }
  });
});

describe('ValidateJWTSVID (R101)', () => {
  it('validates a fetched token and returns the SPIFFE ID and claims', async () => {
    fake.setJwtIdentities([{ spiffeId: ME }]);
    const svid = await client.fetchJwtSvid({ audience: ['spiffe://example.org/db'] });
    const result = await client.validateJwtSvid(svid.token, 'spiffe://example.org/db');
    expect(result.id.toString()).toBe(ME);
    expect(result.claims.sub).toBe(ME);
    expect(result.claims.aud).toBe('spiffe://example.org/db');
    expect(typeof result.claims.exp).toBe('number');
  });

  it('reports a token the agent refuses as WORKLOAD_API_JWT_SVID_INVALID', async () => {
    const token = fake.mintJwtSvid(ME, ['someone-else']);
    await expect(client.validateJwtSvid(token, 'spiffe://example.org/db')).rejects.toMatchObject({
      code: 'WORKLOAD_API_JWT_SVID_INVALID',
      category: 'verdict',
    });
  });

  it('requires token and audience before calling', async () => {
    await expect(client.validateJwtSvid('', 'aud')).rejects.toMatchObject({
      code: 'WORKLOAD_API_INVALID_REQUEST',
    });
    await expect(client.validateJwtSvid('a.b.c', '')).rejects.toMatchObject({
      code: 'WORKLOAD_API_INVALID_REQUEST',
    });
    expect(fake.calls.ValidateJWTSVID).toBe(0);
  });
});

describe('FetchJWTBundles', () => {
  it('keeps JWKS keys without `use` (N7) and keys bundles by trust domain', async () => {
    fake.setJwtBundles({ 'spiffe://example.org': jwksWithoutUse, 'domain.test': javaJwks });
    const set = await client.fetchJwtBundles();
    const own = set.getJwtBundleForTrustDomain(TrustDomain.parse('example.org'));
    expect(own.authorities().map((a) => a.kid)).toEqual(['C6vs25welZOx6WksNYfbMfiw9l96pMnD']);
    expect(set.get('spiffe://domain.test')?.size).toBe(3);
  });

  it('lets a local verifier check a fetched JWT-SVID against the watched bundles (R102)', async () => {
    fake.setJwtIdentities([{ spiffeId: ME }]);
    fake.setJwtBundles({ 'spiffe://example.org': fake.jwks() });
    const rec = new Recorder<JwtBundleSet>();
    client.watchJwtBundles(rec);
    const bundles = await rec.update(1);
    const svid = await client.fetchJwtSvid({ audience: ['db'] });
    expect(verifyJwtSvid(svid.token, bundles, { audience: 'db' }).id.toString()).toBe(ME);
  });

  it('streams every change; a trust domain that disappears is gone (R84, R86)', async () => {
    fake.setJwtBundles({ 'spiffe://example.org': jwksWithoutUse, 'spiffe://domain.test': javaJwks });
    const rec = new Recorder<JwtBundleSet>();
    client.watchJwtBundles(rec);
    expect((await rec.update(1)).size).toBe(2);
    fake.setJwtBundles({ 'spiffe://example.org': jwksWithoutUse });
    const second = await rec.update(2);
    expect(second.has('domain.test')).toBe(false);
    expect(second.has('example.org')).toBe(true);
  });

  it('discards a message whose JWKS is broken and reports it (R87)', async () => {
    fake.setJwtBundles({ 'spiffe://example.org': jwksWithoutUse });
    const rec = new Recorder<JwtBundleSet>();
    client.watchJwtBundles(rec);
    await rec.update(1);
    fake.setJwtBundles({ 'spiffe://example.org': '{"keys": [{"kty": "EC"}]}' });
    expect((await rec.error('WORKLOAD_API_INVALID_RESPONSE')).rule).toBe(100);
    fake.setJwtBundles({});
    await until(() => rec.errors.length === 2, 'second error');
    expect(rec.errors.map((e) => [e.code, e.rule])).toEqual([
      ['WORKLOAD_API_INVALID_RESPONSE', 100],
      ['WORKLOAD_API_INVALID_RESPONSE', 87],
    ]);
    expect(rec.updates).toHaveLength(1);
  });

  it('retries after Unavailable', async () => {
    fake.failWith('FetchJWTBundles', grpc.status.UNAVAILABLE);
    fake.setJwtBundles({ 'spiffe://example.org': jwksWithoutUse });
    const rec = new Recorder<JwtBundleSet>();
    client.watchJwtBundles(rec);
    await rec.error('WORKLOAD_API_UNAVAILABLE');
    fake.failWith('FetchJWTBundles', undefined);
    expect((await rec.update(1)).size).toBe(1);
  });
});
