import { describe, expect, it } from 'vitest';
import { SpiffeError } from '../../../src/spiffe/errors.js';
import { checkSpiffeId, SpiffeId, TrustDomain } from '../../../src/spiffe/spiffeid/index.js';
import { readFixture } from '../../helpers/fixtures.js';

interface IdCase {
  id: string;
  valid: boolean;
  source: string;
}

const cases = JSON.parse(readFixture('spiffe', 'spiffe-ids.json').toString('utf8')) as IdCase[];

function codeOf(input: string): string {
  try {
    SpiffeId.parse(input);
    return 'OK';
  } catch (err) {
    expect(err).toBeInstanceOf(SpiffeError);
    return (err as SpiffeError).code;
  }
}

describe('spiffe-ids.json (go-spiffe and java-spiffe verdicts)', () => {
  it('has the 96 upstream cases', () => {
    expect(cases).toHaveLength(96);
  });
  it.each(cases.map((c) => [JSON.stringify(c.id), c] as const))('%s', (_name, c) => {
    expect(checkSpiffeId(c.id).valid).toBe(c.valid);
  });
});

describe('SPIFFE ID rules, each with its own code', () => {
  it.each([
    ['', 'ID_EMPTY', 'R1'],
    ['http://example.org/x', 'ID_SCHEME', 'R1'],
    ['spiffe:/example.org/x', 'ID_SCHEME', 'R1'],
    ['xspiffe://example.org/x', 'ID_SCHEME', 'R1'],
    ['spiffe://', 'ID_TRUST_DOMAIN_MISSING', 'R2'],
    ['spiffe:///path', 'ID_TRUST_DOMAIN_MISSING', 'R2'],
    ['spiffe://example.org/x?q=1', 'ID_PATH_CHARS', 'R3'],
    ['spiffe://example.org#frag', 'ID_TRUST_DOMAIN_CHARS', 'R3'],
    ['spiffe://user:pw@example.org/x', 'ID_TRUST_DOMAIN_CHARS', 'R4'],
    ['spiffe://example.org:8080/x', 'ID_TRUST_DOMAIN_CHARS', 'R4'],
    ['spiffe://example.org:/x', 'ID_TRUST_DOMAIN_CHARS', 'R4'],
    ['spiffe://Example.org/x', 'ID_TRUST_DOMAIN_CHARS', 'R5 / N1: upper case rejected'],
    ['Spiffe://example.org/x', 'ID_SCHEME', 'N1: upper-case scheme rejected'],
    ['spiffe://%62ad/x', 'ID_TRUST_DOMAIN_CHARS', 'R6'],
    ['spiffe://[::1]/x', 'ID_TRUST_DOMAIN_CHARS', 'R7'],
    ['spiffe://example.org/a%20b', 'ID_PATH_CHARS', 'R9'],
    ['spiffe://example.org//x', 'ID_PATH_EMPTY_SEGMENT', 'R10'],
    ['spiffe://example.org/a/./b', 'ID_PATH_DOT_SEGMENT', 'R11'],
    ['spiffe://example.org/..', 'ID_PATH_DOT_SEGMENT', 'R11'],
    ['spiffe://example.org/', 'ID_PATH_TRAILING_SLASH', 'R12'],
    ['spiffe://example.org/a/', 'ID_PATH_TRAILING_SLASH', 'R12'],
    [`spiffe://${'a'.repeat(256)}/x`, 'ID_TRUST_DOMAIN_TOO_LONG', 'R14'],
    ['spiffe://example.org/caf\u00e9', 'ID_PATH_CHARS', 'R16'],
    ['spiffe://example.org/a b', 'ID_PATH_CHARS', 'R16'],
    ['spiffe://exa\tmple.org/x', 'ID_TRUST_DOMAIN_CHARS', 'R16'],
  ])('%j -> %s (%s)', (input, code) => {
    expect(codeOf(input)).toBe(code);
  });

  it.each([
    ['spiffe://127.0.0.1/x', 'R7: IPv4-looking trust domains are opaque'],
    ['spiffe://-example.org/x', 'R7: DNS shape not required'],
    ['spiffe://example.org/.path/..path/...', 'R11: segments that only contain dots'],
    ['spiffe://example.org/UPPER/Case', 'R8: path is case-sensitive'],
    ['spiffe://example.org', 'R12: no path is fine'],
  ])('accepts %j (%s)', (input) => {
    expect(codeOf(input)).toBe('OK');
  });

  it('accepts IDs of 2048 bytes and more (R13)', () => {
    const id = `spiffe://example.org/${'a'.repeat(2048 - 'spiffe://example.org/'.length)}`;
    expect(id).toHaveLength(2048);
    expect(codeOf(id)).toBe('OK');
    expect(codeOf(`${id}/more`)).toBe('OK');
  });

  it('accepts a 255-byte trust domain (R14)', () => {
    expect(codeOf(`spiffe://${'a'.repeat(255)}/x`)).toBe('OK');
  });

  it('rejects every byte outside the charsets in trust domain and path (R5, R8, R16)', () => {
    for (let c = 0; c < 256; c++) {
      const ch = String.fromCharCode(c);
      const tdOk = /[a-z0-9._-]/.test(ch);
      const pathOk = /[a-zA-Z0-9._-]/.test(ch);
      expect(checkSpiffeId(`spiffe://td${ch}x/p`).valid, `td char ${c}`).toBe(tdOk || ch === '/');
      if (ch !== '/') expect(checkSpiffeId(`spiffe://td/p${ch}x`).valid, `path char ${c}`).toBe(pathOk);
    }
  });
});

describe('SpiffeId', () => {
  it('exposes trust domain, path and segments, and round-trips', () => {
    const id = SpiffeId.parse('spiffe://prod.example.org/ns/shop/sa/web');
    expect(id.trustDomain.name).toBe('prod.example.org');
    expect(id.path).toBe('/ns/shop/sa/web');
    expect(id.segments()).toEqual(['ns', 'shop', 'sa', 'web']);
    expect(String(id)).toBe('spiffe://prod.example.org/ns/shop/sa/web');
    expect(JSON.stringify({ id })).toBe('{"id":"spiffe://prod.example.org/ns/shop/sa/web"}');
    expect(id.isTrustDomainId()).toBe(false);
    expect(SpiffeId.parse('spiffe://prod.example.org').isTrustDomainId()).toBe(true);
  });

  it('builds from a trust domain and a path, validating the path', () => {
    const td = TrustDomain.parse('example.org');
    expect(SpiffeId.fromPath(td, '/a/b').toString()).toBe('spiffe://example.org/a/b');
    expect(() => SpiffeId.fromPath(td, 'a')).toThrow(SpiffeError);
  });
});

describe('TrustDomain', () => {
  it('parses a bare name or a trust-domain ID', () => {
    expect(TrustDomain.parse('example.org').idString()).toBe('spiffe://example.org');
    expect(TrustDomain.parse('spiffe://example.org').name).toBe('example.org');
  });
  it.each(['', 'EXAMPLE.org', 'spiffe://example.org/path', 'example.org:443'])('rejects %j', (s) => {
    expect(() => TrustDomain.parse(s)).toThrow(SpiffeError);
  });
});
