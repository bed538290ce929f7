import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TrustDomain } from '../../../src/spiffe/spiffeid/index.js';
import { WorkloadApiClient } from '../../../src/spiffe/workloadapi/client.js';
import type { X509BundlesUpdate, X509Context } from '../../../src/spiffe/workloadapi/parse.js';
import { workloadServiceDefinition } from '../../../src/spiffe/workloadapi/proto.js';
import { FakeWorkloadApi } from './fake-server.js';
import {
  federatedBundleDer,
  federatedBundlePem,
  leafSvid,
  ownBundleDer,
  SVID_ID,
  svidDer,
  workloadServerSvid,
} from './payloads.js';
import { Recorder, until } from './recorder.js';

const FAST = { initialMs: 50, maxMs: 200, jitter: 0.1 };
const FEDERATED_TD = 'spiffe://domain.test';

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

function ids(ctx: X509Context): string[] {
  return ctx.svids.map((s) => s.id.toString());
}

/** A raw grpc-js client: lets a test leave out the security header. */
function rawStream(address: string, withHeader: boolean): Promise<grpc.StatusObject | 'data'> {
  const raw = new grpc.Client(address, grpc.credentials.createInsecure());
  const m = workloadServiceDefinition().FetchX509SVID!;
  const md = new grpc.Metadata();
  if (withHeader) md.set('workload.spiffe.io', 'true');
  const call = raw.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, {}, md);
  return new Promise((resolve) => {
    call.on('data', () => {
      resolve('data');
      call.cancel();
    });
    call.on('error', () => {});
    call.on('status', (st) => {
      resolve(st);
      raw.close();
    });
  });
}

describe('security header (R71, R72)', () => {
  it('the fake rejects a call without workload.spiffe.io with InvalidArgument', async () => {
    fake.setX509Context({ svids: [workloadServerSvid()] });
    const st = await rawStream(fake.address, false);
    expect(st).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect(fake.rejectedWithoutHeader).toBe(1);
    expect(await rawStream(fake.address, true)).toBe('data');
  });

  it('the client sends the header on every call, so none is rejected', async () => {
    fake.setX509Context({ svids: [workloadServerSvid()] });
    await client.fetchX509Context();
    await client.fetchX509Bundles();
    expect(fake.calls.FetchX509SVID).toBe(1);
    expect(fake.calls.FetchX509Bundles).toBe(1);
    expect(fake.rejectedWithoutHeader).toBe(0);
  });

  it('InvalidArgument is reported and never retried (R79)', async () => {
    fake.failWith('FetchX509SVID', grpc.status.INVALID_ARGUMENT, 'security header missing from request');
    const rec = new Recorder<X509Context>();
    const handle = client.watchX509Context(rec);
    await handle.closed;
    expect(rec.errors.map((e) => e.code)).toEqual(['WORKLOAD_API_INVALID_ARGUMENT']);
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.calls.FetchX509SVID).toBe(1);
  });
});

describe('fetchX509Context', () => {
  it('returns the first message immediately (R85) with SVIDs, own and federated bundles (R91, R95)', async () => {
    fake.setX509Context({
      svids: [workloadServerSvid('internal')],
      federatedBundles: { [FEDERATED_TD]: federatedBundleDer },
    });
    const t0 = Date.now();
    const ctx = await client.fetchX509Context();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(ids(ctx)).toEqual([SVID_ID]);
    const svid = ctx.svids[0]!;
    expect(svid.hint).toBe('internal');
    expect(Buffer.from(svid.certificates[0]!.der).equals(svidDer)).toBe(true);
    expect(svid.privateKey.type).toBe('private');
    expect(ctx.bundles.size).toBe(2);
    const own = ctx.bundles.getX509BundleForTrustDomain(TrustDomain.parse('example.org'));
    expect(Buffer.from(own.authorities()[0]!.der).equals(ownBundleDer)).toBe(true);
    const fed = ctx.bundles.getX509BundleForTrustDomain(TrustDomain.parse('domain.test'));
    expect(Buffer.from(fed.authorities()[0]!.der).equals(federatedBundleDer)).toBe(true);
  });

  it('accepts a bare trust-domain name as a bundle key (R95)', async () => {
    fake.setX509Context({
      svids: [workloadServerSvid()],
      federatedBundles: { 'domain.test': federatedBundleDer },
    });
    const ctx = await client.fetchX509Context();
    expect(ctx.bundles.has('domain.test')).toBe(true);
  });

  it('keeps the first SVID as the default identity (R106)', async () => {
    fake.setX509Context({ svids: [leafSvid('c'), leafSvid('a'), leafSvid('b')] });
    expect(ids(await client.fetchX509Context())).toEqual([
      'spiffe://test/c',
      'spiffe://test/a',
      'spiffe://test/b',
    ]);
  });

  it('drops later SVIDs with a repeated non-empty hint, never empty ones (R92, java-spiffe scenario)', async () => {
    fake.setX509Context({
      svids: [
        leafSvid('a', ''),
        leafSvid('b', ''),
        leafSvid('c', 'hintX'),
        leafSvid('d', 'hintX'),
        leafSvid('e', 'hintY'),
      ],
    });
    const ctx = await client.fetchX509Context();
    expect(ids(ctx)).toEqual(['spiffe://test/a', 'spiffe://test/b', 'spiffe://test/c', 'spiffe://test/e']);
    expect(ctx.warnings.map((w) => [w.code, w.rule])).toEqual([['WORKLOAD_API_HINT_DUPLICATE', 92]]);
  });

  it('drops an SVID whose hint is longer than 1024 bytes (R106)', async () => {
    fake.setX509Context({ svids: [leafSvid('a', 'é'.repeat(513)), leafSvid('b', 'x'.repeat(1024))] });
    const ctx = await client.fetchX509Context();
    expect(ids(ctx)).toEqual(['spiffe://test/b']);
    expect(ctx.warnings[0]).toMatchObject({ code: 'WORKLOAD_API_HINT_TOO_LONG', rule: 106 });
  });

  it.each([
    ['spiffe_id', { spiffeId: '' }],
    ['x509_svid', { x509Svid: Buffer.alloc(0) }],
    ['x509_svid_key', { x509SvidKey: Buffer.alloc(0) }],
    ['bundle', { bundle: Buffer.alloc(0) }],
  ])('rejects a message whose mandatory %s is empty (R87, R91)', async (field, patch) => {
    fake.setX509Context({ svids: [{ ...workloadServerSvid(), ...patch }] });
    await expect(client.fetchX509Context()).rejects.toMatchObject({
      code: 'WORKLOAD_API_INVALID_RESPONSE',
      rule: 87,
      details: { field: `svids[0].${field}` },
    });
  });

  it('rejects a message without SVIDs (R90)', async () => {
    fake.setX509Context({ svids: [] });
    await expect(client.fetchX509Context()).rejects.toMatchObject({
      code: 'WORKLOAD_API_INVALID_RESPONSE',
      rule: 90,
    });
  });

  it('refuses PEM where DER is required, as java-spiffe fake sends it (R93, R95)', async () => {
    fake.setX509Context({
      svids: [workloadServerSvid()],
      federatedBundles: { [FEDERATED_TD]: federatedBundlePem },
    });
    await expect(client.fetchX509Context()).rejects.toMatchObject({
      code: 'WORKLOAD_API_INVALID_RESPONSE',
      rule: 95,
    });
    fake.setX509Context({ svids: [{ ...workloadServerSvid(), bundle: federatedBundlePem }] });
    await expect(client.fetchX509Context()).rejects.toMatchObject({
      code: 'WORKLOAD_API_INVALID_RESPONSE',
      rule: 95,
    });
  });

  it('rejects a key that does not belong to the leaf (R94)', async () => {
    fake.setX509Context({ svids: [{ ...leafSvid('a'), x509SvidKey: leafSvid('b').x509SvidKey }] });
    await expect(client.fetchX509Context()).rejects.toMatchObject({
      code: 'WORKLOAD_API_INVALID_RESPONSE',
      rule: 94,
    });
  });

  it('rejects an spiffe_id that differs from the leaf certificate', async () => {
    fake.setX509Context({ svids: [{ ...leafSvid('a'), spiffeId: 'spiffe://test/b' }] });
    await expect(client.fetchX509Context()).rejects.toMatchObject({ code: 'WORKLOAD_API_INVALID_RESPONSE' });
  });

  it('reports PermissionDenied with its own code (R96)', async () => {
    fake.failWith('FetchX509SVID', grpc.status.PERMISSION_DENIED, 'no identity issued');
    await expect(client.fetchX509Context()).rejects.toMatchObject({
      code: 'WORKLOAD_API_PERMISSION_DENIED',
      category: 'denied',
    });
  });

  it('reports an unreachable endpoint as WORKLOAD_API_UNAVAILABLE', async () => {
    await fake.stop();
    const err = await client.fetchX509Context().catch((e: Error) => e);
    expect(err).toMatchObject({ code: 'WORKLOAD_API_UNAVAILABLE', category: 'unavailable' });
    // One readable line: grpc-js's empty "Resolution note: " tail is dropped.
    expect((err as Error).message).toMatch(/^Workload API FetchX509SVID is unavailable: \S/);
    expect((err as Error).message).not.toMatch(/Resolution note:\s*$/);
  });
});

describe('watchX509Context', () => {
  it('delivers the current state at once and every later state to the watcher (R84, R85)', async () => {
    fake.setX509Context({ svids: [leafSvid('a')] });
    const rec = new Recorder<X509Context>();
    const handle = client.watchX509Context(rec);
    expect(ids(await rec.update(1))).toEqual(['spiffe://test/a']);
    fake.setX509Context({ svids: [leafSvid('b'), leafSvid('a')] });
    expect(ids(await rec.update(2))).toEqual(['spiffe://test/b', 'spiffe://test/a']);
    handle.close();
    await handle.closed;
    fake.setX509Context({ svids: [leafSvid('c')] });
    await new Promise((r) => setTimeout(r, 100));
    expect(rec.updates).toHaveLength(2);
    expect(fake.openStreams()).toBe(0);
  });

  it('clears federated bundles when a later message has an empty map (R86)', async () => {
    fake.setX509Context({
      svids: [workloadServerSvid()],
      federatedBundles: { [FEDERATED_TD]: federatedBundleDer },
    });
    const rec = new Recorder<X509Context>();
    client.watchX509Context(rec);
    expect((await rec.update(1)).bundles.has('domain.test')).toBe(true);
    fake.setX509Context({ svids: [workloadServerSvid()], federatedBundles: {} });
    const second = await rec.update(2);
    expect(second.bundles.has('domain.test')).toBe(false);
    expect(second.bundles.has('example.org')).toBe(true);
  });

  it('reports and discards a message with a mandatory field missing, then takes the next one (R87)', async () => {
    fake.setX509Context({ svids: [leafSvid('a')] });
    const rec = new Recorder<X509Context>();
    client.watchX509Context(rec);
    await rec.update(1);
    fake.setX509Context({ svids: [{ ...leafSvid('b'), x509SvidKey: Buffer.alloc(0) }] });
    const err = await rec.error('WORKLOAD_API_INVALID_RESPONSE');
    expect(err.rule).toBe(87);
    expect(rec.updates).toHaveLength(1);
    fake.setX509Context({ svids: [leafSvid('c')] });
    expect(ids(await rec.update(2))).toEqual(['spiffe://test/c']);
    expect(fake.calls.FetchX509SVID).toBe(1);
  });

  it('reconnects with backoff after the server restarts and receives the new state', async () => {
    fake.setX509Context({ svids: [leafSvid('a')] });
    const rec = new Recorder<X509Context>();
    client.watchX509Context(rec);
    await rec.update(1);
    await fake.stop();
    await until(() => rec.errors.length > 0, 'a stream error');
    fake.setX509Context({ svids: [leafSvid('b')] });
    await new Promise((r) => setTimeout(r, 250));
    await fake.restart();
    expect(ids(await rec.update(2))).toEqual(['spiffe://test/b']);
    expect(rec.errors.every((e) => e.category === 'unavailable')).toBe(true);
  });

  it('retries after Unavailable and PermissionDenied (R79), reporting each', async () => {
    fake.failWith('FetchX509SVID', grpc.status.UNAVAILABLE, 'agent not ready');
    fake.setX509Context({ svids: [leafSvid('a')] });
    const rec = new Recorder<X509Context>();
    client.watchX509Context(rec);
    await rec.error('WORKLOAD_API_UNAVAILABLE');
    fake.failWith('FetchX509SVID', grpc.status.PERMISSION_DENIED);
    await rec.error('WORKLOAD_API_PERMISSION_DENIED');
    fake.failWith('FetchX509SVID', undefined);
    expect(ids(await rec.update(1))).toEqual(['spiffe://test/a']);
    expect(fake.calls.FetchX509SVID).toBeGreaterThanOrEqual(3);
  });

  it('stops on Unimplemented (R79, R103)', async () => {
    fake.failWith('FetchX509SVID', grpc.status.UNIMPLEMENTED);
    const rec = new Recorder<X509Context>();
    const handle = client.watchX509Context(rec);
    await handle.closed;
    expect(rec.errors.map((e) => e.code)).toEqual(['WORKLOAD_API_UNIMPLEMENTED']);
    await new Promise((r) => setTimeout(r, 200));
    expect(fake.calls.FetchX509SVID).toBe(1);
  });

  it('a throwing onUpdate is reported and does not break the stream', async () => {
    fake.setX509Context({ svids: [leafSvid('a')] });
    const seen: string[] = [];
    const errors: string[] = [];
    client.watchX509Context({
      onUpdate: (ctx) => {
        seen.push(ids(ctx)[0]!);
        if (seen.length === 1) throw new Error('boom');
      },
      onError: (e) => errors.push(e.code),
    });
    await until(() => seen.length === 1, 'first update');
    fake.setX509Context({ svids: [leafSvid('b')] });
    await until(() => seen.length === 2, 'second update');
    expect(errors).toEqual(['WORKLOAD_API_WATCHER_FAILED']);
  });
});

describe('FetchX509Bundles', () => {
  it('fetches and watches bundles keyed by trust domain (R95, R97)', async () => {
    fake.setX509Context({
      svids: [workloadServerSvid()],
      federatedBundles: { [FEDERATED_TD]: federatedBundleDer },
    });
    const first = await client.fetchX509Bundles();
    expect(
      first.bundles
        .all()
        .map((b) => b.trustDomain.name)
        .sort(),
    ).toEqual(['domain.test', 'example.org']);
    const rec = new Recorder<X509BundlesUpdate>();
    client.watchX509Bundles(rec);
    await rec.update(1);
    fake.setX509Bundles({ 'spiffe://example.org': ownBundleDer });
    const second = await rec.update(2);
    expect(second.bundles.all().map((b) => b.trustDomain.name)).toEqual(['example.org']);
  });

  it('rejects an empty bundle map (R87, R97)', async () => {
    fake.setX509Bundles({});
    await expect(client.fetchX509Bundles()).rejects.toMatchObject({
      code: 'WORKLOAD_API_INVALID_RESPONSE',
      rule: 87,
    });
  });
});

describe('transport', () => {
  it('works over TCP on 127.0.0.1 (R69, R77)', async () => {
    const tcp = await FakeWorkloadApi.start({ transport: 'tcp' });
    const tcpClient = new WorkloadApiClient({ address: tcp.address, backoff: FAST });
    try {
      expect(tcp.address).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
      tcp.setX509Context({ svids: [workloadServerSvid()] });
      const rec = new Recorder<X509Context>();
      tcpClient.watchX509Context(rec);
      expect(ids(await rec.update(1))).toEqual([SVID_ID]);
      await tcp.restart();
      tcp.setX509Context({ svids: [leafSvid('e')] });
      expect(ids(await rec.update(2))).toEqual(['spiffe://test/e']);
    } finally {
      tcpClient.close();
      await tcp.close();
    }
  });

  it('falls back to SPIFFE_ENDPOINT_SOCKET when no address is given (R74)', async () => {
    fake.setX509Context({ svids: [workloadServerSvid()] });
    const envClient = new WorkloadApiClient({ env: { SPIFFE_ENDPOINT_SOCKET: fake.address }, backoff: FAST });
    try {
      expect(ids(await envClient.fetchX509Context())).toEqual([SVID_ID]);
    } finally {
      envClient.close();
    }
  });

  it('answers WIT RPCs with Unimplemented (R103)', async () => {
    const raw = new grpc.Client(fake.address, grpc.credentials.createInsecure());
    const m = workloadServiceDefinition().FetchWITSVID!;
    const md = new grpc.Metadata();
    md.set('workload.spiffe.io', 'true');
    const st = await new Promise<grpc.StatusObject>((resolve) => {
      const call = raw.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, {}, md);
      call.on('error', () => {});
      call.on('status', resolve);
    });
    raw.close();
    expect(st.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(m.path).toBe('/SpiffeWorkloadAPI/FetchWITSVID');
  });
});
