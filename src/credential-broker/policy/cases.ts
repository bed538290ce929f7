/**
 * Policy test cases, evaluated like `opa test`: each case states a request and the
 * expected outcome; the run reports every case as passed or failed.
 *
 *   cases:
 *     - name: web gets orders-db
 *       subject: spiffe://example.org/ns/shop/sa/web
 *       credential: orders-db
 *       issuer: spire              # default spire
 *       purpose: serve             # optional
 *       ttl: 10m                   # optional, requested TTL
 *       at: 2026-03-02T10:00:00Z   # optional, default now
 *       expect: allow              # allow | deny
 *       code: POLICY_NO_RULE       # optional, expected code
 *       rule: web-reads-orders     # optional, expected deciding rule
 *       ttlSeconds: 600            # optional, expected granted TTL
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { type Static, Type } from '@sinclair/typebox';
import { parseDuration } from '../../spiffe/duration.js';
import { SpiffeId } from '../../spiffe/spiffeid/index.js';
import { BrokerError } from '../errors.js';
import { checkSchema, invalid, locate, parseYaml } from '../yaml.js';
import { evaluate } from './evaluate.js';
import type { Policy } from './policy.js';
import { Duration, Purpose } from './schema.js';

const CaseSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    subject: Type.String({ pattern: '^spiffe://' }),
    credential: Type.String({ minLength: 1 }),
    issuer: Type.Optional(
      Type.Union([Type.Literal('spire'), Type.Literal('mesh'), Type.Literal('federated')]),
    ),
    purpose: Type.Optional(Purpose),
    ttl: Type.Optional(Duration),
    at: Type.Optional(Type.String({ minLength: 10 })),
    expect: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
    code: Type.Optional(Type.String({ minLength: 1 })),
    rule: Type.Optional(Type.String({ minLength: 1 })),
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);

const CaseListSchema = Type.Array(CaseSchema, { minItems: 1 });
const CasesFileSchema = Type.Object({ cases: CaseListSchema }, { additionalProperties: false });

export type PolicyCase = Static<typeof CaseSchema>;

export interface CaseResult {
  name: string;
  passed: boolean;
  expected: { decision: 'allow' | 'deny'; code?: string; rule?: string; ttlSeconds?: number };
  got: { decision: 'allow' | 'deny'; code: string; reason: string; rule?: string; ttlSeconds?: number };
  /** Why it failed, one line per mismatch. */
  failures: string[];
}

export interface CasesReport {
  policyVersion: string;
  passed: number;
  failed: number;
  results: CaseResult[];
}

export function loadPolicyCases(path: string): PolicyCase[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new BrokerError(
      'POLICY_CASES_INVALID',
      `cannot read test cases ${path}: ${(err as Error).message}`,
    );
  }
  return parsePolicyCases(text, basename(path));
}

export function parsePolicyCases(text: string, file: string): PolicyCase[] {
  const parsed = parseYaml(text, file, 'POLICY_CASES_INVALID');
  // A file is `cases: [...]` or the list itself.
  const bare = Array.isArray(parsed.value);
  const cases = bare
    ? checkSchema<PolicyCase[]>(CaseListSchema, parsed, 'POLICY_CASES_INVALID', 'test cases')
    : checkSchema<Static<typeof CasesFileSchema>>(
        CasesFileSchema,
        parsed,
        'POLICY_CASES_INVALID',
        'test cases',
      ).cases;
  const prefix = bare ? [] : ['cases'];
  const problems: string[] = [];
  cases.forEach((c, i) => {
    try {
      SpiffeId.parse(c.subject);
    } catch (err) {
      problems.push(`${locate(parsed, [...prefix, i, 'subject'])}: ${(err as Error).message}`);
    }
    if (c.at !== undefined && Number.isNaN(Date.parse(c.at)))
      problems.push(`${locate(parsed, [...prefix, i, 'at'])}: "at" must be an RFC 3339 time`);
  });
  if (problems.length > 0) throw invalid('POLICY_CASES_INVALID', file, 'test cases', problems);
  return cases;
}

/** Runs every case against `policy`. */
export function runPolicyCases(
  policy: Policy,
  cases: readonly PolicyCase[],
  now: Date = new Date(),
): CasesReport {
  const results = cases.map((c): CaseResult => {
    const d = evaluate(policy, {
      id: c.subject,
      issuer: c.issuer ?? 'spire',
      credential: c.credential,
      ...(c.purpose === undefined ? {} : { purpose: c.purpose }),
      ...(c.ttl === undefined ? {} : { ttlSeconds: parseDuration(c.ttl, 'ttl') }),
      at: c.at === undefined ? now : new Date(c.at),
    });
    const got: CaseResult['got'] = {
      decision: d.decision,
      code: d.code,
      reason: d.reason,
      ...(d.rule === undefined ? {} : { rule: d.rule }),
      ...(d.decision === 'allow' ? { ttlSeconds: d.ttlSeconds } : {}),
    };
    const failures: string[] = [];
    if (d.decision !== c.expect)
      failures.push(`expected ${c.expect}, got ${d.decision} (${d.code}: ${d.reason})`);
    if (c.code !== undefined && d.code !== c.code) failures.push(`expected code ${c.code}, got ${d.code}`);
    if (c.rule !== undefined && d.rule !== c.rule)
      failures.push(`expected rule ${c.rule}, got ${d.rule ?? 'none'}`);
    if (c.ttlSeconds !== undefined && (d.decision !== 'allow' || d.ttlSeconds !== c.ttlSeconds))
      failures.push(
        `expected ttlSeconds ${c.ttlSeconds}, got ${d.decision === 'allow' ? d.ttlSeconds : 'none (denied)'}`,
      );
    return {
      name: c.name,
      passed: failures.length === 0,
      expected: {
        decision: c.expect,
        ...(c.code === undefined ? {} : { code: c.code }),
        ...(c.rule === undefined ? {} : { rule: c.rule }),
        ...(c.ttlSeconds === undefined ? {} : { ttlSeconds: c.ttlSeconds }),
      },
      got,
      failures,
    };
  });
  const passed = results.filter((r) => r.passed).length;
  return { policyVersion: policy.version, passed, failed: results.length - passed, results };
}
