/**
 * `evaluate(policy, request)`: default deny. A request is allowed by the first rule
 * (in file order) that names the credential, matches the SPIFFE ID, and whose
 * conditions (issuer, validity, time window, purpose) all hold. The TTL granted is
 * the requested one (or the credential's default) capped by the credential's,
 * the rule's and the defaults' maximum.
 *
 * A denial names the reason: the failed condition of the first rule that matched
 * the identity and credential, or POLICY_NO_RULE when none did.
 */
import { SpiffeId } from '../../spiffe/spiffeid/index.js';
import type { BrokerErrorCode } from '../errors.js';
import type { IssuerKind } from '../schema.js';
import type { CompiledCredential, CompiledRule, CompiledWindow, Policy } from './policy.js';
import { zoneFormatter } from './policy.js';
import { DAYS, type Day } from './schema.js';

export interface EvaluationRequest {
  id: SpiffeId | string;
  /** Which kind of root vouched for the identity. */
  issuer: IssuerKind;
  credential: string;
  /** Requested lifetime; default the credential's `ttl`. */
  ttlSeconds?: number;
  purpose?: string;
  /** The instant judged (time windows, rule validity). */
  at: Date;
}

export interface Allow {
  decision: 'allow';
  code: 'ALLOWED';
  reason: string;
  rule: string;
  credential: CompiledCredential;
  ttlSeconds: number;
  /** True when the requested TTL was cut down to a cap. */
  capped: boolean;
  policyVersion: string;
}

export interface Deny {
  decision: 'deny';
  code: Extract<
    BrokerErrorCode,
    | 'CREDENTIAL_NOT_FOUND'
    | 'POLICY_NO_RULE'
    | 'POLICY_ISSUER_NOT_ALLOWED'
    | 'POLICY_PURPOSE_REQUIRED'
    | 'POLICY_PURPOSE_NOT_ALLOWED'
    | 'POLICY_OUTSIDE_WINDOW'
  >;
  reason: string;
  /** The rule whose condition failed, when one matched the identity. */
  rule?: string;
  /** 404 for an unknown credential, 403 otherwise. */
  status: 403 | 404;
  policyVersion: string;
}

export type Decision = Allow | Deny;

export function evaluate(policy: Policy, request: EvaluationRequest): Decision {
  const id = typeof request.id === 'string' ? SpiffeId.parse(request.id) : request.id;
  const credential = policy.credentials.get(request.credential);
  const version = policy.version;
  if (credential === undefined) {
    return {
      decision: 'deny',
      code: 'CREDENTIAL_NOT_FOUND',
      reason: `the policy defines no credential "${request.credential}"`,
      status: 404,
      policyVersion: version,
    };
  }
  let firstFailure: Deny | undefined;
  for (const rule of policy.rules) {
    if (!rule.credentials.has(credential.name) || !rule.match(id)) continue;
    const failure = checkConditions(rule, request, version);
    if (failure === undefined) {
      const cap = Math.min(credential.maxTtlSeconds, rule.maxTtlSeconds ?? Number.POSITIVE_INFINITY);
      const requested = request.ttlSeconds ?? credential.ttlSeconds;
      const ttlSeconds = Math.max(1, Math.min(requested, cap));
      const capped = requested > cap;
      return {
        decision: 'allow',
        code: 'ALLOWED',
        reason: `rule "${rule.name}" gives ${id} credential "${credential.name}"${capped ? ` (TTL capped to ${cap}s)` : ''}`,
        rule: rule.name,
        credential,
        ttlSeconds,
        capped,
        policyVersion: version,
      };
    }
    firstFailure ??= failure;
  }
  return (
    firstFailure ?? {
      decision: 'deny',
      code: 'POLICY_NO_RULE',
      reason: `no rule gives ${id} credential "${credential.name}" (default deny)`,
      status: 403,
      policyVersion: version,
    }
  );
}

function checkConditions(rule: CompiledRule, request: EvaluationRequest, version: string): Deny | undefined {
  const deny = (code: Deny['code'], reason: string): Deny => ({
    decision: 'deny',
    code,
    reason: `rule "${rule.name}": ${reason}`,
    rule: rule.name,
    status: 403,
    policyVersion: version,
  });
  if (rule.issuers !== undefined && !rule.issuers.has(request.issuer)) {
    return deny(
      'POLICY_ISSUER_NOT_ALLOWED',
      `requires an identity issued by ${[...rule.issuers].join(' or ')}; this one was issued by the ${request.issuer} CA`,
    );
  }
  const at = request.at.getTime();
  if (rule.notBefore !== undefined && at < rule.notBefore.getTime())
    return deny('POLICY_OUTSIDE_WINDOW', `applies from ${rule.notBefore.toISOString()}`);
  if (rule.notAfter !== undefined && at >= rule.notAfter.getTime())
    return deny('POLICY_OUTSIDE_WINDOW', `expired at ${rule.notAfter.toISOString()}`);
  if (rule.windows !== undefined && !rule.windows.some((w) => inWindow(w, request.at))) {
    return deny('POLICY_OUTSIDE_WINDOW', `applies only ${rule.windows.map((w) => w.text).join(' or ')}`);
  }
  if (rule.purposes !== undefined) {
    if (request.purpose === undefined)
      return deny(
        'POLICY_PURPOSE_REQUIRED',
        `requires a declared purpose (one of ${[...rule.purposes].join(', ')})`,
      );
    if (!rule.purposes.has(request.purpose))
      return deny(
        'POLICY_PURPOSE_NOT_ALLOWED',
        `allows the purposes ${[...rule.purposes].join(', ')}, not "${request.purpose}"`,
      );
  }
  return undefined;
}

const SHORT_DAYS: Record<string, Day> = {
  Sun: 'sun',
  Mon: 'mon',
  Tue: 'tue',
  Wed: 'wed',
  Thu: 'thu',
  Fri: 'fri',
  Sat: 'sat',
};

export function inWindow(w: CompiledWindow, at: Date): boolean {
  let day: Day | undefined;
  let minute = 0;
  for (const p of zoneFormatter(w.timeZone).formatToParts(at)) {
    if (p.type === 'weekday') day = SHORT_DAYS[p.value];
    else if (p.type === 'hour') minute += Number(p.value) * 60;
    else if (p.type === 'minute') minute += Number(p.value);
  }
  if (day === undefined) return false;
  if (w.from < w.to) return w.days.has(day) && minute >= w.from && minute < w.to;
  // Spans midnight: the evening part belongs to `day`, the early part to the day before.
  if (minute >= w.from) return w.days.has(day);
  if (minute < w.to) return w.days.has(DAYS[(DAYS.indexOf(day) + 6) % 7]!);
  return false;
}

export interface Obtainable {
  name: string;
  description?: string;
  backend: string;
  type: string;
  /** The largest TTL any applicable rule grants. */
  maxTtlSeconds: number;
  defaultTtlSeconds: number;
  /** Purposes to declare; absent when some rule needs none. */
  purposes?: string[];
  /** Some rule limits when (time windows or validity). */
  timeLimited: boolean;
  rules: string[];
}

/**
 * What `id`, issued by `issuer`, may obtain (ignoring purpose and time, which are
 * listed as conditions): the answer of `GET /v1/credentials`.
 */
export function obtainable(policy: Policy, id: SpiffeId, issuer: IssuerKind): Obtainable[] {
  const out: Obtainable[] = [];
  for (const credential of policy.credentials.values()) {
    const rules = policy.rules.filter(
      (r) =>
        r.credentials.has(credential.name) &&
        r.match(id) &&
        (r.issuers === undefined || r.issuers.has(issuer)),
    );
    if (rules.length === 0) continue;
    const unconditioned = rules.some((r) => r.purposes === undefined);
    const purposes = unconditioned ? undefined : [...new Set(rules.flatMap((r) => [...r.purposes!]))].sort();
    out.push({
      name: credential.name,
      ...(credential.description === undefined ? {} : { description: credential.description }),
      backend: credential.backend,
      type: credential.spec.type,
      maxTtlSeconds: Math.max(
        ...rules.map((r) => Math.min(credential.maxTtlSeconds, r.maxTtlSeconds ?? Number.POSITIVE_INFINITY)),
      ),
      defaultTtlSeconds: credential.ttlSeconds,
      ...(purposes === undefined ? {} : { purposes }),
      timeLimited: rules.every(
        (r) => r.windows !== undefined || r.notAfter !== undefined || r.notBefore !== undefined,
      ),
      rules: rules.map((r) => r.name),
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}
