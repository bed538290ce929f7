import { SpiffeError } from '../errors.js';
import { checkTrustDomainName, SCHEME_PREFIX, TrustDomain } from './trustdomain.js';

/** Rule 13: validators accept at least this much; producers should not emit more. */
export const RECOMMENDED_MAX_ID_LENGTH = 2048;

const PATH_CHAR = /^[a-zA-Z0-9._-]+$/;

/** A parsed, valid SPIFFE ID. Immutable; compare with `equals` or by `toString()`. */
export class SpiffeId {
  private readonly text: string;

  private constructor(
    readonly trustDomain: TrustDomain,
    /** `''` for a trust-domain ID, otherwise `/seg/seg`. */
    readonly path: string,
  ) {
    this.text = SCHEME_PREFIX + trustDomain.name + path;
  }

  static parse(input: string): SpiffeId {
    if (input.length === 0) {
      throw new SpiffeError('ID_EMPTY', 'input', 'SPIFFE ID cannot be empty', { rule: 1 });
    }
    if (!input.startsWith(SCHEME_PREFIX)) {
      throw new SpiffeError('ID_SCHEME', 'input', 'scheme is missing or invalid; expected spiffe://', {
        rule: 1,
      });
    }
    const rest = input.slice(SCHEME_PREFIX.length);
    const slash = rest.indexOf('/');
    const tdName = slash === -1 ? rest : rest.slice(0, slash);
    checkTrustDomainName(tdName);
    const path = slash === -1 ? '' : rest.slice(slash);
    checkPath(path);
    return new SpiffeId(TrustDomain.fromValidatedName(tdName), path);
  }

  static fromPath(trustDomain: TrustDomain, path: string): SpiffeId {
    checkPath(path);
    return new SpiffeId(trustDomain, path);
  }

  /** Path segments, without the leading slash; `[]` for a trust-domain ID. */
  segments(): string[] {
    return this.path === '' ? [] : this.path.slice(1).split('/');
  }

  /** Rule 23: a leaf SVID's ID must have a non-root path. */
  isTrustDomainId(): boolean {
    return this.path === '';
  }

  memberOf(td: TrustDomain): boolean {
    return this.trustDomain.equals(td);
  }

  equals(other: SpiffeId): boolean {
    return this.text === other.text;
  }

  toString(): string {
    return this.text;
  }

  toJSON(): string {
    return this.text;
  }
}

/** Validates a path (`''` or `/seg[/seg...]`) against rules 8-12. */
export function checkPath(path: string): void {
  if (path === '') return;
  if (path[0] !== '/') {
    throw new SpiffeError('ID_PATH_INVALID', 'input', 'path must start with a slash', { rule: 8 });
  }
  const segments = path.slice(1).split('/');
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    if (seg === '') {
      if (i === segments.length - 1) {
        throw new SpiffeError('ID_PATH_TRAILING_SLASH', 'input', 'path cannot have a trailing slash', {
          rule: 12,
        });
      }
      throw new SpiffeError('ID_PATH_EMPTY_SEGMENT', 'input', 'path cannot contain empty segments', {
        rule: 10,
      });
    }
    if (seg === '.' || seg === '..') {
      throw new SpiffeError('ID_PATH_DOT_SEGMENT', 'input', 'path cannot contain dot segments', { rule: 11 });
    }
    if (!PATH_CHAR.test(seg)) {
      throw new SpiffeError(
        'ID_PATH_CHARS',
        'input',
        'path segment characters are limited to letters, numbers, dots, dashes, and underscores',
        { rule: 8 },
      );
    }
  }
}

export type IdCheck =
  | { id: string; valid: true }
  | { id: string; valid: false; code: string; message: string };

/** A verdict instead of an exception: for batch checks (`meshbridge id check`). */
export function checkSpiffeId(input: string): IdCheck {
  try {
    SpiffeId.parse(input);
    return { id: input, valid: true };
  } catch (err) {
    if (err instanceof SpiffeError) return { id: input, valid: false, code: err.code, message: err.message };
    throw err;
  }
}
