/**
 * A small DER reader: tag/length/value walking over a Uint8Array without copying.
 * Every `value` handed out is a `subarray` of the input. Only definite lengths
 * (DER) are accepted; anything else throws `DerError`, which callers turn into
 * their own coded error (CERT_MALFORMED, ...).
 */

export class DerError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`${message} at byte ${offset}`);
    this.name = 'DerError';
  }
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  VISIBLE_STRING: 0x1a,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** One element: `tag` is the single identifier byte (high-tag-number form is rejected). */
export interface Tlv {
  readonly tag: number;
  /** Offset of the identifier byte in the input. */
  readonly start: number;
  /** Offset of the first value byte. */
  readonly valueStart: number;
  /** Offset one past the last value byte. */
  readonly end: number;
}

/** Reads one TLV at `pos`, bounded by `limit`. */
export function readTlv(buf: Uint8Array, pos: number, limit: number = buf.length): Tlv {
  if (pos + 2 > limit) throw new DerError('truncated element', pos);
  const tag = buf[pos]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('high tag numbers are not supported', pos);
  let p = pos + 1;
  let len = buf[p++]!;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError('indefinite length is not DER', pos);
    if (n > 4) throw new DerError('length too large', pos);
    if (p + n > limit) throw new DerError('truncated length', pos);
    if (buf[p] === 0) throw new DerError('non-minimal length', pos);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!;
    if (len < 0x80) throw new DerError('non-minimal length', pos);
  }
  const end = p + len;
  if (end > limit) throw new DerError('element runs past its container', pos);
  return { tag, start: pos, valueStart: p, end };
}

/** A forward cursor over the children of one constructed element (or a whole buffer). */
export class DerReader {
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly limit: number = buf.length,
  ) {
    this.pos = start;
  }

  /** Children of a constructed TLV. */
  static of(buf: Uint8Array, tlv: Tlv): DerReader {
    return new DerReader(buf, tlv.valueStart, tlv.end);
  }

  hasMore(): boolean {
    return this.pos < this.limit;
  }

  /** Tag of the next element, or -1 at the end. */
  peekTag(): number {
    return this.pos < this.limit ? this.buf[this.pos]! : -1;
  }

  next(): Tlv {
    const tlv = readTlv(this.buf, this.pos, this.limit);
    this.pos = tlv.end;
    return tlv;
  }

  /** Next element, which must carry `tag`. */
  expect(tag: number, what: string): Tlv {
    if (this.pos >= this.limit) throw new DerError(`missing ${what}`, this.pos);
    const t = this.buf[this.pos]!;
    if (t !== tag) {
      throw new DerError(`expected ${what} (tag 0x${hex2(tag)}), found tag 0x${hex2(t)}`, this.pos);
    }
    return this.next();
  }

  /** Next element when it carries `tag`, else undefined (nothing consumed). */
  optional(tag: number): Tlv | undefined {
    return this.peekTag() === tag ? this.next() : undefined;
  }

  /** Throws unless every byte was consumed. */
  end(what: string): void {
    if (this.pos !== this.limit) throw new DerError(`trailing data in ${what}`, this.pos);
  }
}

export function value(buf: Uint8Array, tlv: Tlv): Uint8Array {
  return buf.subarray(tlv.valueStart, tlv.end);
}

export function whole(buf: Uint8Array, tlv: Tlv): Uint8Array {
  return buf.subarray(tlv.start, tlv.end);
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => hex2(i));

export function toHex(bytes: Uint8Array, start = 0, end = bytes.length): string {
  if (end - start > 8)
    return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('hex');
  let s = '';
  for (let i = start; i < end; i++) s += HEX[bytes[i]!];
  return s;
}

/** Dotted OID text from the value bytes of an OBJECT IDENTIFIER. */
export function decodeOid(buf: Uint8Array, tlv: Tlv): string {
  const { valueStart: s, end: e } = tlv;
  if (s === e) throw new DerError('empty OBJECT IDENTIFIER', tlv.start);
  let out = '';
  let v = 0;
  let first = true;
  for (let i = s; i < e; i++) {
    const b = buf[i]!;
    if (v === 0 && b === 0x80) throw new DerError('non-minimal OID arc', i);
    v = v * 128 + (b & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OID arc too large', i);
    if (b & 0x80) continue;
    if (first) {
      const a = v < 40 ? 0 : v < 80 ? 1 : 2;
      out = `${a}.${v - a * 40}`;
      first = false;
    } else {
      out += `.${v}`;
    }
    v = 0;
  }
  if (buf[e - 1]! & 0x80) throw new DerError('truncated OID arc', e - 1);
  return out;
}

/** Memoised OID decoding for the handful of OIDs certificates repeat (no string built on a hit). */
const oidCache = new Map<number, { bytes: Uint8Array; oid: string }[]>();
let oidCacheEntries = 0;

export function oidOf(buf: Uint8Array, tlv: Tlv): string {
  const { valueStart: s, end: e } = tlv;
  let h = 0x811c9dc5;
  for (let i = s; i < e; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  const bucket = oidCache.get(h);
  if (bucket !== undefined) {
    for (const entry of bucket) if (sameBytes(entry.bytes, buf, s, e)) return entry.oid;
  }
  const oid = decodeOid(buf, tlv);
  if (oidCacheEntries < 4096) {
    const entry = { bytes: buf.slice(s, e), oid };
    if (bucket === undefined) oidCache.set(h, [entry]);
    else bucket.push(entry);
    oidCacheEntries++;
  }
  return oid;
}

function sameBytes(a: Uint8Array, buf: Uint8Array, s: number, e: number): boolean {
  if (a.length !== e - s) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== buf[s + i]) return false;
  return true;
}

/** A small non-negative INTEGER (e.g. version, pathLen) as a number. */
export function decodeSmallInt(buf: Uint8Array, tlv: Tlv): number {
  const { valueStart: s, end: e } = tlv;
  if (s === e) throw new DerError('empty INTEGER', tlv.start);
  if (buf[s]! & 0x80) throw new DerError('negative INTEGER where a non-negative one is required', tlv.start);
  if (e - s > 6) throw new DerError('INTEGER too large', tlv.start);
  let v = 0;
  for (let i = s; i < e; i++) v = v * 256 + buf[i]!;
  return v;
}

export function decodeBoolean(buf: Uint8Array, tlv: Tlv): boolean {
  if (tlv.end - tlv.valueStart !== 1) throw new DerError('BOOLEAN must be one byte', tlv.start);
  const b = buf[tlv.valueStart]!;
  if (b !== 0 && b !== 0xff) throw new DerError('BOOLEAN must be 0x00 or 0xff', tlv.start);
  return b === 0xff;
}

/** BIT STRING contents: the unused-bits count and the bytes that follow it. */
export function decodeBitString(buf: Uint8Array, tlv: Tlv): { unusedBits: number; bytes: Uint8Array } {
  if (tlv.end === tlv.valueStart) throw new DerError('empty BIT STRING', tlv.start);
  const unusedBits = buf[tlv.valueStart]!;
  if (unusedBits > 7) throw new DerError('BIT STRING unused bits > 7', tlv.start);
  if (unusedBits > 0 && tlv.end - tlv.valueStart === 1) throw new DerError('BIT STRING padding', tlv.start);
  return { unusedBits, bytes: buf.subarray(tlv.valueStart + 1, tlv.end) };
}

function digits(buf: Uint8Array, at: number, n: number, tlv: Tlv): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = buf[i]! - 0x30;
    if (c < 0 || c > 9) throw new DerError('time contains a non-digit', tlv.start);
    v = v * 10 + c;
  }
  return v;
}

/** UTCTime (YYMMDDHHMMSSZ, RFC 5280 window 1950-2049) or GeneralizedTime (YYYYMMDDHHMMSSZ). */
export function decodeTime(buf: Uint8Array, tlv: Tlv): Date {
  const s = tlv.valueStart;
  const len = tlv.end - s;
  let year: number;
  let p: number;
  if (tlv.tag === TAG.UTC_TIME) {
    if (len !== 13) throw new DerError('UTCTime must be YYMMDDHHMMSSZ', tlv.start);
    const yy = digits(buf, s, 2, tlv);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    p = s + 2;
  } else if (tlv.tag === TAG.GENERALIZED_TIME) {
    if (len !== 15) throw new DerError('GeneralizedTime must be YYYYMMDDHHMMSSZ', tlv.start);
    year = digits(buf, s, 4, tlv);
    p = s + 4;
  } else {
    throw new DerError('expected UTCTime or GeneralizedTime', tlv.start);
  }
  if (buf[tlv.end - 1] !== 0x5a) throw new DerError('time must end in Z', tlv.start);
  const month = digits(buf, p, 2, tlv);
  const day = digits(buf, p + 2, 2, tlv);
  const hour = digits(buf, p + 4, 2, tlv);
  const minute = digits(buf, p + 6, 2, tlv);
  const second = digits(buf, p + 8, 2, tlv);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
    throw new DerError('time field out of range', tlv.start);
  }
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const d = new Date(ms);
  if (d.getUTCDate() !== day) throw new DerError('day out of range for month', tlv.start);
  if (year < 100) d.setUTCFullYear(year);
  return d;
}

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The text of a directory/IA5 string (UTF8, Printable, IA5, T61, BMP, Universal). */
export function decodeString(buf: Uint8Array, tlv: Tlv): string {
  const bytes = buf.subarray(tlv.valueStart, tlv.end);
  switch (tlv.tag) {
    case TAG.UTF8_STRING:
      try {
        return utf8.decode(bytes);
      } catch {
        throw new DerError('invalid UTF-8', tlv.start);
      }
    case TAG.BMP_STRING: {
      if (bytes.length % 2) throw new DerError('odd-length BMPString', tlv.start);
      let s = '';
      for (let i = 0; i < bytes.length; i += 2) s += String.fromCharCode((bytes[i]! << 8) | bytes[i + 1]!);
      return s;
    }
    case TAG.UNIVERSAL_STRING: {
      if (bytes.length % 4) throw new DerError('bad UniversalString length', tlv.start);
      let s = '';
      for (let i = 0; i < bytes.length; i += 4) {
        s += String.fromCodePoint(
          ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0,
        );
      }
      return s;
    }
    default:
      return latin1.decode(bytes);
  }
}

/** ASCII text (IA5String bodies in SANs); bytes >= 0x80 are kept as Latin-1 so callers can reject them. */
export function decodeAscii(buf: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]!);
  return s;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
