import { type Document, isMap, isSeq, LineCounter, type Node, parseDocument } from 'yaml';

/** A parsed YAML document that can say where any JSON-pointer path sits in the text. */
export interface YamlSource {
  readonly file: string;
  readonly doc: Document;
  readonly value: unknown;
  /** Line and column (1-based) of the node at `path`, or of its nearest existing parent. */
  locate(path: readonly (string | number)[], keyOf?: string): { line: number; column: number };
}

export interface SourceError {
  line: number;
  column: number;
  path: string;
  message: string;
}

/** Parses one YAML document; syntax errors come back with their line and column. */
export function parseYamlSource(
  text: string,
  file: string,
  maxAliasCount = 100,
): { source: YamlSource; errors: [] } | { source: null; errors: SourceError[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      source: null,
      errors: doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return { line: pos.line, column: pos.col, path: '', message: firstLine(e.message) };
      }),
    };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount });
  } catch (err) {
    return { source: null, errors: [{ line: 1, column: 1, path: '', message: (err as Error).message }] };
  }
  const locate = (path: readonly (string | number)[], keyOf?: string) => {
    let node: unknown = doc.contents;
    let offset = rangeStart(node) ?? 0;
    for (const seg of path) {
      const next = childOf(node, seg);
      if (next === undefined) break;
      offset = next.at ?? offset;
      node = next.value;
    }
    if (keyOf !== undefined) {
      const k = childOf(node, keyOf);
      if (k?.at !== undefined) offset = k.at;
    }
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  return { source: { file, doc, value, locate }, errors: [] };
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return Array.isArray(range) ? range[0] : undefined;
}

function childOf(
  node: unknown,
  seg: string | number,
): { value: unknown; at: number | undefined } | undefined {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = (pair.key as { value?: unknown } | null)?.value ?? pair.key;
      if (String(key) === String(seg)) return { value: pair.value, at: rangeStart(pair.key) };
    }
    return undefined;
  }
  if (isSeq(node)) {
    const i = typeof seg === 'number' ? seg : Number(seg);
    const item = Number.isInteger(i) ? node.items[i] : undefined;
    return item === undefined ? undefined : { value: item, at: rangeStart(item) };
  }
  return undefined;
}

/** `/rules/0/match` → `['rules', 0, 'match']` (JSON pointer, RFC 6901 escapes). */
export function pointerSegments(pointer: string): (string | number)[] {
  if (pointer === '' || pointer === '/') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** `['rules', 0, 'match']` → `rules[0].match` (how people read a path). */
export function dottedPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) out += typeof s === 'number' ? `[${s}]` : out === '' ? s : `.${s}`;
  return out === '' ? '(top level)' : out;
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}
