/**
 * The entries a SPIRE server holds, as `spire-server entry show -output json` prints
 * them: protojson of `spire.api.server.entry.v1.ListEntriesResponse`,
 *
 *   {"entries":[{"id", "spiffe_id":{"trust_domain","path"}, "parent_id":{...},
 *     "selectors":[{"type","value"}], "x509_svid_ttl", "jwt_svid_ttl", "federates_with",
 *     "admin", "downstream", "expires_at":"<int64>", "dns_names", "revision_number":"<int64>",
 *     "store_svid", "hint", "created_at":"<int64>"}], "next_page_token": ""}
 *
 * Also read: the older string form of `spiffe_id` / `parent_id` and `entry_id` instead of
 * `id` (the `-data` shape), so an export made with either works. Unknown fields are
 * ignored (newer servers add some).
 *
 * `prepareSpireEntrySync` is the logic of `meshbridge spire sync --entries FILE`: read,
 * validate, normalise and summarise; the CLI stores what it returns.
 */
import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { MapperError } from '../errors.js';
import { isMeshbridgeOwned, ownerFromHint } from './entries.js';

const Id = Type.Union([
  Type.String({ minLength: 1 }),
  Type.Object({ trust_domain: Type.String({ minLength: 1 }), path: Type.Optional(Type.String()) }),
]);
const Int = Type.Union([Type.Integer(), Type.String({ pattern: '^-?\\d+$' })]);

export const SpireShownEntrySchema = Type.Object({
  id: Type.Optional(Type.String({ minLength: 1 })),
  entry_id: Type.Optional(Type.String({ minLength: 1 })),
  spiffe_id: Id,
  parent_id: Id,
  selectors: Type.Array(Type.Object({ type: Type.String(), value: Type.String() })),
  x509_svid_ttl: Type.Optional(Int),
  jwt_svid_ttl: Type.Optional(Int),
  ttl: Type.Optional(Int),
  federates_with: Type.Optional(Type.Array(Type.String())),
  admin: Type.Optional(Type.Boolean()),
  downstream: Type.Optional(Type.Boolean()),
  expires_at: Type.Optional(Int),
  entryExpiry: Type.Optional(Int),
  dns_names: Type.Optional(Type.Array(Type.String())),
  revision_number: Type.Optional(Int),
  store_svid: Type.Optional(Type.Boolean()),
  hint: Type.Optional(Type.String()),
  created_at: Type.Optional(Int),
});

export const SpireEntryShowOutputSchema = Type.Object({
  entries: Type.Array(SpireShownEntrySchema),
  next_page_token: Type.Optional(Type.String()),
});

/** One existing SPIRE entry, normalised. */
export interface SpireEntry {
  id: string;
  spiffeId: string;
  parentId: string;
  selectors: { type: string; value: string }[];
  x509SvidTtl: number;
  jwtSvidTtl: number;
  federatesWith: string[];
  dnsNames: string[];
  hint: string;
  admin: boolean;
  downstream: boolean;
  storeSvid: boolean;
  expiresAt: number;
  revisionNumber: number;
  /** Carries meshbridge's ownership hint. */
  meshbridgeOwned: boolean;
}

export interface SpireEntryDump {
  /** Where it was read from (a file path, as given). */
  source: string;
  /** Lowercase hex SHA-256 of the bytes read. */
  sha256: string;
  entries: SpireEntry[];
}

export interface SpireDumpSummary {
  entries: number;
  /** Entries carrying meshbridge's hint: the only ones a plan may propose to delete. */
  meshbridgeOwned: number;
  foreign: number;
  trustDomains: string[];
  owners: string[];
}

/** Reads an `entry show -output json` dump; throws SPIRE_DUMP_INVALID naming the JSON path of each error. */
export function parseSpireEntryDump(text: string, source: string): SpireEntryDump {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const hint = /^\s*(Found \d+ entr|Entry ID)/.test(text)
      ? '; this looks like the pretty output: run `spire-server entry show -output json`'
      : '';
    throw new MapperError('SPIRE_DUMP_INVALID', `${source} is not JSON (${(err as Error).message})${hint}`, {
      details: { source },
    });
  }
  if (!Value.Check(SpireEntryShowOutputSchema, json)) {
    const errors = [...Value.Errors(SpireEntryShowOutputSchema, json)].slice(0, 10);
    throw new MapperError(
      'SPIRE_DUMP_INVALID',
      `${source} is not the output of \`spire-server entry show -output json\`:\n  ${errors
        .map((e) => `${e.path || '/'}: ${e.message}`)
        .join('\n  ')}`,
      { details: { source, errors: errors.map((e) => ({ path: e.path, message: e.message })) } },
    );
  }
  const entries: SpireEntry[] = [];
  const ids = new Set<string>();
  for (const [i, e] of json.entries.entries()) {
    const id = e.id ?? e.entry_id;
    if (id === undefined) {
      throw new MapperError('SPIRE_DUMP_INVALID', `${source}: /entries/${i} has no id`, {
        details: { source, index: i },
      });
    }
    if (ids.has(id)) {
      throw new MapperError('SPIRE_DUMP_INVALID', `${source}: entry id ${id} appears twice`, {
        details: { source, id },
      });
    }
    ids.add(id);
    const hint = e.hint ?? '';
    entries.push({
      id,
      spiffeId: idString(e.spiffe_id),
      parentId: idString(e.parent_id),
      selectors: e.selectors.map((s) => ({ type: s.type, value: s.value })),
      x509SvidTtl: num(e.x509_svid_ttl ?? e.ttl),
      jwtSvidTtl: num(e.jwt_svid_ttl),
      federatesWith: (e.federates_with ?? []).map((f) => (f.startsWith('spiffe://') ? f : `spiffe://${f}`)),
      dnsNames: e.dns_names ?? [],
      hint,
      admin: e.admin ?? false,
      downstream: e.downstream ?? false,
      storeSvid: e.store_svid ?? false,
      expiresAt: num(e.expires_at ?? e.entryExpiry),
      revisionNumber: num(e.revision_number),
      meshbridgeOwned: isMeshbridgeOwned(hint),
    });
  }
  entries.sort((a, b) => (a.spiffeId < b.spiffeId ? -1 : a.spiffeId > b.spiffeId ? 1 : a.id < b.id ? -1 : 1));
  return { source, sha256: createHash('sha256').update(text).digest('hex'), entries };
}

export function summarizeSpireDump(dump: { entries: readonly SpireEntry[] }): SpireDumpSummary {
  const tds = new Set<string>();
  const owners = new Set<string>();
  let owned = 0;
  for (const e of dump.entries) {
    const m = /^spiffe:\/\/([^/]+)/.exec(e.spiffeId);
    if (m) tds.add(m[1]!);
    if (e.meshbridgeOwned) {
      owned++;
      const o = ownerFromHint(e.hint);
      if (o) owners.add(o);
    }
  }
  return {
    entries: dump.entries.length,
    meshbridgeOwned: owned,
    foreign: dump.entries.length - owned,
    trustDomains: [...tds].sort(),
    owners: [...owners].sort(),
  };
}

/** The sync logic of `meshbridge spire sync --entries FILE`: the dump to store and what it holds. */
export function prepareSpireEntrySync(
  text: string,
  source: string,
): { dump: SpireEntryDump; summary: SpireDumpSummary } {
  const dump = parseSpireEntryDump(text, source);
  return { dump, summary: summarizeSpireDump(dump) };
}

function idString(v: string | { trust_domain: string; path?: string }): string {
  if (typeof v === 'string') return v;
  const path = v.path ?? '';
  return `spiffe://${v.trust_domain}${path === '' || path.startsWith('/') ? path : `/${path}`}`;
}

function num(v: number | string | undefined): number {
  if (v === undefined) return 0;
  return typeof v === 'number' ? v : Number(v);
}
