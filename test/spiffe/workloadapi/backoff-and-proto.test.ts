import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Backoff } from '../../../src/spiffe/workloadapi/backoff.js';
import {
  jsonToStruct,
  structToJson,
  workloadProtoPath,
  workloadServiceDefinition,
} from '../../../src/spiffe/workloadapi/proto.js';

describe('reconnect backoff (R79)', () => {
  it('grows exponentially from the initial delay and stops at the cap', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
  });

  it('starts again from the initial delay after reset', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0 });
    b.next();
    b.next();
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('spreads delays by the jitter fraction and never beyond the cap', () => {
    const low = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0.5, random: () => 0 });
    const high = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0.5, random: () => 0.999999 });
    expect(low.next()).toBe(50);
    expect(high.next()).toBe(150);
    const capped = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.5, random: () => 0.999999 });
    expect(capped.next()).toBe(1000);
  });
});

describe('proto/workload.proto (section J)', () => {
  it('is found relative to the module and ships in the repository proto/ folder', () => {
    const path = workloadProtoPath();
    expect(path.endsWith('/proto/workload.proto')).toBe(true);
    expect(existsSync(path)).toBe(true);
  });

  it('defines the seven RPCs under the package-less service name', () => {
    const service = workloadServiceDefinition();
    expect(
      Object.fromEntries(
        Object.entries(service).map(([name, m]) => [name, [m.path, m.requestStream, m.responseStream]]),
      ),
    ).toEqual({
      FetchX509SVID: ['/SpiffeWorkloadAPI/FetchX509SVID', false, true],
      FetchX509Bundles: ['/SpiffeWorkloadAPI/FetchX509Bundles', false, true],
      FetchJWTSVID: ['/SpiffeWorkloadAPI/FetchJWTSVID', false, false],
      FetchJWTBundles: ['/SpiffeWorkloadAPI/FetchJWTBundles', false, true],
      ValidateJWTSVID: ['/SpiffeWorkloadAPI/ValidateJWTSVID', false, false],
      FetchWITSVID: ['/SpiffeWorkloadAPI/FetchWITSVID', false, true],
      FetchWITBundles: ['/SpiffeWorkloadAPI/FetchWITBundles', false, true],
    });
  });

  it('round-trips X509SVIDResponse field numbers and google.protobuf.Struct claims', () => {
    const service = workloadServiceDefinition();
    const x509 = service.FetchX509SVID!;
    const msg = {
      svids: [
        {
          spiffe_id: 'spiffe://a/b',
          x509_svid: Buffer.from([1]),
          x509_svid_key: Buffer.from([2]),
          bundle: Buffer.from([3]),
          hint: 'h',
        },
      ],
      crl: [],
      federated_bundles: { 'spiffe://c': Buffer.from([4]) },
    };
    const wire = x509.responseSerialize(msg);
    // svids = field 1 (0x0a), spiffe_id = field 1 inside it.
    expect(wire[0]).toBe(0x0a);
    expect(x509.responseDeserialize(wire)).toEqual(msg);
    const validate = service.ValidateJWTSVID!;
    const claims = {
      sub: 'spiffe://a/b',
      aud: ['x', 'y'],
      exp: 1700000000,
      nested: { ok: true },
      none: null,
    };
    const back = validate.responseDeserialize(
      validate.responseSerialize({ spiffe_id: 'spiffe://a/b', claims: jsonToStruct(claims) }),
    );
    expect(structToJson(back.claims)).toEqual(claims);
  });
});
