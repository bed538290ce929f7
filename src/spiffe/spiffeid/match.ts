import { SpiffeError } from '../errors.js';
import { SpiffeId } from './id.js';
import { TrustDomain } from './trustdomain.js';

/** Decides whether an authenticated ID is acceptable (go-spiffe's `spiffeid.Matcher`). */
export type Matcher = (id: SpiffeId) => boolean;

export const matchAny: Matcher = () => true;

export function matchId(expected: SpiffeId): Matcher {
  const text = expected.toString();
  return (id) => id.toString() === text;
}

export function matchOneOf(...expected: SpiffeId[]): Matcher {
  const set = new Set(expected.map(String));
  return (id) => set.has(id.toString());
}

export function matchMemberOf(td: TrustDomain): Matcher {
  return (id) => id.trustDomain.equals(td);
}

/** Whole-segment prefix: `/ns/a` matches `/ns/a` and `/ns/a/x`, never `/ns/ab`. */
export function matchPathPrefix(td: TrustDomain, prefix: string): Matcher {
  const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return (id) => id.trustDomain.equals(td) && (id.path === p || id.path.startsWith(`${p}/`) || p === '');
}

/**
 * A glob over SPIFFE IDs, per path segment: `*` matches any run of characters inside
 * one segment (`payments-*`), a segment `**` matches zero or more whole segments.
 * The trust domain is literal. `spiffe://td/**` is every member of `td`.
 */
export function matchGlob(pattern: string): Matcher {
  const { td, segments } = parseGlob(pattern);
  const compiled = segments.map((s) => (s === '**' ? null : segmentRegex(s)));
  return (id) => id.trustDomain.equals(td) && globMatch(compiled, 0, id.segments(), 0);
}

/** `spiffe://...` without `*` is an exact match, with `*` a glob (see matchGlob). */
export function parseMatcher(spec: string): Matcher {
  return spec.includes('*') ? matchGlob(spec) : matchId(SpiffeId.parse(spec));
}

function parseGlob(pattern: string): { td: TrustDomain; segments: string[] } {
  const prefix = 'spiffe://';
  if (!pattern.startsWith(prefix)) {
    throw new SpiffeError('ID_PATTERN_INVALID', 'input', `pattern "${pattern}" must start with spiffe://`);
  }
  const rest = pattern.slice(prefix.length);
  const slash = rest.indexOf('/');
  const td = TrustDomain.parse(slash === -1 ? rest : rest.slice(0, slash));
  const path = slash === -1 ? '' : rest.slice(slash + 1);
  const segments = path === '' ? [] : path.split('/');
  for (const seg of segments) {
    if (seg === '' || !/^[a-zA-Z0-9._*-]+$/.test(seg) || (seg.includes('**') && seg !== '**')) {
      throw new SpiffeError(
        'ID_PATTERN_INVALID',
        'input',
        `pattern "${pattern}" has an invalid segment "${seg}"`,
      );
    }
  }
  return { td, segments };
}

function segmentRegex(seg: string): RegExp {
  const body = seg
    .split('*')
    .map((part) => part.replace(/[.\\^$+?()[\]{}|-]/g, '\\$&'))
    .join('[^/]*');
  return new RegExp(`^${body}$`);
}

function globMatch(pat: (RegExp | null)[], pi: number, segs: string[], si: number): boolean {
  if (pi === pat.length) return si === segs.length;
  const p = pat[pi];
  if (p === null) {
    for (let k = si; k <= segs.length; k++) if (globMatch(pat, pi + 1, segs, k)) return true;
    return false;
  }
  return si < segs.length && p!.test(segs[si]!) && globMatch(pat, pi + 1, segs, si + 1);
}
