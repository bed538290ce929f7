import { describe, expect, it } from 'vitest';
import { BundleSet, marshalBundleMap, parseBundleMap } from '../../../src/spiffe/bundle/set.js';
import { SpiffeBundle } from '../../../src/spiffe/bundle/spiffebundle.js';
import { SpiffeError } from '../../../src/spiffe/errors.js';
import { TrustDomain } from '../../../src/spiffe/spiffeid/index.js';
import { readFixture } from '../../helpers/fixtures.js';

const b1 = readFixture('spiffe', 'go-spiffe', 'spiffebundle', 'spiffebundle_valid_1.json').toString().trim();
const b2 = readFixture('spiffe', 'go-spiffe', 'spiffebundle', 'spiffebundle_valid_2.json').toString().trim();
const missingKid = readFixture('spiffe', 'go-spiffe', 'spiffebundle', 'spiffebundle_missing_kid.json')
  .toString()
  .trim();

function refusal(fn: () => unknown): SpiffeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SpiffeError);
    return err as SpiffeError;
  }
  throw new Error('expected a refusal');
}

describe('bundle map (R65-R67)', () => {
  it('reads one SPIFFE bundle per trust domain', () => {
    const { set, warnings, refreshHint } = parseBundleMap(
      `{"trust_domains": {"example.org": ${b1}, "spiffe://partner.test": ${b2}}, "refresh_hint": 120}`,
    );
    expect(set.trustDomains().map((t) => t.name)).toEqual(['example.org', 'partner.test']);
    expect(set.get('example.org')?.jwtAuthorities).toHaveLength(1);
    expect(set.get('partner.test')?.jwtAuthorities).toHaveLength(6);
    expect(set.get('partner.test')?.sequenceNumber).toBe(1n);
    expect(refreshHint).toBe(120);
    expect(warnings).toEqual([]);
  });

  it('R65: an empty trust_domains object is a valid, empty map; a missing one is not', () => {
    expect(parseBundleMap('{"trust_domains": {}}').set.size).toBe(0);
    const err = refusal(() => parseBundleMap('{"keys": []}'));
    expect([err.code, err.rule]).toEqual(['BUNDLE_MAP_INVALID', 65]);
    expect(refusal(() => parseBundleMap('{"trust_domains": []}')).code).toBe('BUNDLE_MAP_INVALID');
    expect(refusal(() => parseBundleMap('{"trust_domains": {"example.org": []}}')).code).toBe(
      'BUNDLE_MAP_INVALID',
    );
  });

  it('R67: the same trust domain twice is refused, where JSON.parse would silently keep the last', () => {
    const text = `{"trust_domains": {"example.org": ${b1}, "example.org": {"keys": []}}}`;
    expect(Object.keys(JSON.parse(text).trust_domains)).toEqual(['example.org']);
    const err = refusal(() => parseBundleMap(text));
    expect([err.code, err.category, err.rule]).toEqual(['BUNDLE_MAP_DUPLICATE_TRUST_DOMAIN', 'input', 67]);
  });

  it('R66/R67: also when the two keys spell the trust domain differently', () => {
    const err = refusal(() =>
      parseBundleMap(`{"trust_domains": {"example.org": ${b1}, "spiffe://example.org": {"keys": []}}}`),
    );
    expect(err.code).toBe('BUNDLE_MAP_DUPLICATE_TRUST_DOMAIN');
  });

  it('a duplicate member inside a member bundle is a document error, not a trust-domain one', () => {
    const err = refusal(() => parseBundleMap('{"trust_domains": {"example.org": {"keys": [], "keys": []}}}'));
    expect(err.code).toBe('BUNDLE_JSON_DUPLICATE_MEMBER');
  });

  it('refuses keys that are not trust-domain names, and passes member-bundle refusals through', () => {
    expect(refusal(() => parseBundleMap('{"trust_domains": {"Example.org": {"keys": []}}}')).code).toBe(
      'BUNDLE_MAP_TRUST_DOMAIN_INVALID',
    );
    const err = refusal(() => parseBundleMap(`{"trust_domains": {"example.org": ${missingKid}}}`));
    expect(err.code).toBe('JWT_BUNDLE_KID_MISSING');
  });

  it('names the trust domain in member warnings', () => {
    const { warnings } = parseBundleMap('{"trust_domains": {"a.test": {"keys": [{"kty": "EC"}]}}}');
    expect(warnings.map((w) => w.code)).toEqual(['BUNDLE_JWK_USE_MISSING', 'BUNDLE_EMPTY']);
    expect(warnings[0]!.message.startsWith('a.test: ')).toBe(true);
  });

  it('writes trust domains sorted by name and reads back the same set', () => {
    const { set } = parseBundleMap(`{"trust_domains": {"z.test": ${b2}, "a.test": ${b1}}}`);
    const text = marshalBundleMap(set, { refreshHint: 60 });
    expect(Object.keys(JSON.parse(text).trust_domains)).toEqual(['a.test', 'z.test']);
    expect(text.endsWith(',"refresh_hint":60}')).toBe(true);
    const back = BundleSet.parseBundleMap(text);
    expect(back.refreshHint).toBe(60);
    for (const td of set.trustDomains()) expect(back.set.get(td)!.equals(set.get(td)!)).toBe(true);
    expect(back.set.marshalBundleMap({ refreshHint: 60 })).toBe(text);
  });
});

describe('BundleSet as X509BundleSource and JwtBundleSource (R20)', () => {
  const a = SpiffeBundle.parse('a.test', b1).bundle;
  const z = SpiffeBundle.parse('z.test', b2).bundle;
  const set = new BundleSet([z, a]);

  it('answers with the bundle of the asked trust domain only', () => {
    expect(set.getJwtBundleForTrustDomain(TrustDomain.parse('a.test')).size).toBe(1);
    expect(set.getJwtBundleForTrustDomain(TrustDomain.parse('z.test')).size).toBe(6);
    expect(set.getX509BundleForTrustDomain(TrustDomain.parse('z.test')).trustDomain.name).toBe('z.test');
    expect(set.getBundleForTrustDomain(TrustDomain.parse('a.test'))).toBe(a);
  });

  it('BUNDLE_NOT_FOUND for anything else, as a verdict', () => {
    for (const fn of [
      () => set.getJwtBundleForTrustDomain(TrustDomain.parse('b.test')),
      () => set.getX509BundleForTrustDomain(TrustDomain.parse('b.test')),
      () => set.getBundleForTrustDomain(TrustDomain.parse('b.test')),
    ]) {
      const err = refusal(fn);
      expect([err.code, err.category, err.rule]).toEqual(['BUNDLE_NOT_FOUND', 'verdict', 20]);
    }
  });

  it('adds, replaces and removes by trust domain', () => {
    const s = new BundleSet([a]);
    s.add(SpiffeBundle.parse('a.test', '{"keys": []}').bundle);
    expect(s.size).toBe(1);
    expect(s.get('a.test')?.isEmpty()).toBe(true);
    expect(s.remove(TrustDomain.parse('a.test'))).toBe(true);
    expect(s.has('a.test')).toBe(false);
  });
});
