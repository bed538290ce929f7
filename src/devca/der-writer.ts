// Just enough DER encoding to issue certificates: the dev CA, the demo mesh and the
// benchmarks mint their own material without a pure-JS crypto stack.

export type Der = Uint8Array;

function lengthBytes(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return [0x80 | out.length, ...out];
}

export function tlv(tag: number, ...content: Der[]): Der {
  const body = concat(content);
  const len = lengthBytes(body.length);
  const out = new Uint8Array(1 + len.length + body.length);
  out[0] = tag;
  out.set(len, 1);
  out.set(body, 1 + len.length);
  return out;
}

export function concat(parts: Der[]): Der {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export const seq = (...c: Der[]): Der => tlv(0x30, ...c);
export const set = (...c: Der[]): Der => tlv(0x31, ...c);
export const octets = (b: Der): Der => tlv(0x04, b);
export const nul = (): Der => new Uint8Array([0x05, 0x00]);
export const bool = (v: boolean): Der => new Uint8Array([0x01, 0x01, v ? 0xff : 0x00]);
export const explicit = (n: number, ...c: Der[]): Der => tlv(0xa0 | n, ...c);
export const utf8 = (s: string): Der => tlv(0x0c, Buffer.from(s, 'utf8'));
export const printable = (s: string): Der => tlv(0x13, Buffer.from(s, 'ascii'));
export const ia5 = (tag: number, s: string): Der => tlv(tag, Buffer.from(s, 'ascii'));

/** Non-negative INTEGER from big-endian bytes or a bigint. */
export function integer(value: bigint | Der): Der {
  let bytes: number[];
  if (typeof value === 'bigint') {
    bytes = [];
    for (let v = value; v > 0n; v >>= 8n) bytes.unshift(Number(v & 0xffn));
    if (bytes.length === 0) bytes = [0];
  } else {
    bytes = [...value];
    while (bytes.length > 1 && bytes[0] === 0 && (bytes[1]! & 0x80) === 0) bytes.shift();
  }
  if (bytes[0]! & 0x80) bytes.unshift(0);
  return tlv(0x02, new Uint8Array(bytes));
}

export function oid(dotted: string): Der {
  const parts = dotted.split('.').map((p) => BigInt(p));
  const out: number[] = [Number(parts[0]! * 40n + parts[1]!)];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [];
    let v = p;
    do {
      chunk.unshift(Number(v & 0x7fn));
      v >>= 7n;
    } while (v > 0n);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i]! |= 0x80;
    out.push(...chunk);
  }
  return tlv(0x06, new Uint8Array(out));
}

export function bitString(bytes: Der, unusedBits = 0): Der {
  return tlv(0x03, new Uint8Array([unusedBits]), bytes);
}

/** RFC 5280 time: UTCTime through 2049, GeneralizedTime after. */
export function time(d: Date): Der {
  const iso = d.toISOString();
  const y = d.getUTCFullYear();
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  return y < 2050 && y >= 1950
    ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`))
    : tlv(0x18, Buffer.from(`${digits}Z`));
}
