/**
 * The mapping rules file: which SPIFFE ID each mesh identity gets.
 *
 * ```yaml
 * version: 1                      # optional; the rules format version
 * trustDomain: prod.example.org
 * rules:
 *   - name: payments-east         # optional
 *     match: { mesh: istio, cluster: east, namespace: "payments-*" }
 *     spiffeId: "spiffe://{trustDomain}/k8s/{cluster}/ns/{namespace}/sa/{serviceAccount}"
 *     owner: team-payments        # travels with every mapping the rule makes
 *   - match: { mesh: linkerd }
 *     spiffeId: "spiffe://{trustDomain}/ns/{namespace}/sa/{serviceAccount}"
 * defaults: { x509SvidTtl: 1h, jwtSvidTtl: 5m }
 * ```
 *
 * `match` keys are name globs (`*` any run, `?` one character) or lists of them; an
 * absent key matches everything. The first matching rule wins. Templates know
 * `{trustDomain}`, `{cluster}`, `{namespace}`, `{serviceAccount}`, `{mesh}`. Rules and
 * defaults may also set the SPIRE entry fields: `parentId` (template with
 * `{trustDomain}` and `{cluster}`), `x509SvidTtl`, `jwtSvidTtl`, `dnsNames` (templates),
 * `federatesWith` (trust domains).
 *
 * `loadRules` validates the file with a TypeBox schema and reports every error with
 * its file:line:column; `hash` is the SHA-256 of the canonical JSON of the validated
 * document (formatting and comments do not change it).
 */
import { createHash } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import { parseDuration } from '../spiffe/duration.js';
import { SpiffeError } from '../spiffe/errors.js';
import { SpiffeId, TrustDomain } from '../spiffe/spiffeid/index.js';
import { MapperError } from './errors.js';
import { compileGlob, type NameGlob } from './glob.js';
import type { MeshName } from './identity.js';
import {
  dottedPath,
  parseYamlSource,
  pointerSegments,
  type SourceError,
  type YamlSource,
} from './yaml-source.js';

// ---------------------------------------------------------------- schema

const Glob = Type.String({ minLength: 1, maxLength: 253 });
const GlobList = Type.Union([Glob, Type.Array(Glob, { minItems: 1 })]);
const MeshLiteral = Type.Union([Type.Literal('istio'), Type.Literal('linkerd')]);
const Duration = Type.Union([Type.String({ minLength: 1 }), Type.Integer({ minimum: 0 })]);
const Owner = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._@/-]{0,62}$' });
const TemplateString = Type.String({ minLength: 1, maxLength: 2048 });

const EntryFields = {
  parentId: Type.Optional(TemplateString),
  x509SvidTtl: Type.Optional(Duration),
  jwtSvidTtl: Type.Optional(Duration),
  dnsNames: Type.Optional(Type.Array(TemplateString)),
  federatesWith: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
};

export const RuleMatchSchema = Type.Object(
  {
    mesh: Type.Optional(Type.Union([MeshLiteral, Type.Array(MeshLiteral, { minItems: 1 })])),
    cluster: Type.Optional(GlobList),
    namespace: Type.Optional(GlobList),
  },
  { additionalProperties: false },
);

export const RuleSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    match: Type.Optional(RuleMatchSchema),
    spiffeId: TemplateString,
    owner: Type.Optional(Owner),
    ...EntryFields,
  },
  { additionalProperties: false },
);

export const RulesFileSchema = Type.Object(
  {
    version: Type.Optional(Type.Literal(1)),
    trustDomain: Type.String({ minLength: 1 }),
    rules: Type.Array(RuleSchema, { minItems: 1 }),
    defaults: Type.Optional(
      Type.Object({ owner: Type.Optional(Owner), ...EntryFields }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);

export type RulesDocument = Static<typeof RulesFileSchema>;
export type RuleDocument = Static<typeof RuleSchema>;

// ---------------------------------------------------------------- templates

export const PLACEHOLDERS = ['trustDomain', 'cluster', 'namespace', 'serviceAccount', 'mesh'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];
export type TemplateValues = Partial<Record<Placeholder, string | null>>;

/** A compiled `{placeholder}` template. */
export class IdTemplate {
  private constructor(
    readonly text: string,
    private readonly parts: readonly (string | { key: Placeholder })[],
    readonly uses: ReadonlySet<Placeholder>,
  ) {}

  static compile(text: string, allowed: readonly Placeholder[] = PLACEHOLDERS): IdTemplate {
    const parts: (string | { key: Placeholder })[] = [];
    const uses = new Set<Placeholder>();
    let last = 0;
    for (const m of text.matchAll(/\{([^{}]*)\}/g)) {
      const key = m[1] as Placeholder;
      if (!allowed.includes(key)) {
        throw new Error(
          `unknown placeholder {${m[1]}}; this template may use ${allowed.map((a) => `{${a}}`).join(', ')}`,
        );
      }
      if (m.index > last) parts.push(text.slice(last, m.index));
      parts.push({ key });
      uses.add(key);
      last = m.index + m[0].length;
    }
    if (last < text.length) parts.push(text.slice(last));
    for (const p of parts) {
      if (typeof p === 'string' && /[{}]/.test(p)) throw new Error(`unbalanced brace in "${text}"`);
    }
    return new IdTemplate(text, parts, uses);
  }

  /** The rendered string, or the first placeholder whose value is missing. */
  render(values: TemplateValues): { ok: true; value: string } | { ok: false; missing: Placeholder } {
    let out = '';
    for (const p of this.parts) {
      if (typeof p === 'string') out += p;
      else {
        const v = values[p.key];
        if (v == null || v === '') return { ok: false, missing: p.key };
        out += v;
      }
    }
    return { ok: true, value: out };
  }

  /** Renders with each placeholder mapped through `f` (used to build other template languages). */
  map(f: (key: Placeholder) => string): string {
    return this.parts.map((p) => (typeof p === 'string' ? p : f(p.key))).join('');
  }
}

// ---------------------------------------------------------------- compiled rules

export interface CompiledRule {
  index: number;
  name: string | null;
  owner: string | null;
  /** Line of the rule in the rules file (null when built in code). */
  line: number | null;
  match: {
    mesh: MeshName[] | null;
    cluster: NameGlob[] | null;
    namespace: NameGlob[] | null;
  };
  spiffeId: IdTemplate;
  parentId: IdTemplate;
  /** True when the parent ID is meshbridge's default (a per-cluster node alias it also emits). */
  defaultParent: boolean;
  /** Seconds; 0 means "the SPIRE server's default". */
  x509SvidTtl: number;
  jwtSvidTtl: number;
  dnsNames: IdTemplate[];
  /** Trust domain names. */
  federatesWith: string[];
}

export interface MappingRules {
  version: number;
  trustDomain: string;
  /** Lowercase hex SHA-256 of the canonical JSON of the validated document. */
  hash: string;
  rules: CompiledRule[];
  /** The validated document (what was hashed). */
  document: RulesDocument;
  /** The file it came from, when read from one. */
  file: string | null;
}

/**
 * The parent ID when neither the rule nor the defaults name one: a node alias per cluster,
 * which the `spire-entries` emitter also writes (parent `spiffe://<td>/spire/server`,
 * selector `k8s_psat:cluster:<cluster>`).
 */
export const DEFAULT_PARENT_ID = 'spiffe://{trustDomain}/k8s/{cluster}/nodes';
const PARENT_PLACEHOLDERS: readonly Placeholder[] = ['trustDomain', 'cluster'];
const INT32_MAX = 2_147_483_647;

// ---------------------------------------------------------------- loading

/** Reads and validates a rules file; throws RULES_INVALID listing every error with file:line:column. */
export function loadRules(text: string, file = 'rules.yaml'): MappingRules {
  const parsed = parseYamlSource(text, file);
  if (parsed.source === null) throw rulesError(file, parsed.errors);
  const source = parsed.source;
  const value = source.value;
  if (!Value.Check(RulesFileSchema, value)) {
    throw rulesError(file, schemaErrors(source, [...Value.Errors(RulesFileSchema, value)]));
  }
  const errors: SourceError[] = [];
  const compiled = compileDocument(value, {
    file,
    report: (path, message) => {
      const { line, column } = source.locate(path);
      errors.push({ line, column, path: dottedPath(path), message });
    },
    lineOf: (path) => source.locate(path).line,
  });
  if (errors.length > 0) throw rulesError(file, errors);
  return compiled;
}

/** Builds rules from a plain object (tests, the bench, other code); same checks, paths instead of lines. */
export function rulesFromObject(value: unknown, file: string | null = null): MappingRules {
  const where = file ?? 'rules';
  if (!Value.Check(RulesFileSchema, value)) {
    const errors = [...Value.Errors(RulesFileSchema, value)].map((e) => ({
      line: 0,
      column: 0,
      path: dottedPath(pointerSegments(e.path)),
      message: describeSchemaError(e),
    }));
    throw rulesError(where, errors);
  }
  const errors: SourceError[] = [];
  const compiled = compileDocument(value, {
    file,
    report: (path, message) => errors.push({ line: 0, column: 0, path: dottedPath(path), message }),
    lineOf: () => null,
  });
  if (errors.length > 0) throw rulesError(where, errors);
  return compiled;
}

interface CompileContext {
  file: string | null;
  report: (path: (string | number)[], message: string) => void;
  lineOf: (path: (string | number)[]) => number | null;
}

function compileDocument(doc: RulesDocument, ctx: CompileContext): MappingRules {
  let trustDomain = doc.trustDomain;
  try {
    trustDomain = TrustDomain.parse(doc.trustDomain).name;
  } catch (err) {
    ctx.report(['trustDomain'], `trustDomain "${doc.trustDomain}" is not a trust domain name: ${msg(err)}`);
  }
  const defaults = doc.defaults ?? {};
  const defaultsEntry = compileEntryFields(defaults, ['defaults'], trustDomain, ctx);
  const names = new Map<string, number>();
  const rules: CompiledRule[] = doc.rules.map((r, index) => {
    const at: (string | number)[] = ['rules', index];
    if (r.name !== undefined) {
      const seen = names.get(r.name);
      if (seen !== undefined)
        ctx.report([...at, 'name'], `rule name "${r.name}" is already used by rules[${seen}]`);
      else names.set(r.name, index);
    }
    const spiffeId = compileTemplate(r.spiffeId, [...at, 'spiffeId'], PLACEHOLDERS, ctx);
    if (spiffeId !== null) checkIdTemplate(spiffeId, [...at, 'spiffeId'], trustDomain, ctx);
    const entry = compileEntryFields(r, at, trustDomain, ctx);
    const parentId = entry.parentId ?? defaultsEntry.parentId ?? IdTemplate.compile(DEFAULT_PARENT_ID);
    return {
      index,
      name: r.name ?? null,
      owner: r.owner ?? defaults.owner ?? null,
      line: ctx.lineOf(at),
      match: {
        mesh:
          r.match?.mesh === undefined ? null : Array.isArray(r.match.mesh) ? r.match.mesh : [r.match.mesh],
        cluster: globs(r.match?.cluster),
        namespace: globs(r.match?.namespace),
      },
      spiffeId: spiffeId ?? IdTemplate.compile('spiffe://invalid'),
      parentId,
      defaultParent: entry.parentId === null && defaultsEntry.parentId === null,
      x509SvidTtl: entry.x509SvidTtl ?? defaultsEntry.x509SvidTtl ?? 0,
      jwtSvidTtl: entry.jwtSvidTtl ?? defaultsEntry.jwtSvidTtl ?? 0,
      dnsNames: entry.dnsNames ?? defaultsEntry.dnsNames ?? [],
      federatesWith: entry.federatesWith ?? defaultsEntry.federatesWith ?? [],
    };
  });
  return {
    version: doc.version ?? 1,
    trustDomain,
    hash: rulesHash(doc),
    rules,
    document: doc,
    file: ctx.file,
  };
}

interface EntryFieldsCompiled {
  parentId: IdTemplate | null;
  x509SvidTtl: number | null;
  jwtSvidTtl: number | null;
  dnsNames: IdTemplate[] | null;
  federatesWith: string[] | null;
}

function compileEntryFields(
  src: {
    parentId?: string;
    x509SvidTtl?: string | number;
    jwtSvidTtl?: string | number;
    dnsNames?: string[];
    federatesWith?: string[];
  },
  at: (string | number)[],
  trustDomain: string,
  ctx: CompileContext,
): EntryFieldsCompiled {
  let parentId: IdTemplate | null = null;
  if (src.parentId !== undefined) {
    parentId = compileTemplate(src.parentId, [...at, 'parentId'], PARENT_PLACEHOLDERS, ctx);
    if (parentId !== null) {
      const sample = parentId.render({ trustDomain, cluster: 'cluster' });
      if (sample.ok) {
        try {
          SpiffeId.parse(sample.value);
        } catch (err) {
          ctx.report(
            [...at, 'parentId'],
            `parentId "${src.parentId}" does not make a SPIFFE ID: ${msg(err)}`,
          );
        }
      }
    }
  }
  const ttl = (key: 'x509SvidTtl' | 'jwtSvidTtl'): number | null => {
    const v = src[key];
    if (v === undefined) return null;
    try {
      const seconds = parseDuration(v, key);
      if (!Number.isInteger(seconds) || seconds > INT32_MAX) {
        ctx.report([...at, key], `${key} must be a whole number of seconds up to ${INT32_MAX}, got ${v}`);
        return null;
      }
      return seconds;
    } catch (err) {
      ctx.report([...at, key], msg(err));
      return null;
    }
  };
  const dnsNames =
    src.dnsNames === undefined
      ? null
      : src.dnsNames.flatMap((t, i) => {
          const c = compileTemplate(t, [...at, 'dnsNames', i], PLACEHOLDERS, ctx);
          return c === null ? [] : [c];
        });
  const federatesWith =
    src.federatesWith === undefined
      ? null
      : src.federatesWith.flatMap((t, i) => {
          try {
            return [TrustDomain.parse(t).name];
          } catch (err) {
            ctx.report([...at, 'federatesWith', i], `"${t}" is not a trust domain: ${msg(err)}`);
            return [];
          }
        });
  return {
    parentId,
    x509SvidTtl: ttl('x509SvidTtl'),
    jwtSvidTtl: ttl('jwtSvidTtl'),
    dnsNames,
    federatesWith,
  };
}

function compileTemplate(
  text: string,
  path: (string | number)[],
  allowed: readonly Placeholder[],
  ctx: CompileContext,
): IdTemplate | null {
  try {
    return IdTemplate.compile(text, allowed);
  } catch (err) {
    ctx.report(path, msg(err));
    return null;
  }
}

const SAMPLE: TemplateValues = { cluster: 'c1', namespace: 'ns1', serviceAccount: 'sa1', mesh: 'istio' };

function checkIdTemplate(
  t: IdTemplate,
  path: (string | number)[],
  trustDomain: string,
  ctx: CompileContext,
): void {
  if (!t.text.startsWith('spiffe://')) {
    ctx.report(
      path,
      `spiffeId "${t.text}" must start with spiffe:// (e.g. spiffe://{trustDomain}/ns/{namespace}/sa/{serviceAccount})`,
    );
    return;
  }
  const sample = t.render({ ...SAMPLE, trustDomain });
  if (!sample.ok) return;
  try {
    SpiffeId.parse(sample.value);
  } catch (err) {
    const rule =
      err instanceof SpiffeError && err.rule !== undefined ? ` (spiffe-rules.md A.${err.rule})` : '';
    ctx.report(path, `spiffeId "${t.text}" does not make a SPIFFE ID: ${msg(err)}${rule}`);
  }
}

function globs(v: string | string[] | undefined): NameGlob[] | null {
  if (v === undefined) return null;
  return (Array.isArray(v) ? v : [v]).map(compileGlob);
}

// ---------------------------------------------------------------- hashing

/** SHA-256 (lowercase hex) of the canonical JSON (sorted keys) of a rules document. */
export function rulesHash(doc: RulesDocument): string {
  return createHash('sha256').update(canonicalJson(doc)).digest('hex');
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value as object)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

// ---------------------------------------------------------------- matching

/** What a rule is matched against. */
export interface RuleSubject {
  mesh: MeshName | null;
  cluster: string | null;
  namespace: string | null;
}

export interface RuleCheck {
  field: 'mesh' | 'cluster' | 'namespace';
  /** The rule's patterns (absent key: matches anything, `ok` true). */
  patterns: string[] | null;
  value: string | null;
  ok: boolean;
}

export function ruleMatches(rule: CompiledRule, s: RuleSubject): boolean {
  const m = rule.match;
  if (m.mesh !== null && (s.mesh === null || !m.mesh.includes(s.mesh))) return false;
  if (m.cluster !== null && (s.cluster === null || !m.cluster.some((g) => g.test(s.cluster!)))) return false;
  if (m.namespace !== null && (s.namespace === null || !m.namespace.some((g) => g.test(s.namespace!))))
    return false;
  return true;
}

/** Every check of a rule against a subject, for `map explain`. */
export function explainRule(rule: CompiledRule, s: RuleSubject): { matched: boolean; checks: RuleCheck[] } {
  const m = rule.match;
  const checks: RuleCheck[] = [
    {
      field: 'mesh',
      patterns: m.mesh,
      value: s.mesh,
      ok: m.mesh === null || (s.mesh !== null && m.mesh.includes(s.mesh)),
    },
    {
      field: 'cluster',
      patterns: m.cluster?.map((g) => g.pattern) ?? null,
      value: s.cluster,
      ok: m.cluster === null || (s.cluster !== null && m.cluster.some((g) => g.test(s.cluster!))),
    },
    {
      field: 'namespace',
      patterns: m.namespace?.map((g) => g.pattern) ?? null,
      value: s.namespace,
      ok: m.namespace === null || (s.namespace !== null && m.namespace.some((g) => g.test(s.namespace!))),
    },
  ];
  return { matched: checks.every((c) => c.ok), checks };
}

/** The first rule that matches, or null. */
export function firstMatch(rules: MappingRules, s: RuleSubject): CompiledRule | null {
  for (const r of rules.rules) if (ruleMatches(r, s)) return r;
  return null;
}

// ---------------------------------------------------------------- errors

function schemaErrors(source: YamlSource, errors: ValueError[]): SourceError[] {
  const seen = new Set<string>();
  const out: SourceError[] = [];
  for (const e of errors) {
    const segs = pointerSegments(e.path);
    const key = `${e.path}\u0000${e.type}`;
    if (seen.has(key)) continue;
    seen.add(key);
    // A missing key is reported where its parent object is; an unknown key where it is written.
    const where =
      e.type === ValueErrorType.ObjectRequiredProperty
        ? source.locate(segs.slice(0, -1))
        : source.locate(segs);
    out.push({ ...where, path: dottedPath(segs), message: describeSchemaError(e) });
  }
  return out.sort((a, b) => a.line - b.line || a.column - b.column);
}

function describeSchemaError(e: ValueError): string {
  const segs = pointerSegments(e.path);
  const last = segs[segs.length - 1];
  const path = dottedPath(segs);
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return `missing required key "${String(last)}"${segs.length > 1 ? ` in ${dottedPath(segs.slice(0, -1))}` : ''}`;
    case ValueErrorType.ObjectAdditionalProperties: {
      const allowed = allowedKeysAt(segs.slice(0, -1));
      return `unknown key "${String(last)}"${allowed === null ? '' : `; expected one of ${allowed.join(', ')}`}`;
    }
    case ValueErrorType.Object:
      return `${path} must be a mapping (key: value)`;
    case ValueErrorType.Array:
      return `${path} must be a list`;
    case ValueErrorType.ArrayMinItems:
      return `${path} must have at least one item`;
    case ValueErrorType.Literal:
      return last === 'version' ? 'version must be 1' : `${path} must be ${JSON.stringify(e.schema.const)}`;
    case ValueErrorType.Union:
      if (last === 'x509SvidTtl' || last === 'jwtSvidTtl')
        return `${path} must be a duration such as 1h or 300s, or a number of seconds`;
      if (last === 'mesh' || segs[segs.length - 2] === 'mesh')
        return `${path} must be istio or linkerd, or a list of them`;
      if (last === 'cluster' || last === 'namespace') return `${path} must be a name glob or a list of them`;
      return `${path} has the wrong type`;
    case ValueErrorType.StringPattern:
      if (last === 'owner')
        return `owner must be a team name of letters, digits and . _ @ / - (at most 63), got ${JSON.stringify(e.value)}`;
      return `${path} has an invalid value ${JSON.stringify(e.value)}`;
    case ValueErrorType.String:
      return `${path} must be a string`;
    case ValueErrorType.StringMinLength:
      return `${path} must not be empty`;
    case ValueErrorType.StringMaxLength:
      return `${path} is too long`;
    default:
      return `${path}: ${e.message}`;
  }
}

function allowedKeysAt(segs: (string | number)[]): string[] | null {
  const named = segs.filter((s) => typeof s === 'string');
  const last = named[named.length - 1];
  const keys = (schema: { properties: Record<string, unknown> }) => Object.keys(schema.properties);
  if (segs.length === 0) return keys(RulesFileSchema);
  if (last === 'rules' && typeof segs[segs.length - 1] === 'number') return keys(RuleSchema);
  if (last === 'match') return keys(RuleMatchSchema);
  if (last === 'defaults') return ['owner', ...Object.keys(EntryFields)];
  return null;
}

function rulesError(file: string, errors: SourceError[]): MapperError {
  const lines = errors.map((e) =>
    e.line > 0 ? `${file}:${e.line}:${e.column}: ${e.message}` : `${file}: ${e.path}: ${e.message}`,
  );
  return new MapperError(
    'RULES_INVALID',
    `${file} is not a valid rules file (${errors.length} error${errors.length === 1 ? '' : 's'}):\n  ${lines.join('\n  ')}`,
    { details: { file, errors } },
  );
}

function msg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
