import { describe, expect, it } from 'vitest';
import { SpiffeError } from '../../../src/spiffe/errors.js';
import { parseEndpointAddress, resolveEndpointAddress } from '../../../src/spiffe/workloadapi/address.js';

function verdict(address: string): string {
  try {
    parseEndpointAddress(address);
    return 'accept';
  } catch (err) {
    expect(err).toBeInstanceOf(SpiffeError);
    const e = err as SpiffeError;
    expect(e.code).toBe('WORKLOAD_API_ADDRESS_INVALID');
    return `reject:${String(e.details?.reason)}`;
  }
}

// spiffe-rules.md table K (go-spiffe TestValidateAddress strings), verdicts from the Spec column.
describe('SPIFFE_ENDPOINT_SOCKET strings of table K are judged per rules 75-77', () => {
  it.each([
    ['\t', 'reject:control-character'],
    ['blah', 'reject:scheme'],
    ['tcp:opaque', 'reject:opaque'],
    ['tcp://', 'reject:no-host'],
    ['tcp://1.2.3.4:5?whatever', 'reject:query'],
    ['tcp://1.2.3.4:5#whatever', 'reject:fragment'],
    ['tcp://john:doe@1.2.3.4:5/path', 'reject:userinfo'],
    ['tcp://1.2.3.4:5/path', 'reject:path'],
    ['tcp://foo', 'reject:host-not-ip'],
    ['tcp://1.2.3.4', 'reject:no-port'],
    ['tcp://1.2.3.4:5', 'accept'],
    ['unix:opaque', 'reject:opaque'],
    ['unix://', 'reject:no-path'],
    ['unix://foo?whatever', 'reject:query'],
    ['unix://foo#whatever', 'reject:fragment'],
    ['unix://john:doe@foo/path', 'reject:userinfo'],
    // N9: go-spiffe accepts this; the spec forbids an authority for unix URIs.
    ['unix://foo', 'reject:authority'],
    ['unix:///tmp/agent.sock', 'accept'],
  ])('%j -> %s', (address, expected) => {
    expect(verdict(address)).toBe(expected);
  });
});

describe('further endpoint addresses', () => {
  it.each([
    ['', 'reject:empty'],
    ['http://1.2.3.4:5', 'reject:scheme'],
    ['tcp://localhost:8000', 'reject:host-not-ip'],
    ['tcp://1.2.3.4:0', 'reject:port-invalid'],
    ['tcp://1.2.3.4:65536', 'reject:port-invalid'],
    ['tcp://1.2.3.4:http', 'reject:port-invalid'],
    ['tcp://1.2.3.4:', 'reject:no-port'],
    ['tcp://[::1]', 'reject:no-port'],
    ['tcp://[::1]:8000', 'accept'],
    ['unix:///tmp/agent.sock?', 'reject:query'],
    ['unix:///tmp/agent sock', 'reject:control-character'],
    ['unix:///tmp/%zz', 'reject:path-encoding'],
    ['unix:///tmp/a%00b', 'reject:path-encoding'],
  ])('%j -> %s', (address, expected) => {
    expect(verdict(address)).toBe(expected);
  });

  it('turns an accepted unix address into a grpc-js unix target with the absolute path (R76)', () => {
    expect(parseEndpointAddress('unix:///run/spire/agent.sock')).toEqual({
      scheme: 'unix',
      path: '/run/spire/agent.sock',
      target: 'unix:///run/spire/agent.sock',
    });
    expect(parseEndpointAddress('unix:///tmp/my%20agent.sock')).toMatchObject({ path: '/tmp/my agent.sock' });
  });

  it('turns an accepted tcp address into an ipv4/ipv6 grpc-js target (R77)', () => {
    expect(parseEndpointAddress('tcp://1.2.3.4:5')).toEqual({
      scheme: 'tcp',
      host: '1.2.3.4',
      port: 5,
      family: 4,
      target: 'ipv4:1.2.3.4:5',
    });
    expect(parseEndpointAddress('tcp://[::1]:8000').target).toBe('ipv6:[::1]:8000');
  });

  it('names the rule each rejection breaks', () => {
    const ruleOf = (a: string) => {
      try {
        parseEndpointAddress(a);
      } catch (err) {
        return (err as SpiffeError).rule;
      }
      return undefined;
    };
    expect(ruleOf('blah')).toBe(75);
    expect(ruleOf('unix://foo')).toBe(76);
    expect(ruleOf('tcp://foo')).toBe(77);
  });
});

describe('address discovery (R74)', () => {
  it('prefers the explicit address', () => {
    expect(
      resolveEndpointAddress('unix:///a.sock', { SPIFFE_ENDPOINT_SOCKET: 'unix:///b.sock' }).target,
    ).toBe('unix:///a.sock');
  });

  it('falls back to SPIFFE_ENDPOINT_SOCKET', () => {
    expect(resolveEndpointAddress(undefined, { SPIFFE_ENDPOINT_SOCKET: 'tcp://127.0.0.1:8081' }).target).toBe(
      'ipv4:127.0.0.1:8081',
    );
  });

  it('fails with WORKLOAD_API_ADDRESS_MISSING when neither is set', () => {
    expect(() => resolveEndpointAddress(undefined, {})).toThrow(
      expect.objectContaining({ code: 'WORKLOAD_API_ADDRESS_MISSING', rule: 74 }),
    );
  });

  it('validates the environment value like an explicit one', () => {
    expect(() => resolveEndpointAddress(undefined, { SPIFFE_ENDPOINT_SOCKET: 'unix://foo' })).toThrow(
      expect.objectContaining({ code: 'WORKLOAD_API_ADDRESS_INVALID' }),
    );
  });
});
