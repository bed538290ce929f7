/**
 * YAML (and JSON, which YAML 1.2 reads) checked against a TypeBox schema, with every
 * problem reported as `file:line:col: /json/pointer message`, so an operator can fix
 * a policy or config without guessing.
 */
import type { TSchema } from '@sinclair/typebox';
import { Value, type ValueError } from '@sinclair/typebox/value';
import { type Document, isNode, LineCounter, parseDocument } from 'yaml';
import { BrokerError, type BrokerErrorCode } from './errors.js';

export interface ParsedYaml {
  value: unknown;
  doc: Document;
  lines: LineCounter;
  file: string;
}

/** Parses YAML/JSON; syntax errors and duplicate keys are refused with their position. */
export function parseYaml(text: string, file: string, code: BrokerErrorCode): ParsedYaml {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const problems = doc.errors.slice(0, 5).map((e) => {
      const pos = lines.linePos(e.pos[0]);
      return `${file}:${pos.line}:${pos.col}: ${e.message.split('\n')[0]}`;
    });
    throw new BrokerError(code, `${file} is not valid YAML/JSON:\n  ${problems.join('\n  ')}`, {
      details: { problems },
    });
  }
  return { value: doc.toJS({ maxAliasCount: 100 }), doc, lines, file };
}

/** `file:line:col` of the node at a JSON pointer (or of its nearest existing parent). */
export function locate(parsed: ParsedYaml, pointer: string | readonly (string | number)[]): string {
  const segments = typeof pointer === 'string' ? pointerSegments(pointer) : [...pointer];
  for (let n = segments.length; n >= 0; n--) {
    const path = segments.slice(0, n).map((s) => (typeof s === 'string' && /^\d+$/.test(s) ? Number(s) : s));
    const node = n === 0 ? parsed.doc.contents : parsed.doc.getIn(path, true);
    if (isNode(node) && node.range !== undefined && node.range !== null) {
      const pos = parsed.lines.linePos(node.range[0]);
      return `${parsed.file}:${pos.line}:${pos.col}`;
    }
  }
  return `${parsed.file}:1:1`;
}

export function pointerSegments(pointer: string): string[] {
  if (pointer === '' || pointer === '/') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Where in the document the checked value sits (a section of a larger file). */
export interface SchemaTarget {
  value: unknown;
  /** Path of `value` in the document, e.g. `['broker']`. */
  prefix: readonly (string | number)[];
}

/**
 * The first of a schema's errors at each path, at most `max`: a missing property is also
 * reported as failing its type ("Expected string"), which says nothing more.
 */
export function firstErrorPerPath(errors: Iterable<ValueError>, max: number): ValueError[] {
  const byPath = new Map<string, ValueError>();
  for (const e of errors) {
    if (!byPath.has(e.path)) byPath.set(e.path, e);
    if (byPath.size >= max) break;
  }
  return [...byPath.values()];
}

/** Every schema violation as `file:line:col: /path message` (at most `max`). */
export function schemaProblems(
  schema: TSchema,
  parsed: ParsedYaml,
  target?: SchemaTarget,
  max = 8,
): string[] {
  const value = target === undefined ? parsed.value : target.value;
  const prefix = target?.prefix ?? [];
  return firstErrorPerPath(Value.Errors(schema, value), max).map((e) => {
    const path = [...prefix.map(String), ...pointerSegments(e.path)];
    return `${locate(parsed, path)}: /${path.join('/')} ${e.message}`;
  });
}

/** Throws `code` listing the problems, or returns the value typed by the schema. */
export function checkSchema<T>(
  schema: TSchema,
  parsed: ParsedYaml,
  code: BrokerErrorCode,
  what: string,
  target?: SchemaTarget,
): T {
  const problems = schemaProblems(schema, parsed, target);
  if (problems.length > 0) throw invalid(code, parsed.file, what, problems);
  return (target === undefined ? parsed.value : target.value) as T;
}

export function invalid(code: BrokerErrorCode, file: string, what: string, problems: string[]): BrokerError {
  return new BrokerError(code, `${what} ${file} is invalid:\n  ${problems.join('\n  ')}`, {
    details: { problems },
  });
}
