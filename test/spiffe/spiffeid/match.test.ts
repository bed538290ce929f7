import { describe, expect, it } from 'vitest';
import {
  matchGlob,
  matchId,
  matchMemberOf,
  matchOneOf,
  matchPathPrefix,
  parseMatcher,
  SpiffeId,
  TrustDomain,
} from '../../../src/spiffe/spiffeid/index.js';

const id = (s: string) => SpiffeId.parse(s);
const td = TrustDomain.parse('example.org');

describe('matchers', () => {
  it('exact and one-of', () => {
    expect(matchId(id('spiffe://example.org/a'))(id('spiffe://example.org/a'))).toBe(true);
    expect(matchId(id('spiffe://example.org/a'))(id('spiffe://example.org/A'))).toBe(false);
    const m = matchOneOf(id('spiffe://example.org/a'), id('spiffe://example.org/b'));
    expect(m(id('spiffe://example.org/b'))).toBe(true);
    expect(m(id('spiffe://example.org/c'))).toBe(false);
  });

  it('member of a trust domain, never of a look-alike one (R20)', () => {
    const m = matchMemberOf(td);
    expect(m(id('spiffe://example.org/x'))).toBe(true);
    expect(m(id('spiffe://example.org.evil/x'))).toBe(false);
  });

  it('path prefix is whole-segment', () => {
    const m = matchPathPrefix(td, '/ns/a');
    expect(m(id('spiffe://example.org/ns/a'))).toBe(true);
    expect(m(id('spiffe://example.org/ns/a/sa/x'))).toBe(true);
    expect(m(id('spiffe://example.org/ns/ab'))).toBe(false);
    expect(m(id('spiffe://other.org/ns/a'))).toBe(false);
  });

  it.each([
    ['spiffe://example.org/ns/*/sa/web', 'spiffe://example.org/ns/shop/sa/web', true],
    ['spiffe://example.org/ns/*/sa/web', 'spiffe://example.org/ns/shop/x/sa/web', false],
    ['spiffe://example.org/ns/payments-*/sa/*', 'spiffe://example.org/ns/payments-eu/sa/api', true],
    ['spiffe://example.org/ns/payments-*/sa/*', 'spiffe://example.org/ns/billing/sa/api', false],
    ['spiffe://example.org/**', 'spiffe://example.org/a/b/c', true],
    ['spiffe://example.org/**', 'spiffe://example.org', true],
    ['spiffe://example.org/ns/**/sa/web', 'spiffe://example.org/ns/a/b/sa/web', true],
    ['spiffe://example.org/ns/**/sa/web', 'spiffe://example.org/ns/sa/web', true],
    ['spiffe://example.org/a.b', 'spiffe://example.org/aXb', false],
    ['spiffe://example.org/*', 'spiffe://other.org/x', false],
  ])('glob %s vs %s -> %s', (pattern, candidate, expected) => {
    expect(matchGlob(pattern)(id(candidate))).toBe(expected);
  });

  it('parseMatcher: exact without *, glob with *', () => {
    expect(parseMatcher('spiffe://example.org/a')(id('spiffe://example.org/a'))).toBe(true);
    expect(parseMatcher('spiffe://example.org/a')(id('spiffe://example.org/a/b'))).toBe(false);
    expect(parseMatcher('spiffe://example.org/a/*')(id('spiffe://example.org/a/b'))).toBe(true);
    expect(() => parseMatcher('http://x/*')).toThrow();
    expect(() => parseMatcher('spiffe://example.org/a/**b')).toThrow();
  });
});
