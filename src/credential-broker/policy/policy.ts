/**
 * Reads and compiles a policy: schema check with line numbers, then the checks a
 * schema cannot express (matchers parse, rules name defined credentials, each
 * credential's spec fits its backend, time zones exist). A policy either compiles
 * whole or is refused with every problem listed.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseDuration } from '../../spiffe/duration.js';
import { CodedError } from '../../spiffe/errors.js';
import {
  type Matcher,
  matchMemberOf,
  parseMatcher,
  SpiffeId,
  TrustDomain,
} from '../../spiffe/spiffeid/index.js';
import { type BackendKind, type CredentialSpec, validateCredentialSpec } from '../backends/index.js';
import { BrokerError } from '../errors.js';
import type { IssuerKind } from '../schema.js';
import { checkSchema, invalid, locate, parseYaml } from '../yaml.js';
import { DAYS, type Day, type PolicyDocument, PolicySchema, type WindowDocument } from './schema.js';

/** Default TTL when neither the request, the credential nor the defaults name one. */
export const DEFAULT_TTL_SECONDS = 300;
/** Default cap when neither the credential, the rule nor the defaults name one. */
export const DEFAULT_MAX_TTL_SECONDS = 3600;

export interface CompiledCredential {
  name: string;
  description?: string;
  backend: string;
  spec: CredentialSpec;
  ttlSeconds: number;
  maxTtlSeconds: number;
}

export interface CompiledWindow {
  days: ReadonlySet<Day>;
  /** Minutes after midnight. */
  from: number;
  to: number;
  timeZone: string;
  text: string;
}

export interface CompiledRule {
  name: string;
  index: number;
  description?: string;
  subjects: readonly string[];
  match: Matcher;
  credentials: ReadonlySet<string>;
  maxTtlSeconds?: number;
  /** Undefined: any issuer. */
  issuers?: ReadonlySet<IssuerKind>;
  purposes?: ReadonlySet<string>;
  windows?: readonly CompiledWindow[];
  notBefore?: Date;
  notAfter?: Date;
}

export interface Policy {
  /** `<label>@<sha256 prefix>` (or `sha256:<prefix>` without a label): recorded in every audit record. */
  version: string;
  /** SHA-256 of the file's bytes. */
  digest: string;
  source: string;
  credentials: ReadonlyMap<string, CompiledCredential>;
  rules: readonly CompiledRule[];
  loadedAt: Date;
}

/** What the broker's config says about its backends: name -> type. */
export type BackendCatalog = ReadonlyMap<string, BackendKind>;

export interface CompileOptions {
  /** Backends the credentials may name. Omitted: any backend name is accepted (policy tests). */
  backends?: BackendCatalog;
  now?: Date;
}

/** Reads a policy file and compiles it. Codes: POLICY_UNREADABLE, POLICY_INVALID. */
export function loadPolicyFile(path: string, opts: CompileOptions = {}): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new BrokerError('POLICY_UNREADABLE', `cannot read policy ${path}: ${(err as Error).message}`);
  }
  return compilePolicy(text, path, opts);
}

export function compilePolicy(text: string, source: string, opts: CompileOptions = {}): Policy {
  const file = source.includes('/') ? basename(source) : source;
  const parsed = parseYaml(text, file, 'POLICY_INVALID');
  const doc = checkSchema<PolicyDocument>(PolicySchema, parsed, 'POLICY_INVALID', 'policy');
  const problems: string[] = [];
  const at = (path: (string | number)[]) => locate(parsed, path);

  const duration = (v: string | number | undefined, path: (string | number)[]): number | undefined => {
    if (v === undefined) return undefined;
    try {
      const s = parseDuration(v, path.join('.'));
      if (s < 1) throw new Error('must be at least 1s');
      return Math.floor(s);
    } catch (err) {
      problems.push(`${at(path)}: /${path.join('/')} ${(err as Error).message}`);
      return undefined;
    }
  };

  const defaultTtl = duration(doc.defaults?.ttl, ['defaults', 'ttl']);
  const defaultMax = duration(doc.defaults?.maxTtl, ['defaults', 'maxTtl']);

  const credentials = new Map<string, CompiledCredential>();
  for (const [name, c] of Object.entries(doc.credentials)) {
    const path = ['credentials', name];
    let spec: CredentialSpec | undefined;
    try {
      spec = validateCredentialSpec(c.spec);
    } catch (err) {
      problems.push(`${at([...path, 'spec'])}: /${path.join('/')}/spec ${(err as Error).message}`);
    }
    const backend = pickBackend(name, c.backend, spec?.type ?? (c.spec.type as BackendKind), opts.backends);
    if (typeof backend !== 'string')
      problems.push(`${at(c.backend === undefined ? path : [...path, 'backend'])}: ${backend.problem}`);
    const ttl = duration(c.ttl, [...path, 'ttl']);
    const maxTtl = duration(c.maxTtl, [...path, 'maxTtl']);
    const max = maxTtl ?? defaultMax ?? DEFAULT_MAX_TTL_SECONDS;
    if (spec !== undefined && typeof backend === 'string') {
      credentials.set(name, {
        name,
        ...(c.description === undefined ? {} : { description: c.description }),
        backend,
        spec,
        ttlSeconds: Math.min(ttl ?? defaultTtl ?? DEFAULT_TTL_SECONDS, max),
        maxTtlSeconds: max,
      });
    }
  }

  const rules: CompiledRule[] = [];
  const ruleNames = new Map<string, number>();
  doc.rules.forEach((r, index) => {
    const path: (string | number)[] = ['rules', index];
    const earlier = ruleNames.get(r.name);
    if (earlier !== undefined)
      problems.push(
        `${at([...path, 'name'])}: rule name "${r.name}" is used twice (rules ${earlier} and ${index})`,
      );
    ruleNames.set(r.name, index);
    const matchers: Matcher[] = [];
    r.subjects.forEach((s, i) => {
      try {
        matchers.push(compileSubject(s));
      } catch (err) {
        problems.push(
          `${at([...path, 'subjects', i])}: /${[...path, 'subjects', i].join('/')} ${(err as Error).message}`,
        );
      }
    });
    r.credentials.forEach((c, i) => {
      if (!Object.hasOwn(doc.credentials, c))
        problems.push(
          `${at([...path, 'credentials', i])}: rule "${r.name}" names credential "${c}", which is not defined under credentials`,
        );
    });
    const windows: CompiledWindow[] = [];
    r.windows?.forEach((w, i) => {
      try {
        windows.push(compileWindow(w));
      } catch (err) {
        problems.push(`${at([...path, 'windows', i])}: ${(err as Error).message}`);
      }
    });
    const notBefore = r.notBefore === undefined ? undefined : new Date(r.notBefore);
    const notAfter = r.notAfter === undefined ? undefined : new Date(r.notAfter);
    if (notBefore !== undefined && notAfter !== undefined && notBefore >= notAfter)
      problems.push(
        `${at([...path, 'notAfter'])}: rule "${r.name}" ends (notAfter) before it starts (notBefore)`,
      );
    const maxTtl = duration(r.maxTtl, [...path, 'maxTtl']);
    const issuers =
      r.issuer === undefined || r.issuer === 'any'
        ? undefined
        : new Set<IssuerKind>(Array.isArray(r.issuer) ? r.issuer : [r.issuer]);
    rules.push({
      name: r.name,
      index,
      ...(r.description === undefined ? {} : { description: r.description }),
      subjects: r.subjects,
      match: (id) => matchers.some((m) => m(id)),
      credentials: new Set(r.credentials),
      ...(maxTtl === undefined ? {} : { maxTtlSeconds: maxTtl }),
      ...(issuers === undefined ? {} : { issuers }),
      ...(r.purposes === undefined ? {} : { purposes: new Set(r.purposes) }),
      ...(r.windows === undefined ? {} : { windows }),
      ...(notBefore === undefined ? {} : { notBefore }),
      ...(notAfter === undefined ? {} : { notAfter }),
    });
  });

  if (problems.length > 0) throw invalid('POLICY_INVALID', file, 'policy', problems);
  const digest = createHash('sha256').update(text).digest('hex');
  const label = doc.version === undefined ? undefined : String(doc.version);
  return {
    version: label === undefined ? `sha256:${digest.slice(0, 12)}` : `${label}@${digest.slice(0, 12)}`,
    digest,
    source,
    credentials,
    rules,
    loadedAt: opts.now ?? new Date(),
  };
}

/**
 * `spiffe://td` matches every member of td; an ID with a path matches exactly; `*`
 * inside a segment and `**` as a segment make a glob (see parseMatcher).
 */
export function compileSubject(spec: string): Matcher {
  const rest = spec.slice('spiffe://'.length);
  if (!rest.includes('/')) return matchMemberOf(TrustDomain.parse(spec));
  if (!spec.includes('*')) SpiffeId.parse(spec);
  return parseMatcher(spec);
}

function pickBackend(
  credential: string,
  named: string | undefined,
  type: BackendKind,
  catalog: BackendCatalog | undefined,
): string | { problem: string } {
  if (catalog === undefined) return named ?? type;
  if (named !== undefined) {
    const kind = catalog.get(named);
    if (kind === undefined)
      return {
        problem: `credential "${credential}" names backend "${named}", which the broker config does not define (known: ${[...catalog.keys()].join(', ') || 'none'})`,
      };
    if (kind !== type)
      return {
        problem: `credential "${credential}" has a ${type} spec but backend "${named}" is of type ${kind}`,
      };
    return named;
  }
  const candidates = [...catalog].filter(([, k]) => k === type).map(([n]) => n);
  if (candidates.length === 1) return candidates[0]!;
  return {
    problem:
      candidates.length === 0
        ? `credential "${credential}" needs a backend of type ${type}, and the broker config defines none`
        : `credential "${credential}": several ${type} backends are configured (${candidates.join(', ')}); name one with "backend"`,
  };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

export function zoneFormatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

function compileWindow(w: WindowDocument): CompiledWindow {
  const timeZone = w.timeZone ?? 'UTC';
  try {
    zoneFormatter(timeZone);
  } catch {
    throw new Error(`time zone "${timeZone}" is not an IANA zone (e.g. UTC, Europe/Berlin)`);
  }
  const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
  const from = minutes(w.from ?? '00:00');
  const to = minutes(w.to ?? '24:00');
  if (from === to) throw new Error(`window from ${w.from} to ${w.to} is empty`);
  const days = new Set<Day>(w.days ?? DAYS);
  return {
    days,
    from,
    to,
    timeZone,
    text: `${w.days?.join(',') ?? 'daily'} ${w.from ?? '00:00'}-${w.to ?? '24:00'} ${timeZone}`,
  };
}

/** Re-raise a loader error with a code the CLI and server understand. */
export function asPolicyError(err: unknown): BrokerError {
  if (err instanceof BrokerError) return err;
  if (err instanceof CodedError) return new BrokerError('POLICY_INVALID', err.message, { cause: err });
  return new BrokerError('POLICY_INVALID', (err as Error).message);
}
