import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hmacReference, ReferenceKey } from '../../../src/credential-broker/backends/random.js';

// ReferenceKey computes HMAC-SHA256 from two SHA-256 calls (RFC 2104); node's createHmac is the referee.
describe('ReferenceKey', () => {
  const messages = [
    '',
    'a',
    'orders-db password 0g33j-X4JZGWJc1cw=YeoD@=Ye8_Cntt',
    'ü€😀 non-ASCII',
    'x'.repeat(192),
    'y'.repeat(256),
    'z'.repeat(5000),
  ];

  for (const keyLength of [1, 16, 32, 64, 65, 200]) {
    it(`matches createHmac for a ${keyLength}-byte key, short and long messages alike`, () => {
      const key = randomBytes(keyLength);
      const ref = new ReferenceKey(key);
      for (const m of messages)
        expect(ref.mac(m).equals(createHmac('sha256', key).update(m).digest())).toBe(true);
      // Once grown for a long message, short ones still come out right (no stale bytes).
      for (const m of [...messages].reverse())
        expect(ref.mac(m).toString('hex')).toBe(createHmac('sha256', key).update(m).digest('hex'));
    });
  }

  it('names a value by the first 16 bytes of its HMAC, never the value itself', () => {
    const key = randomBytes(32);
    const value = 'hunter2-hunter2-hunter2';
    const reference = hmacReference(new ReferenceKey(key), value);
    expect(reference).toBe(
      `hmac-sha256:${createHmac('sha256', key).update(value).digest().subarray(0, 16).toString('base64url')}`,
    );
    expect(reference).not.toContain(value);
  });

  it('keeps no copy of the value it named in its reusable buffer', () => {
    const ref = new ReferenceKey(randomBytes(32));
    const value = 'correct-horse-battery-staple';
    hmacReference(ref, value);
    const inner = (ref as unknown as { inner: Buffer }).inner;
    expect(inner.includes(value)).toBe(false);
  });
});
