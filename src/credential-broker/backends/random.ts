/**
 * Random values for credentials and references. Characters are drawn with
 * `crypto.randomInt`-equivalent rejection sampling, so every character is uniform.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { GenerateOptions, SecretValue } from './backend.js';
import { BackendError } from './errors.js';

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGITS = '0123456789';
/** Punctuation that survives URLs, shells in double quotes and most config formats. */
const SYMBOLS = '-_.~!@#%^*+=';
export const BASE62 = DIGITS + UPPER + LOWER;

/** `length` characters drawn uniformly from `alphabet` (at most 256 characters long). */
export function randomString(length: number, alphabet: string): string {
  const n = alphabet.length;
  const limit = 256 - (256 % n);
  let out = '';
  while (out.length < length) {
    const bytes = randomBytes(Math.max(16, (length - out.length) * 2));
    for (const b of bytes) {
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
    if (classes.every((c) => [...candidate].some((ch) => c.includes(ch)))) return candidate;
  }
}

export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}

/** `hmac-sha256:<first 16 bytes, base64url>`: names a value for audit without revealing it. */
export function hmacReference(key: Uint8Array, value: string): string {
  return `hmac-sha256:${createHmac('sha256', key).update(value).digest().subarray(0, 16).toString('base64url')}`;
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
