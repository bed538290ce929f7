import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonReadError, readJson, writeJsonValue } from '../../../src/spiffe/bundle/json.js';

function readError(text: string | Uint8Array): JsonReadError {
  try {
    readJson(text);
  } catch (err) {
    expect(err).toBeInstanceOf(JsonReadError);
    return err as JsonReadError;
  }
  throw new Error('expected an error');
}

describe('strict JSON reader', () => {
  it('reads what JSON.parse reads, integers beyond 2^53 aside (property)', () => {
    const asNumbers = (v: unknown): unknown =>
      typeof v === 'bigint'
        ? Number(v)
        : Array.isArray(v)
          ? v.map(asNumbers)
          : typeof v === 'object' && v !== null
            ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, asNumbers(x)]))
            : v;
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(0, 2, 4), (v, indent) => {
        const text = JSON.stringify(v, null, indent);
        expect(asNumbers(readJson(text))).toEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it('writes what JSON.stringify writes (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(0, 2, 4), (v, indent) => {
        const plain = JSON.parse(JSON.stringify(v));
        expect(writeJsonValue(plain, indent)).toBe(JSON.stringify(plain, null, indent));
      }),
      { numRuns: 300 },
    );
  });

  it('R67: reports a duplicate member with its path', () => {
    const err = readError('{"a": {"b": 1, "b": 2}}');
    expect([err.kind, err.key, err.path]).toEqual(['duplicate', 'b', ['a']]);
    expect(readError('[{"x":1},{"x":1,"x":1}]').path).toEqual([1]);
  });

  it('R57: keeps integers beyond 2^53 exact, as bigint, and writes them back unchanged', () => {
    const v = readJson('{"s": 18446744073709551615, "n": -9007199254740993, "f": 1.5, "i": 42}') as Record<
      string,
      unknown
    >;
    expect(v).toEqual({ s: 18446744073709551615n, n: -9007199254740993n, f: 1.5, i: 42 });
    expect(writeJsonValue(v)).toBe('{"s":18446744073709551615,"n":-9007199254740993,"f":1.5,"i":42}');
  });

  it('keeps "__proto__" an ordinary member', () => {
    const v = readJson('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.hasOwn(v, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each(['', '{', '{"a":}', '[1,]', '{"a":1,}', '01', '"\\x"', '"a\nb"', 'tru', '{} x', 'NaN'])(
    'refuses %j',
    (text) => {
      expect(readError(text).kind).toBe('syntax');
    },
  );

  it('limits nesting and refuses invalid UTF-8', () => {
    expect(readError('['.repeat(100) + ']'.repeat(100)).kind).toBe('depth');
    expect(readError(Buffer.from([0x22, 0xc3, 0x28, 0x22])).kind).toBe('encoding');
    expect(readJson(Buffer.from('\ufeff{"a":1}'))).toEqual({ a: 1 });
  });
});
