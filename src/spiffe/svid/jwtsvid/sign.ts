import { sign as cryptoSign, type KeyObject } from 'node:crypto';
import { type Clock, SpiffeError, systemClock } from '../../errors.js';
import { SpiffeId } from '../../spiffeid/index.js';
import { cryptoPlan, defaultAlgorithmFor, isJwtSvidAlgorithm, type JwtSvidAlgorithm } from './algorithms.js';

export interface SignJwtSvidOptions {
  /** The workload's SPIFFE ID (`sub`, rule 47). */
  id: SpiffeId | string;
  /** One or more audiences (`aud`, rule 48). A single one is written as a string (N8). */
  audience: string | string[];
  /** Lifetime in seconds (default 300). */
  ttl?: number;
  /** The authority's private key. */
  key: KeyObject;
  /** The authority's key ID, as published in the bundle (rule 52; go-spiffe validators need it, N6). */
  kid: string;
  /** Default: ES256/ES384/ES512 by curve, RS256 for RSA, PS256 for RSA-PSS. */
  alg?: JwtSvidAlgorithm;
  clock?: Clock;
  /** Extra claims (`iss`, `jti`, ...). `sub`, `aud`, `exp`, `iat` and `nbf` are set here and cannot be overridden. */
  claims?: Record<string, unknown>;
}

export const DEFAULT_JWT_SVID_TTL_SECONDS = 300;
const RESERVED = new Set(['sub', 'aud', 'exp', 'iat', 'nbf']);

/**
 * Mints a JWT-SVID in compact form. The header holds `alg`, `kid` and
 * `typ: "JWT"` and nothing else (rule 42); claims are `sub`, `aud`, `exp`, `iat`
 * plus any extra ones. Throws `JWT_SIGN_INVALID` ('input') on bad options.
 */
export function signJwtSvid(options: SignJwtSvidOptions): string {
  const id = typeof options.id === 'string' ? SpiffeId.parse(options.id) : options.id;
  const audience = typeof options.audience === 'string' ? [options.audience] : options.audience;
  if (
    !Array.isArray(audience) ||
    audience.length === 0 ||
    !audience.every((a) => typeof a === 'string' && a !== '')
  ) {
    throw invalid('audience must be a non-empty string or a non-empty array of them');
  }
  if (typeof options.kid !== 'string' || options.kid === '') throw invalid('kid must be a non-empty string');
  const ttl = options.ttl ?? DEFAULT_JWT_SVID_TTL_SECONDS;
  if (!Number.isFinite(ttl) || ttl <= 0) throw invalid('ttl must be a positive number of seconds');
  const key = options.key;
  if (key?.type !== 'private') throw invalid('key must be a private KeyObject');
  const alg = options.alg ?? defaultAlgorithmFor(key);
  if (alg === undefined || !isJwtSvidAlgorithm(alg)) {
    throw invalid(`no JWT-SVID algorithm fits a ${key.asymmetricKeyType} key (RS*, PS*, ES256/384/512 only)`);
  }
  const plan = cryptoPlan(key, alg);
  if (typeof plan === 'string') throw invalid(plan);

  const extra = options.claims ?? {};
  for (const name of Object.keys(extra)) {
    if (RESERVED.has(name))
      throw invalid(`claim "${name}" is set by signJwtSvid and cannot be passed in claims`);
  }
  const now = Math.floor((options.clock ?? systemClock)().getTime() / 1000);
  const header = { alg, kid: options.kid, typ: 'JWT' };
  const payload = {
    ...extra,
    sub: id.toString(),
    aud: audience.length === 1 ? audience[0] : audience,
    exp: now + Math.ceil(ttl),
    iat: now,
  };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const signature = cryptoSign(plan.hash, Buffer.from(input, 'latin1'), plan.key);
  return `${input}.${signature.toString('base64url')}`;
}

function b64url(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64url');
}

function invalid(message: string): SpiffeError {
  return new SpiffeError('JWT_SIGN_INVALID', 'input', `cannot sign JWT-SVID: ${message}`);
}
