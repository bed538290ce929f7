import { describe, expect, it } from 'vitest';
import {
  DerError,
  DerReader,
  decodeBitString,
  decodeOid,
  decodeSmallInt,
  decodeTime,
  readTlv,
  TAG,
  toHex,
} from '../../../src/spiffe/internal/der.js';

const bytes = (...b: number[]) => new Uint8Array(b);
const ascii = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
function tlv(tag: number, body: Uint8Array): Uint8Array {
  return bytes(tag, body.length, ...body);
}

describe('readTlv walks tag/length/value without copying', () => {
  it('reads short and long definite lengths', () => {
    expect(readTlv(bytes(0x04, 0x02, 0xaa, 0xbb), 0)).toEqual({ tag: 4, start: 0, valueStart: 2, end: 4 });
    const long = new Uint8Array(3 + 200);
    long.set([0x04, 0x81, 200]);
    expect(readTlv(long, 0)).toMatchObject({ valueStart: 3, end: 203 });
  });

  it.each([
    ['indefinite length', bytes(0x30, 0x80, 0, 0)],
    ['non-minimal long form', bytes(0x04, 0x81, 0x05, 1, 2, 3, 4, 5)],
    ['leading zero length byte', bytes(0x04, 0x82, 0x00, 0x90)],
    ['value past the end', bytes(0x04, 0x05, 1, 2)],
    ['truncated header', bytes(0x04)],
    ['high tag number', bytes(0x1f, 0x01, 0x00)],
  ])('rejects %s', (_name, input) => {
    expect(() => readTlv(input, 0)).toThrow(DerError);
  });

  it('hands out subarrays of the input (no copies)', () => {
    const buf = bytes(0x30, 0x03, 0x02, 0x01, 0x07);
    const r = new DerReader(buf);
    const seq = r.expect(TAG.SEQUENCE, 'seq');
    const inner = DerReader.of(buf, seq).expect(TAG.INTEGER, 'int');
    expect(decodeSmallInt(buf, inner)).toBe(7);
    r.end('input');
  });

  it('DerReader.end reports trailing data', () => {
    const r = new DerReader(bytes(0x05, 0x00, 0x05, 0x00));
    r.next();
    expect(() => r.end('input')).toThrow(/trailing data/);
  });
});

describe('primitive decoders', () => {
  it.each([
    ['2a864886f70d01010b', '1.2.840.113549.1.1.11'],
    ['2a8648ce3d030107', '1.2.840.10045.3.1.7'],
    ['551d11', '2.5.29.17'],
    ['2b6570', '1.3.101.112'],
    ['883703', '2.999.3'],
  ])('OID %s is %s', (hex, oid) => {
    const body = new Uint8Array(Buffer.from(hex, 'hex'));
    const buf = tlv(TAG.OID, body);
    expect(decodeOid(buf, readTlv(buf, 0))).toBe(oid);
  });

  it.each([
    ['UTCTime 1950 window: 49 → 2049', TAG.UTC_TIME, '491231235959Z', '2049-12-31T23:59:59.000Z'],
    ['UTCTime 1950 window: 50 → 1950', TAG.UTC_TIME, '500101000000Z', '1950-01-01T00:00:00.000Z'],
    ['GeneralizedTime after 2049', TAG.GENERALIZED_TIME, '21000328120000Z', '2100-03-28T12:00:00.000Z'],
  ])('%s', (_name, tag, text, iso) => {
    const buf = tlv(tag, ascii(text));
    expect(decodeTime(buf, readTlv(buf, 0)).toISOString()).toBe(iso);
  });

  it.each([
    ['no Z', TAG.UTC_TIME, '4912312359590'],
    ['fractional seconds', TAG.GENERALIZED_TIME, '20200101000000.5Z'],
    ['month 13', TAG.UTC_TIME, '201301000000Z'],
    ['February 30', TAG.UTC_TIME, '200230000000Z'],
    ['non-digit', TAG.UTC_TIME, '20a101000000Z'],
  ])('rejects a time with %s', (_name, tag, text) => {
    const buf = tlv(tag, ascii(text));
    expect(() => decodeTime(buf, readTlv(buf, 0))).toThrow(DerError);
  });

  it('BIT STRING keeps unused-bit count and rejects > 7', () => {
    const ok = bytes(0x03, 0x02, 0x07, 0x80);
    expect(decodeBitString(ok, readTlv(ok, 0))).toMatchObject({ unusedBits: 7 });
    const bad = bytes(0x03, 0x02, 0x08, 0x80);
    expect(() => decodeBitString(bad, readTlv(bad, 0))).toThrow(DerError);
  });

  it('toHex is lowercase', () => {
    expect(toHex(bytes(0x00, 0xab, 0xff))).toBe('00abff');
  });
});
