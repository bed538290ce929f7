/**
 * The team's existing authorization policies, read from YAML (one or many documents,
 * `kind: List` included): Istio `AuthorizationPolicy` (security.istio.io) and Linkerd
 * `MeshTLSAuthentication` (policy.linkerd.io). Other kinds are counted and ignored.
 */
import { parseAllDocuments } from 'yaml';
import { MapperError } from '../errors.js';

export interface PolicyObject {
  /** `file#index` (document index, then item index inside a List). */
  locator: string;
  kind: 'AuthorizationPolicy' | 'MeshTLSAuthentication';
  apiVersion: string;
  name: string;
  namespace: string | null;
  /** The object as read (never modified). */
  object: Record<string, unknown>;
}

export interface PolicySet {
  policies: PolicyObject[];
  ignored: number;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses policy manifests; throws POLICY_INVALID with the line of a YAML error. */
export function parsePolicyDocuments(text: string, file: string): PolicySet {
  const docs = parseAllDocuments(text, { uniqueKeys: false });
  const list = Array.isArray(docs) ? docs : [docs];
  const policies: PolicyObject[] = [];
  let ignored = 0;
  for (const [i, doc] of list.entries()) {
    const err = doc.errors[0];
    if (err !== undefined) {
      const line = err.linePos?.[0]?.line;
      throw new MapperError(
        'POLICY_INVALID',
        `${file}: YAML document ${i + 1} is malformed${line === undefined ? '' : ` at line ${line}`}: ${err.message.split('\n')[0]}`,
        { details: { file, document: i + 1, ...(line === undefined ? {} : { line }) } },
      );
    }
    const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
    if (value == null) continue;
    const items = isObj(value) && value.kind === 'List' && Array.isArray(value.items) ? value.items : [value];
    for (const [j, item] of items.entries()) {
      const locator = items.length > 1 || items[0] !== value ? `${file}#${i}.${j}` : `${file}#${i}`;
      const p = policyOf(item, locator);
      if (p === null) ignored++;
      else policies.push(p);
    }
  }
  return { policies, ignored };
}

function policyOf(item: unknown, locator: string): PolicyObject | null {
  if (!isObj(item)) return null;
  const apiVersion = typeof item.apiVersion === 'string' ? item.apiVersion : '';
  const kind = item.kind;
  const group = apiVersion.split('/')[0];
  const ok =
    (kind === 'AuthorizationPolicy' && group === 'security.istio.io') ||
    (kind === 'MeshTLSAuthentication' && group === 'policy.linkerd.io');
  if (!ok) return null;
  const meta = isObj(item.metadata) ? item.metadata : {};
  if (typeof meta.name !== 'string' || meta.name === '') {
    throw new MapperError('POLICY_INVALID', `${locator}: ${String(kind)} has no metadata.name`, {
      details: { locator },
    });
  }
  if (item.spec !== undefined && !isObj(item.spec)) {
    throw new MapperError(
      'POLICY_INVALID',
      `${locator}: ${String(kind)} ${meta.name} has a spec that is not a mapping`,
      {
        details: { locator },
      },
    );
  }
  return {
    locator,
    kind: kind as PolicyObject['kind'],
    apiVersion,
    name: meta.name,
    namespace: typeof meta.namespace === 'string' ? meta.namespace : null,
    object: item,
  };
}

const DROPPED_METADATA = [
  'resourceVersion',
  'uid',
  'creationTimestamp',
  'generation',
  'managedFields',
  'selfLink',
];

/** A copy fit to apply again: no status, no server-set metadata, meshbridge annotations added. */
export function cleanCopy(
  obj: Record<string, unknown>,
  annotations: Record<string, string>,
): Record<string, unknown> {
  const copy = structuredClone(obj);
  delete copy.status;
  const meta = isObj(copy.metadata) ? copy.metadata : {};
  for (const k of DROPPED_METADATA) delete meta[k];
  const ann = isObj(meta.annotations) ? { ...(meta.annotations as Record<string, string>) } : {};
  delete ann['kubectl.kubernetes.io/last-applied-configuration'];
  meta.annotations = { ...ann, ...annotations };
  copy.metadata = meta;
  return copy;
}

export function asObj(v: unknown): Obj | null {
  return isObj(v) ? v : null;
}

export function stringList(v: unknown): string[] | null {
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : null;
}
