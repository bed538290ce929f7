/**
 * Who talks to whom, from the files teams already have:
 * - a YAML (or JSON) edge list: `[{source, destination}]` or `{edges: [...]}`; `from/to`,
 *   `src/dst`, `client/server` are accepted too, as is a string `a -> b`;
 * - CSV: a header naming `source` and `destination` columns (or the aliases above), or
 *   no header and the first two columns;
 * - a Kiali graph export (`/api/namespaces/graph`, `elements.edges[].data`), using
 *   `sourcePrincipal` / `destPrincipal` (the security appender), or the nodes' namespace
 *   and workload when the principals are absent (then unresolved: a graph node names
 *   no service account);
 * - an Istio telemetry query result (Prometheus `istio_requests_total` /
 *   `istio_tcp_connections_opened_total` by `source_principal`, `destination_principal`).
 * Identities are written as meshes write them: SPIFFE IDs, Linkerd DNS identities, or
 * `ns/<ns>/sa/<sa>`.
 */
import { parse as parseYaml } from 'yaml';
import { inputError } from './errors.js';

export interface Edge {
  /** The client. */
  source: string;
  /** The server. */
  destination: string;
}

export interface EdgeList {
  format: 'yaml' | 'csv' | 'kiali' | 'prometheus' | 'json';
  edges: Edge[];
  /** Edges that name no identity (e.g. a Kiali edge without principals), with why. */
  unresolved: { source: string; destination: string; reason: string }[];
}

const SOURCE_KEYS = ['source', 'src', 'from', 'client', 'source_principal', 'sourcePrincipal'];
const DEST_KEYS = ['destination', 'dest', 'dst', 'to', 'server', 'destination_principal', 'destPrincipal'];

export function parseEdges(input: Uint8Array | string, name = 'edges'): EdgeList {
  const text = (typeof input === 'string' ? input : Buffer.from(input).toString('utf8')).replace(
    /^\ufeff/,
    '',
  );
  const head = text.trimStart();
  let out: EdgeList;
  if (head.startsWith('{') || head.startsWith('[')) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw inputError('EDGES_MALFORMED', `${name} is not valid JSON: ${(err as Error).message}`);
    }
    out = fromStructured(doc, name, 'json');
  } else if (looksLikeCsv(text)) {
    out = fromCsv(text, name);
  } else {
    let doc: unknown;
    try {
      doc = parseYaml(text, { maxAliasCount: 100 });
    } catch (err) {
      throw inputError('EDGES_MALFORMED', `${name} is not valid YAML: ${(err as Error).message}`);
    }
    out = fromStructured(doc, name, 'yaml');
  }
  const seen = new Set<string>();
  out.edges = out.edges.filter((e) => {
    const k = `${e.source}\u0000${e.destination}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  if (out.edges.length === 0 && out.unresolved.length === 0) {
    throw inputError('EDGES_EMPTY', `${name} holds no edges`);
  }
  return out;
}

function looksLikeCsv(text: string): boolean {
  const first = text.split(/\r?\n/).find((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
  if (first === undefined) return false;
  return (
    first.includes(',') && !/^\s*-\s/.test(first) && !/^[\w"'-]+:\s/.test(first) && !first.includes('->')
  );
}

function fromCsv(text: string, name: string): EdgeList {
  const rows = text
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'))
    .map(splitCsvLine);
  let src = 0;
  let dst = 1;
  const header = rows[0]!.map((h) => h.trim().toLowerCase());
  const si = header.findIndex((h) => SOURCE_KEYS.map((k) => k.toLowerCase()).includes(h));
  const di = header.findIndex((h) => DEST_KEYS.map((k) => k.toLowerCase()).includes(h));
  let body = rows;
  if (si >= 0 && di >= 0) {
    src = si;
    dst = di;
    body = rows.slice(1);
  }
  const edges: Edge[] = [];
  body.forEach((r, i) => {
    const s = r[src]?.trim();
    const d = r[dst]?.trim();
    if (!s || !d)
      throw inputError('EDGES_MALFORMED', `${name} row ${i + 1}: needs a source and a destination`);
    edges.push({ source: s, destination: d });
  });
  return { format: 'csv', edges, unresolved: [] };
}

function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function fromStructured(doc: unknown, name: string, format: 'yaml' | 'json'): EdgeList {
  if (isObject(doc)) {
    const elements = isObject(doc.elements) ? doc.elements : undefined;
    if (elements !== undefined && Array.isArray(elements.edges)) return fromKiali(elements, name);
    if (isObject(doc.data) && Array.isArray(doc.data.result)) return fromPrometheus(doc.data.result, name);
    if (Array.isArray(doc.edges)) return { format, edges: listEdges(doc.edges, name), unresolved: [] };
  }
  if (Array.isArray(doc)) return { format, edges: listEdges(doc, name), unresolved: [] };
  throw inputError(
    'EDGES_MALFORMED',
    `${name} is no edge list: expected [{source, destination}], {edges: [...]}, a Kiali graph or a Prometheus result`,
  );
}

function listEdges(items: unknown[], name: string): Edge[] {
  return items.map((item, i) => {
    if (typeof item === 'string') {
      const m = /^\s*(\S+)\s*->\s*(\S+)\s*$/.exec(item);
      if (m !== null) return { source: m[1]!, destination: m[2]! };
    }
    if (isObject(item)) {
      const s = pick(item, SOURCE_KEYS);
      const d = pick(item, DEST_KEYS);
      if (s !== undefined && d !== undefined) return { source: s, destination: d };
    }
    throw inputError('EDGES_MALFORMED', `${name} edge ${i + 1}: needs a source and a destination`);
  });
}

function fromKiali(elements: Record<string, unknown>, name: string): EdgeList {
  const nodes = new Map<string, Record<string, unknown>>();
  for (const n of Array.isArray(elements.nodes) ? elements.nodes : []) {
    if (isObject(n) && isObject(n.data) && typeof n.data.id === 'string') nodes.set(n.data.id, n.data);
  }
  const edges: Edge[] = [];
  const unresolved: EdgeList['unresolved'] = [];
  for (const e of elements.edges as unknown[]) {
    if (!isObject(e) || !isObject(e.data))
      throw inputError('EDGES_MALFORMED', `${name}: a Kiali edge has no data`);
    const d = e.data;
    const sp = principal(d.sourcePrincipal);
    const dp = principal(d.destPrincipal);
    if (sp !== undefined && dp !== undefined) {
      edges.push({ source: sp, destination: dp });
      continue;
    }
    const label = (id: unknown) => {
      const n = typeof id === 'string' ? nodes.get(id) : undefined;
      if (n === undefined) return String(id);
      return `${n.namespace ?? '?'}/${n.workload ?? n.app ?? n.service ?? n.id}`;
    };
    unresolved.push({
      source: sp ?? label(d.source),
      destination: dp ?? label(d.target),
      reason:
        'the Kiali edge carries no sourcePrincipal/destPrincipal (enable the security appender, or the traffic is not mTLS)',
    });
  }
  return { format: 'kiali', edges, unresolved };
}

function fromPrometheus(result: unknown[], name: string): EdgeList {
  const edges: Edge[] = [];
  const unresolved: EdgeList['unresolved'] = [];
  for (const r of result) {
    if (!isObject(r) || !isObject(r.metric))
      throw inputError('EDGES_MALFORMED', `${name}: a result has no metric`);
    const m = r.metric;
    const sp = principal(m.source_principal);
    const dp = principal(m.destination_principal);
    if (sp !== undefined && dp !== undefined) edges.push({ source: sp, destination: dp });
    else
      unresolved.push({
        source: sp ?? `${m.source_workload_namespace ?? '?'}/${m.source_workload ?? '?'}`,
        destination: dp ?? `${m.destination_workload_namespace ?? '?'}/${m.destination_workload ?? '?'}`,
        reason: 'no source_principal/destination_principal (plain-text traffic or a missing label)',
      });
  }
  return { format: 'prometheus', edges, unresolved };
}

function principal(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  return t === '' || t === 'unknown' ? undefined : t;
}

function pick(o: Record<string, unknown>, keys: string[]): string | undefined {
  for (const k of keys) {
    const v = o[k];
    if (typeof v === 'string' && v.trim() !== '') return v.trim();
  }
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
