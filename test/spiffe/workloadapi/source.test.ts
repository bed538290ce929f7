import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SpiffeError } from '../../../src/spiffe/errors.js';
import { TrustDomain } from '../../../src/spiffe/spiffeid/index.js';
import { verifyJwtSvid } from '../../../src/spiffe/svid/jwtsvid/index.js';
import type { X509Context } from '../../../src/spiffe/workloadapi/parse.js';
import { JwtSource, X509Source } from '../../../src/spiffe/workloadapi/source.js';
import { FakeWorkloadApi } from './fake-server.js';
import { federatedBundleDer, jwksWithoutUse, leafSvid, SVID_ID, workloadServerSvid } from './payloads.js';
import { until } from './recorder.js';

const FAST = { initialMs: 50, maxMs: 200, jitter: 0.1 };

let fake: FakeWorkloadApi;

beforeEach(async () => {
  fake = await FakeWorkloadApi.start();
});

afterEach(async () => {
  await fake.close();
});

describe('X509Source', () => {
  it('is ready after the first update and serves the default SVID and bundles', async () => {
    fake.setX509Context({
      svids: [workloadServerSvid(), leafSvid('a')],
      federatedBundles: { 'spiffe://domain.test': federatedBundleDer },
    });
    const source = await X509Source.create({ address: fake.address, backoff: FAST });
    try {
      expect(source.getX509Svid().id.toString()).toBe(SVID_ID);
      expect(source.getX509Svids()).toHaveLength(2);
      expect(source.getX509BundleForTrustDomain(TrustDomain.parse('domain.test')).size).toBe(1);
      expect(() => source.getX509BundleForTrustDomain(TrustDomain.parse('nowhere.test'))).toThrow(
        expect.objectContaining({ code: 'BUNDLE_NOT_FOUND' }),
      );
    } finally {
      source.close();
    }
  });

  it("emits 'update' on every new context, so a server can hot-swap its certificate", async () => {
    fake.setX509Context({ svids: [leafSvid('a')] });
    const source = new X509Source({ address: fake.address, backoff: FAST });
    const seen: string[] = [];
    source.on('update', (ctx: X509Context) => seen.push(ctx.svids[0]!.id.toString()));
    try {
      await source.ready();
      fake.setX509Context({ svids: [leafSvid('b')] });
      await until(() => seen.length === 2, 'second update');
      expect(seen).toEqual(['spiffe://test/a', 'spiffe://test/b']);
      expect(source.getX509Svid().id.toString()).toBe('spiffe://test/b');
    } finally {
      source.close();
    }
  });

  it('uses a picker to choose among SVIDs', async () => {
    fake.setX509Context({ svids: [leafSvid('a', 'internal'), leafSvid('b', 'external')] });
    const source = await X509Source.create({
      address: fake.address,
      picker: (svids) => svids.find((s) => s.hint === 'external'),
    });
    try {
      expect(source.getX509Svid().id.toString()).toBe('spiffe://test/b');
    } finally {
      source.close();
    }
  });

  it('drops its SVIDs and bundles on PermissionDenied (R96) and takes them back on the next update', async () => {
    fake.setX509Context({ svids: [leafSvid('a')] });
    const source = await X509Source.create({ address: fake.address, backoff: FAST });
    const errors: SpiffeError[] = [];
    source.on('watchError', (e) => errors.push(e));
    try {
      fake.failWith('FetchX509SVID', grpc.status.PERMISSION_DENIED, 'entry deleted');
      await until(() => errors.some((e) => e.code === 'WORKLOAD_API_PERMISSION_DENIED'), 'PermissionDenied');
      expect(() => source.getX509Svid()).toThrow(
        expect.objectContaining({ code: 'WORKLOAD_API_NO_SVID', rule: 96 }),
      );
      expect(source.bundles.size).toBe(0);
      fake.failWith('FetchX509SVID', undefined);
      await until(() => source.context !== undefined, 'a new context');
      expect(source.getX509Svid().id.toString()).toBe('spiffe://test/a');
    } finally {
      source.close();
    }
  });

  it('ready() rejects with WORKLOAD_API_TIMEOUT when no update comes, naming the last error', async () => {
    fake.failWith('FetchX509SVID', grpc.status.UNAVAILABLE, 'agent warming up');
    const source = new X509Source({ address: fake.address, backoff: FAST });
    try {
      await expect(source.ready(300)).rejects.toMatchObject({
        code: 'WORKLOAD_API_TIMEOUT',
        details: { lastErrorCode: 'WORKLOAD_API_UNAVAILABLE' },
      });
      expect(() => source.getX509Svid()).toThrow(expect.objectContaining({ code: 'WORKLOAD_API_NO_SVID' }));
    } finally {
      source.close();
    }
  });

  it('ready() rejects at once on a final error (InvalidArgument, R79)', async () => {
    fake.failWith('FetchX509SVID', grpc.status.INVALID_ARGUMENT);
    await expect(X509Source.create({ address: fake.address, readyTimeoutMs: 5000 })).rejects.toMatchObject({
      code: 'WORKLOAD_API_INVALID_ARGUMENT',
    });
  });

  it('close() stops watching and refuses further use', async () => {
    fake.setX509Context({ svids: [leafSvid('a')] });
    const source = await X509Source.create({ address: fake.address });
    await until(() => fake.openStreams('FetchX509SVID') === 1, 'open stream');
    source.close();
    await until(() => fake.openStreams('FetchX509SVID') === 0, 'stream closed');
    expect(() => source.getX509Svid()).toThrow(expect.objectContaining({ code: 'WORKLOAD_API_CLOSED' }));
    await expect(source.ready()).rejects.toMatchObject({ code: 'WORKLOAD_API_CLOSED' });
  });
});

describe('JwtSource', () => {
  it('keeps the latest JWT bundles and fetches JWT-SVIDs that verify against them', async () => {
    fake.setJwtIdentities([{ spiffeId: 'spiffe://example.org/web' }]);
    fake.setJwtBundles({ 'spiffe://example.org': fake.jwks() });
    const source = await JwtSource.create({ address: fake.address, backoff: FAST });
    try {
      const svid = await source.fetchJwtSvid({ audience: ['db'] });
      expect(verifyJwtSvid(svid.token, source, { audience: 'db' }).id.toString()).toBe(
        'spiffe://example.org/web',
      );
      const updates: number[] = [];
      source.on('update', (set) => updates.push(set.size));
      fake.setJwtBundles({ 'spiffe://example.org': fake.jwks(), 'spiffe://domain.test': jwksWithoutUse });
      await until(() => updates.length === 1, 'update');
      expect(source.getJwtBundleForTrustDomain(TrustDomain.parse('domain.test')).size).toBe(1);
    } finally {
      source.close();
    }
  });

  it('drops its bundles on PermissionDenied (R96)', async () => {
    fake.setJwtBundles({ 'spiffe://example.org': jwksWithoutUse });
    const source = await JwtSource.create({ address: fake.address, backoff: FAST });
    const errors: string[] = [];
    source.on('watchError', (e) => errors.push(e.code));
    try {
      fake.failWith('FetchJWTBundles', grpc.status.PERMISSION_DENIED);
      await until(() => errors.includes('WORKLOAD_API_PERMISSION_DENIED'), 'PermissionDenied');
      expect(() => source.getJwtBundleForTrustDomain(TrustDomain.parse('example.org'))).toThrow(
        expect.objectContaining({ code: 'BUNDLE_NOT_FOUND' }),
      );
    } finally {
      source.close();
    }
  });
});
