import { SpiffeError } from '../errors.js';

export const SCHEME_PREFIX = 'spiffe://';
/** Rule 14: a trust-domain name is at most 255 bytes (the RFC 3986 host limit). */
export const MAX_TRUST_DOMAIN_LENGTH = 255;

// Rule 5: [a-z0-9._-] only; upper case is rejected (N1: strict on input, never emit it).
const TD_CHAR = /^[a-z0-9._-]+$/;

export class TrustDomain {
  private constructor(readonly name: string) {}

  /** Accepts a bare name (`example.org`) or a trust-domain ID (`spiffe://example.org`). */
  static parse(input: string): TrustDomain {
    if (input.startsWith(SCHEME_PREFIX)) {
      const rest = input.slice(SCHEME_PREFIX.length);
      if (rest.includes('/')) {
        throw new SpiffeError(
          'TRUST_DOMAIN_INVALID',
          'input',
          `"${input}" has a path; a trust domain is spiffe://<name> or <name>`,
          { rule: 2 },
        );
      }
      return TrustDomain.parse(rest);
    }
    checkTrustDomainName(input);
    return new TrustDomain(input);
  }

  /** For names already validated by the SPIFFE ID parser. */
  static fromValidatedName(name: string): TrustDomain {
    return new TrustDomain(name);
  }

  /** The trust domain's own SPIFFE ID, `spiffe://<name>`. */
  idString(): string {
    return SCHEME_PREFIX + this.name;
  }

  equals(other: TrustDomain): boolean {
    return this.name === other.name;
  }

  toString(): string {
    return this.name;
  }

  toJSON(): string {
    return this.name;
  }
}

export function checkTrustDomainName(name: string): void {
  if (name.length === 0) {
    throw new SpiffeError('ID_TRUST_DOMAIN_MISSING', 'input', 'trust domain is missing', { rule: 2 });
  }
  if (!TD_CHAR.test(name)) {
    throw new SpiffeError(
      'ID_TRUST_DOMAIN_CHARS',
      'input',
      'trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores',
      { rule: 5 },
    );
  }
  if (name.length > MAX_TRUST_DOMAIN_LENGTH) {
    throw new SpiffeError(
      'ID_TRUST_DOMAIN_TOO_LONG',
      'input',
      `trust domain is ${name.length} bytes; at most ${MAX_TRUST_DOMAIN_LENGTH} are allowed`,
      { rule: 14 },
    );
  }
}
