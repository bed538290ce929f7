/**
 * The built-in issuer: credentials minted per request, living exactly their TTL.
 *  - `password`: random, with every character class a database's complexity rule wants;
 *  - `api-key`: `<prefix><base62>`, the prefix lets secret scanners recognise a leak;
 *  - `token`: `v1.<payload b64url>.<mac b64url>`, the MAC an HMAC-SHA256 over
 *    `v1.<payload b64url>` with the signing key, the payload JSON
 *    `{"v":1,"sub","cred","iat","exp","jti"[,"aud"][,"kid"]}` (times in seconds).
 *    A downstream system holding the key checks it with `verifyEphemeralToken`.
 *
 * Revocation is in memory: `revoke(id)` makes `verifyToken`/`checkValue` of this
 * backend refuse the credential until it expires. Leases themselves are persisted by
 * the broker, which calls `revoke` again after a restart if it must.
 */
import {
  createHmac,
  createSecretKey,
  hkdfSync,
  type KeyObject,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { type Clock, systemClock } from '../../spiffe/errors.js';
import type { BackendHealth, CredentialBackend, IssuedCredential, IssueRequest } from './backend.js';
import { BackendError } from './errors.js';
import { BASE62, hmacReference, ReferenceKey, randomId, randomPassword, randomString } from './random.js';
import type { EphemeralCredentialSpec } from './schemas.js';

export interface EphemeralTokenClaims {
  v: 1;
  /** The SPIFFE ID the token was issued to. */
  sub: string;
  /** The credential name in the policy. */
  cred: string;
  /** Issued at, seconds since the epoch. */
  iat: number;
  /** Expires at, seconds since the epoch; invalid from this second on. */
  exp: number;
  /** Token id: what `revoke` takes. */
  jti: string;
  aud?: string;
  kid?: string;
}

export type EphemeralKey = Uint8Array | KeyObject;

const TOKEN_PREFIX = 'v1.';
const MIN_KEY_BYTES = 32;
const B64URL = /^[A-Za-z0-9_-]+$/;

/** A signing key from its base64 or base64url text form; at least 32 bytes. */
export function decodeEphemeralKey(text: string): Buffer {
  const trimmed = text.trim();
  const key = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (key.length < MIN_KEY_BYTES)
    throw new BackendError(
      'BACKEND_CONFIG_INVALID',
      `the ephemeral signing key must be at least ${MIN_KEY_BYTES} bytes, base64; generate one with "openssl rand -base64 32"`,
    );
  return key;
}

function mac(key: EphemeralKey, signingInput: string): Buffer {
  return createHmac('sha256', key).update(signingInput).digest();
}

export function signEphemeralToken(claims: EphemeralTokenClaims, key: EphemeralKey): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const input = `${TOKEN_PREFIX}${payload}`;
  return `${input}.${mac(key, input).toString('base64url')}`;
}

export interface VerifyEphemeralTokenOptions {
  /** Require this `aud`. */
  audience?: string;
  /** Accept a token up to this many seconds past `exp` (clock skew; default 0). */
  leewaySeconds?: number;
}

function malformed(why: string): BackendError {
  return new BackendError('EPHEMERAL_TOKEN_MALFORMED', `not a meshbridge ephemeral token: ${why}`);
}

/**
 * Check a token's MAC, then its expiry (and audience, if asked). The MAC is checked
 * before anything in the payload is believed. Throws BackendError with an
 * EPHEMERAL_TOKEN_* code; never echoes the token.
 */
export function verifyEphemeralToken(
  token: string,
  key: EphemeralKey,
  clock: Clock = systemClock,
  options: VerifyEphemeralTokenOptions = {},
): EphemeralTokenClaims {
  if (typeof token !== 'string' || !token.startsWith(TOKEN_PREFIX))
    throw malformed('it does not start with "v1."');
  const parts = token.split('.');
  if (parts.length !== 3) throw malformed('it must have three dot-separated parts');
  const [, payload, sig] = parts as [string, string, string];
  if (!B64URL.test(payload) || !B64URL.test(sig)) throw malformed('payload and MAC must be base64url');
  const given = Buffer.from(sig, 'base64url');
  const expected = mac(key, `${TOKEN_PREFIX}${payload}`);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    throw new BackendError(
      'EPHEMERAL_TOKEN_SIGNATURE_INVALID',
      'the token MAC does not match: it was altered or signed with another key',
    );
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw malformed('the payload is not JSON');
  }
  const c = claims as Partial<EphemeralTokenClaims>;
  if (
    c === null ||
    typeof c !== 'object' ||
    c.v !== 1 ||
    typeof c.sub !== 'string' ||
    typeof c.cred !== 'string' ||
    typeof c.jti !== 'string' ||
    !Number.isInteger(c.iat) ||
    !Number.isInteger(c.exp) ||
    (c.exp as number) <= (c.iat as number)
  )
    throw malformed('the payload lacks v, sub, cred, iat, exp or jti');
  const now = clock().getTime();
  if (now >= ((c.exp as number) + (options.leewaySeconds ?? 0)) * 1000)
    throw new BackendError(
      'EPHEMERAL_TOKEN_EXPIRED',
      `the token expired at ${new Date((c.exp as number) * 1000).toISOString()}; fetch a new one from the broker`,
    );
  if (options.audience !== undefined && c.aud !== options.audience)
    throw new BackendError(
      'EPHEMERAL_TOKEN_AUDIENCE_MISMATCH',
      `the token is for audience ${JSON.stringify(c.aud ?? null)}, not ${JSON.stringify(options.audience)}`,
    );
  return c as EphemeralTokenClaims;
}

export interface EphemeralBackendOptions {
  name?: string;
  /** HMAC-SHA256 key (>= 32 bytes); omitted: random per process. */
  signingKey?: EphemeralKey;
  keyId?: string;
  /** How long a revoked id is remembered when its expiry is unknown here (default 24h). */
  maxTtlSeconds?: number;
  /**
   * How many minted passwords/API keys `checkValue` remembers, newest first (default
   * 100,000); older ones answer `unknown`. Bounds memory under sustained load: a busy
   * broker mints millions an hour. Revocations are never forgotten before they expire.
   */
  remember?: number;
  clock?: Clock;
}

export type EphemeralCheck =
  | { status: 'active' | 'expired' | 'revoked'; credential: string; subject: string; expiresAt: Date }
  | { status: 'unknown' };

interface Minted {
  id: string;
  credential: string;
  subject: string;
  expiresAt: number;
}

/** Minted entries are kept this long after expiry, so a check can say "expired" rather than "unknown". */
const KEEP_EXPIRED_MS = 3600_000;
const PRUNE_EVERY_MS = 30_000;

export class EphemeralBackend implements CredentialBackend {
  readonly kind = 'ephemeral' as const;
  readonly name: string;
  private readonly signingKey: KeyObject;
  private readonly referenceKey: ReferenceKey;
  private readonly keyId: string | undefined;
  private readonly maxTtlMs: number;
  private readonly clock: Clock;
  /** What was minted, by HMAC reference of the password/API key (the newest `remember`). */
  private readonly byValue: MintedRing;
  /** Revoked id -> until when to remember it (ms). */
  private readonly revoked = new Map<string, number>();
  private lastPrune = 0;

  constructor(options: EphemeralBackendOptions = {}) {
    this.name = options.name ?? 'ephemeral';
    const raw = options.signingKey ?? randomBytes(32);
    this.signingKey = isKeyObject(raw) ? raw : createSecretKey(Buffer.from(raw));
    if ((this.signingKey.symmetricKeySize ?? 0) < MIN_KEY_BYTES)
      throw new BackendError(
        'BACKEND_CONFIG_INVALID',
        `the ephemeral signing key must be at least ${MIN_KEY_BYTES} bytes`,
      );
    this.referenceKey = new ReferenceKey(
      Buffer.from(
        hkdfSync('sha256', this.signingKey.export(), Buffer.alloc(0), 'meshbridge ephemeral reference', 32),
      ),
    );
    this.keyId = options.keyId;
    this.maxTtlMs = (options.maxTtlSeconds ?? 24 * 3600) * 1000;
    const remember = Math.max(1, options.remember ?? 100_000);
    this.byValue = new MintedRing(remember);
    this.clock = options.clock ?? systemClock;
  }

  async issue(request: IssueRequest): Promise<IssuedCredential> {
    const spec = request.spec;
    if (spec.type !== 'ephemeral')
      throw new BackendError(
        'BACKEND_SPEC_INVALID',
        `credential ${request.credential} is of type ${spec.type}; the ephemeral backend cannot issue it`,
      );
    const ttl = request.ttlSeconds;
    if (!Number.isInteger(ttl) || ttl < 1)
      throw new BackendError(
        'BACKEND_SPEC_INVALID',
        `the TTL must be a whole number of seconds >= 1, got ${ttl}`,
      );
    const nowMs = this.clock().getTime();
    this.prune(nowMs);
    if (spec.kind === 'token') return this.issueToken(request, spec, nowMs);
    const value = mintValue(spec);
    const expiresAt = nowMs + ttl * 1000;
    const id = expiringId('eph_', expiresAt);
    const reference = hmacReference(this.referenceKey, value);
    this.byValue.remember(reference, id, request.credential, request.subject, expiresAt);
    const secret: Record<string, string> =
      spec.kind === 'password'
        ? spec.username === undefined
          ? { password: value }
          : { username: spec.username, password: value }
        : { api_key: value };
    return {
      secret,
      expiresAt: new Date(expiresAt),
      backendLeaseId: id,
      reference: `ephemeral:${spec.kind}:${reference}`,
    };
  }

  private issueToken(
    request: IssueRequest,
    spec: Extract<EphemeralCredentialSpec, { kind: 'token' }>,
    nowMs: number,
  ): IssuedCredential {
    const iat = Math.floor(nowMs / 1000);
    const claims: EphemeralTokenClaims = {
      v: 1,
      sub: request.subject,
      cred: request.credential,
      iat,
      exp: iat + request.ttlSeconds,
      jti: expiringId('', (iat + request.ttlSeconds) * 1000),
    };
    if (spec.audience !== undefined) claims.aud = spec.audience;
    if (this.keyId !== undefined) claims.kid = this.keyId;
    const token = signEphemeralToken(claims, this.signingKey);
    return {
      secret: { token },
      expiresAt: new Date(claims.exp * 1000),
      backendLeaseId: claims.jti,
      reference: `ephemeral:token:${claims.jti}`,
    };
  }

  async revoke(backendLeaseId: string): Promise<void> {
    if (typeof backendLeaseId !== 'string' || backendLeaseId.length === 0 || backendLeaseId.length > 256)
      throw new BackendError(
        'BACKEND_LEASE_ID_INVALID',
        'an ephemeral lease id is a non-empty string of at most 256 characters',
      );
    const now = this.clock().getTime();
    const until = expiryOf(backendLeaseId) ?? now + this.maxTtlMs;
    if (until > now) this.revoked.set(backendLeaseId, until);
  }

  isRevoked(backendLeaseId: string): boolean {
    const until = this.revoked.get(backendLeaseId);
    return until !== undefined && until > this.clock().getTime();
  }

  /** `verifyEphemeralToken` with this backend's key and clock, plus its revocation list. */
  verifyToken(token: string, options: VerifyEphemeralTokenOptions = {}): EphemeralTokenClaims {
    const claims = verifyEphemeralToken(token, this.signingKey, this.clock, options);
    if (this.isRevoked(claims.jti))
      throw new BackendError('EPHEMERAL_TOKEN_REVOKED', `token ${claims.jti} was revoked`);
    return claims;
  }

  /** Whether a password or API key was minted here, and whether it is still good. */
  checkValue(value: string): EphemeralCheck {
    const minted = this.byValue.find(hmacReference(this.referenceKey, value));
    const now = this.clock().getTime();
    if (minted === undefined || minted.expiresAt + KEEP_EXPIRED_MS <= now) return { status: 'unknown' };
    const status = this.isRevoked(minted.id) ? 'revoked' : now >= minted.expiresAt ? 'expired' : 'active';
    return {
      status,
      credential: minted.credential,
      subject: minted.subject,
      expiresAt: new Date(minted.expiresAt),
    };
  }

  async health(): Promise<BackendHealth> {
    return { ok: true, status: 'up', checkedAt: this.clock() };
  }

  async close(): Promise<void> {
    this.byValue.clear();
    this.revoked.clear();
  }

  private prune(now: number): void {
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    for (const [id, until] of this.revoked) if (until <= now) this.revoked.delete(id);
  }
}

/**
 * An id that carries its credential's expiry (ms, base 36, before the dot), so a
 * revocation knows how long to hold without a record per credential minted.
 */
function expiringId(prefix: string, expiresAtMs: number): string {
  return `${prefix}${expiresAtMs.toString(36)}.${randomId()}`;
}

/** The expiry an {@link expiringId} carries; undefined for ids minted otherwise. */
function expiryOf(id: string): number | undefined {
  const m = /^(?:eph_)?([0-9a-z]{1,11})\./.exec(id);
  if (m === null) return undefined;
  const ms = Number.parseInt(m[1]!, 36);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/**
 * The newest `max` minted values, by HMAC reference, in a ring of parallel arrays.
 * Remembering is the hot side (once per issuance: no hashing, no allocation, no Map
 * churn for the GC); finding is the rare side (`checkValue`, a diagnostic), a scan
 * from the newest.
 */
class MintedRing {
  private readonly references: (string | undefined)[] = [];
  private readonly ids: string[] = [];
  private readonly credentials: string[] = [];
  private readonly subjects: string[] = [];
  private readonly expiries: Float64Array;
  private next = 0;

  constructor(private readonly max: number) {
    this.expiries = new Float64Array(max);
  }

  remember(reference: string, id: string, credential: string, subject: string, expiresAt: number): void {
    const i = this.next;
    this.references[i] = reference;
    this.ids[i] = id;
    this.credentials[i] = credential;
    this.subjects[i] = subject;
    this.expiries[i] = expiresAt;
    this.next = i + 1 === this.max ? 0 : i + 1;
  }

  find(reference: string): Minted | undefined {
    const n = this.references.length;
    for (let k = 1; k <= n; k++) {
      const i = (this.next - k + n) % n;
      if (this.references[i] === reference)
        return {
          id: this.ids[i]!,
          credential: this.credentials[i]!,
          subject: this.subjects[i]!,
          expiresAt: this.expiries[i]!,
        };
    }
    return undefined;
  }

  clear(): void {
    this.references.length = 0;
    this.ids.length = 0;
    this.credentials.length = 0;
    this.subjects.length = 0;
    this.next = 0;
  }
}

function mintValue(spec: Exclude<EphemeralCredentialSpec, { kind: 'token' }>): string {
  if (spec.kind === 'password') return randomPassword(spec.length ?? 32, spec.symbols ?? true);
  return `${spec.prefix ?? 'mbk_'}${randomString(spec.length ?? 40, BASE62)}`;
}

function isKeyObject(key: EphemeralKey): key is KeyObject {
  return typeof (key as KeyObject).export === 'function' && (key as KeyObject).type !== undefined;
}
