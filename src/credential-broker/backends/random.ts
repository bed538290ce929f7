/**
 * Random values for credentials, ids and references. Characters are drawn with
 * `crypto.randomInt`-equivalent rejection sampling, so every character is uniform.
 * Bytes come from the CSPRNG through a pool (as Node does for randomUUID): one call
 * into OpenSSL per few hundred values instead of one per value, each byte used once.
 */
import { hash, randomBytes } from 'node:crypto';
import type { GenerateOptions, SecretValue } from './backend.js';
import { BackendError } from './errors.js';

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGITS = '0123456789';
/** Punctuation that survives URLs, shells in double quotes and most config formats. */
const SYMBOLS = '-_.~!@#%^*+=';
export const BASE62 = DIGITS + UPPER + LOWER;

const POOL_BYTES = 8192;
let pool = Buffer.alloc(0);
let poolOffset = 0;

/** `n` bytes from the CSPRNG, never handed out twice (a view into the pool for small `n`). */
export function randomBytesPooled(n: number): Buffer {
  if (n > POOL_BYTES / 8) return randomBytes(n);
  if (poolOffset + n > pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolOffset = 0;
  }
  const out = pool.subarray(poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}

/** `length` characters drawn uniformly from `alphabet` (at most 256 characters long). */
export function randomString(length: number, alphabet: string): string {
  const n = alphabet.length;
  const limit = 256 - (256 % n);
  let out = '';
  while (out.length < length) {
    const bytes = randomBytesPooled(Math.max(16, Math.ceil((length - out.length) * 1.25)));
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (b >= limit) continue;
      out += alphabet[b % n];
      if (out.length === length) break;
    }
  }
  return out;
}

/**
 * A password with at least one lower-case letter, upper-case letter and digit (and
 * symbol, if asked), which the complexity rules of most databases accept.
 */
export function randomPassword(length = 32, symbols = true): string {
  const classes = symbols ? [LOWER, UPPER, DIGITS, SYMBOLS] : [LOWER, UPPER, DIGITS];
  const alphabet = classes.join('');
  for (;;) {
    const candidate = randomString(length, alphabet);
    if (classes.every((c) => hasAnyOf(candidate, c))) return candidate;
  }
}

function hasAnyOf(text: string, chars: string): boolean {
  for (let i = 0; i < text.length; i++) if (chars.includes(text[i]!)) return true;
  return false;
}

export function randomId(bytes = 16): string {
  return randomBytesPooled(bytes).toString('base64url');
}

/** SHA-256's block size: HMAC pads the key to it. */
const BLOCK = 64;

/**
 * The key of {@link hmacReference}: HMAC-SHA256 (RFC 2104) with its padded keys computed
 * once. Each reference is then two one-shot SHA-256 calls into OpenSSL; `createHmac`
 * builds and frees a native object per call, measurable at one reference per request.
 */
export class ReferenceKey {
  /** K xor ipad, then room for the message. */
  private inner: Buffer;
  /** K xor opad, then the inner digest. */
  private readonly outer = Buffer.alloc(BLOCK + 32);

  constructor(key: Uint8Array) {
    const k = key.length > BLOCK ? hash('sha256', key, 'buffer') : key;
    this.inner = Buffer.alloc(BLOCK + 256);
    for (let i = 0; i < BLOCK; i++) {
      const b = i < k.length ? k[i]! : 0;
      this.inner[i] = b ^ 0x36;
      this.outer[i] = b ^ 0x5c;
    }
  }

  /** HMAC-SHA256 of the UTF-8 bytes of `message`. */
  mac(message: string): Buffer {
    const length = Buffer.byteLength(message);
    if (BLOCK + length > this.inner.length) {
      const grown = Buffer.alloc(BLOCK + length);
      this.inner.copy(grown, 0, 0, BLOCK);
      this.inner = grown;
    }
    this.inner.write(message, BLOCK, 'utf8');
    hash('sha256', this.inner.subarray(0, BLOCK + length), 'buffer').copy(this.outer, BLOCK);
    // The message is usually a secret: it does not stay in this long-lived buffer.
    this.inner.fill(0, BLOCK, BLOCK + length);
    return hash('sha256', this.outer, 'buffer');
  }
}

/** `hmac-sha256:<first 16 bytes, base64url>`: names a value for audit without revealing it. */
export function hmacReference(key: ReferenceKey, value: string): string {
  return `hmac-sha256:${key.mac(value).subarray(0, 16).toString('base64url')}`;
}

/**
 * The next value of a static key: the current fields, with the generated ones replaced.
 * Default fields: `password` if there is one, else the only field.
 */
export function generateNextValue(current: SecretValue, options: GenerateOptions = {}): SecretValue {
  const keys = Object.keys(current);
  let fields = options.fields;
  if (fields === undefined || fields.length === 0) {
    if (keys.includes('password')) fields = ['password'];
    else if (keys.length === 1) fields = keys;
    else
      throw new BackendError(
        'BACKEND_SPEC_INVALID',
        `cannot tell which of the fields ${keys.join(', ')} to generate; name them in generate.fields`,
      );
  }
  const next: SecretValue = { ...current };
  for (const field of fields) next[field] = randomPassword(options.length ?? 32, options.symbols ?? false);
  return next;
}
