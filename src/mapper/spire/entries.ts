/**
 * SPIRE registration entries in the form `spire-server entry create -data FILE` and
 * `entry update -data FILE` read: `{"entries":[RegistrationEntry...]}`, where a
 * RegistrationEntry is SPIRE's `spire.common.RegistrationEntry` (proto/spire/common/
 * common.proto) as Go's encoding/json writes it, with the proto field names as keys:
 *
 *   selectors (1) [{type, value}], parent_id (2), spiffe_id (3), x509_svid_ttl (4, int32
 *   seconds), federates_with (5, trust domain SPIFFE IDs), entry_id (6), admin (7),
 *   downstream (8), entryExpiry (9, int64 epoch seconds), dns_names (10),
 *   revision_number (11, int64), store_svid (12), jwt_svid_ttl (13, int32), hint (14).
 *
 * Ownership: every entry meshbridge writes carries the hint `meshbridge` or
 * `meshbridge:<owner>`. The hint is an operator-chosen string SPIRE passes to workloads
 * to pick between several SVIDs; it changes neither matching nor issuance, which makes
 * it the one field that can mark an entry without changing what it does. The plan
 * (./plan.ts) only ever proposes to delete entries with that mark.
 */
import { type Static, Type } from '@sinclair/typebox';
import type { MappedIdentity, MappingResult } from '../map.js';
import { type MappingProblem, problem } from '../problems.js';
import type { MappingRules } from '../rules.js';

const Int32 = Type.Integer({ minimum: 0, maximum: 2_147_483_647 });
const Int64 = Type.Integer();

export const SpireSelectorSchema = Type.Object(
  { type: Type.String({ minLength: 1 }), value: Type.String({ minLength: 1 }) },
  { additionalProperties: false },
);

/** `spire.common.RegistrationEntry`, every field of common.proto, JSON names as encoding/json writes them. */
export const SpireRegistrationEntrySchema = Type.Object(
  {
    selectors: Type.Array(SpireSelectorSchema, { minItems: 1 }),
    parent_id: Type.String({ pattern: '^spiffe://' }),
    spiffe_id: Type.String({ pattern: '^spiffe://' }),
    x509_svid_ttl: Type.Optional(Int32),
    federates_with: Type.Optional(Type.Array(Type.String({ pattern: '^spiffe://' }))),
    entry_id: Type.Optional(Type.String({ minLength: 1 })),
    admin: Type.Optional(Type.Boolean()),
    downstream: Type.Optional(Type.Boolean()),
    entryExpiry: Type.Optional(Int64),
    dns_names: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    revision_number: Type.Optional(Int64),
    store_svid: Type.Optional(Type.Boolean()),
    jwt_svid_ttl: Type.Optional(Int32),
    hint: Type.Optional(Type.String({ maxLength: 1024 })),
  },
  { additionalProperties: false },
);

/** The `-data` file: `spire.common.RegistrationEntries`. */
export const SpireEntriesFileSchema = Type.Object(
  { entries: Type.Array(SpireRegistrationEntrySchema) },
  { additionalProperties: false },
);

export type SpireRegistrationEntry = Static<typeof SpireRegistrationEntrySchema>;
export type SpireEntriesFile = Static<typeof SpireEntriesFileSchema>;

// ---------------------------------------------------------------- ownership

export const MESHBRIDGE_HINT = 'meshbridge';

/** The hint meshbridge writes: `meshbridge` or `meshbridge:<owner>`. */
export function ownershipHint(owner: string | null | undefined): string {
  return owner ? `${MESHBRIDGE_HINT}:${owner}` : MESHBRIDGE_HINT;
}

/** Whether an existing entry was written by meshbridge (its hint carries the mark). */
export function isMeshbridgeOwned(hint: string | null | undefined): boolean {
  return hint === MESHBRIDGE_HINT || (typeof hint === 'string' && hint.startsWith(`${MESHBRIDGE_HINT}:`));
}

/** The owner recorded in a meshbridge hint (`meshbridge:team-a` → `team-a`). */
export function ownerFromHint(hint: string | null | undefined): string | null {
  return typeof hint === 'string' && hint.startsWith(`${MESHBRIDGE_HINT}:`)
    ? hint.slice(MESHBRIDGE_HINT.length + 1)
    : null;
}

// ---------------------------------------------------------------- building

export interface DesiredEntry {
  entry: SpireRegistrationEntry;
  /** Node alias entries (parent `spiffe://<td>/spire/server`) have no identity. */
  kind: 'workload' | 'node-alias';
  identities: Pick<MappedIdentity, 'mesh' | 'cluster' | 'meshIdentity'>[];
  owner: string | null;
}

export interface BuildEntriesResult {
  entries: DesiredEntry[];
  problems: MappingProblem[];
}

/** `{type, value}` pairs sorted the way SPIRE compares selector sets. */
export function selectorKey(selectors: readonly { type: string; value: string }[]): string {
  return selectors
    .map((s) => `${s.type}:${s.value}`)
    .sort()
    .join('\u0000');
}

export function entryKey(e: {
  spiffe_id: string;
  parent_id: string;
  selectors: { type: string; value: string }[];
}): string {
  return `${e.spiffe_id}\u0001${e.parent_id}\u0001${selectorKey(e.selectors)}`;
}

/**
 * One registration entry per mapped identity: k8s selectors (`k8s:ns`, `k8s:sa`), the
 * rule's parent ID, TTLs, DNS names and federation, and the ownership hint. Rules without
 * their own parent ID use `spiffe://<td>/k8s/<cluster>/nodes`; for those a node alias
 * entry per cluster (`k8s_psat:cluster:<cluster>`, parent `spiffe://<td>/spire/server`) is
 * written too, so the file works as it is.
 */
export function buildSpireEntries(rules: MappingRules, result: MappingResult): BuildEntriesResult {
  const td = rules.trustDomain;
  const problems: MappingProblem[] = [];
  const byKey = new Map<string, DesiredEntry>();
  const aliases = new Map<string, DesiredEntry>();
  for (const m of result.identities) {
    const rule = rules.rules[m.rule];
    if (rule === undefined) continue;
    const values = {
      trustDomain: td,
      cluster: m.cluster,
      namespace: m.namespace,
      serviceAccount: m.serviceAccount,
      mesh: m.mesh,
    };
    const parent = rule.parentId.render(values);
    if (!parent.ok) {
      problems.push(
        problem(
          'TEMPLATE_VALUE_MISSING',
          `the SPIRE parent ID of ${m.spiffeId} needs {${parent.missing}}, which ${m.meshIdentity} does not have; set parentId in the rules`,
          { meshIdentity: m.meshIdentity, spiffeId: m.spiffeId, rule: m.rule, owner: m.owner },
        ),
      );
      continue;
    }
    if (m.namespace === null || m.serviceAccount === null) {
      problems.push(
        problem(
          'TEMPLATE_VALUE_MISSING',
          `no k8s:ns / k8s:sa selector can be written for ${m.spiffeId}: the namespace or service account of ${m.meshIdentity} is unknown`,
          { meshIdentity: m.meshIdentity, spiffeId: m.spiffeId, rule: m.rule, owner: m.owner },
        ),
      );
      continue;
    }
    const dnsNames: string[] = [];
    for (const t of rule.dnsNames) {
      const r = t.render(values);
      if (r.ok) dnsNames.push(r.value);
    }
    const entry: SpireRegistrationEntry = {
      spiffe_id: m.spiffeId,
      parent_id: parent.value,
      selectors: [
        { type: 'k8s', value: `ns:${m.namespace}` },
        { type: 'k8s', value: `sa:${m.serviceAccount}` },
      ],
      x509_svid_ttl: rule.x509SvidTtl,
      jwt_svid_ttl: rule.jwtSvidTtl,
      federates_with: rule.federatesWith.map((f) => `spiffe://${f}`),
      dns_names: dnsNames,
      hint: ownershipHint(m.owner),
    };
    const key = entryKey(entry);
    const seen = byKey.get(key);
    const ident = { mesh: m.mesh, cluster: m.cluster, meshIdentity: m.meshIdentity };
    if (seen !== undefined) seen.identities.push(ident);
    else byKey.set(key, { entry, kind: 'workload', identities: [ident], owner: m.owner });
    if (rule.defaultParent && m.cluster !== null && !aliases.has(parent.value)) {
      aliases.set(parent.value, {
        kind: 'node-alias',
        identities: [],
        owner: null,
        entry: {
          spiffe_id: parent.value,
          parent_id: `spiffe://${td}/spire/server`,
          selectors: [{ type: 'k8s_psat', value: `cluster:${m.cluster}` }],
          x509_svid_ttl: 0,
          jwt_svid_ttl: 0,
          federates_with: [],
          dns_names: [],
          hint: ownershipHint(null),
        },
      });
    }
  }
  // Entries of different clusters under one parent with the same selectors: each workload would get all of them.
  const shared = new Map<string, DesiredEntry[]>();
  for (const d of byKey.values()) {
    const k = `${d.entry.parent_id}\u0001${selectorKey(d.entry.selectors)}`;
    const list = shared.get(k);
    if (list === undefined) shared.set(k, [d]);
    else list.push(d);
  }
  for (const list of shared.values()) {
    const clusters = new Set(list.flatMap((d) => d.identities.map((i) => i.cluster)));
    if (clusters.size < 2) continue;
    problems.push(
      problem(
        'SPIRE_SELECTORS_SHARED',
        `${list.map((d) => `${d.entry.spiffe_id} (${[...new Set(d.identities.map((i) => i.cluster ?? 'no cluster'))].join(', ')})`).join(' and ')} would be registered under the same parent ${list[0]!.entry.parent_id} with the same selectors, so workloads of every one of these clusters would receive all of them; put {cluster} in parentId`,
        {
          spiffeId: list[0]!.entry.spiffe_id,
          details: { parentId: list[0]!.entry.parent_id, spiffeIds: list.map((d) => d.entry.spiffe_id) },
        },
      ),
    );
  }
  const entries = [...aliases.values(), ...byKey.values()].sort(
    (a, b) =>
      (a.kind === b.kind ? 0 : a.kind === 'node-alias' ? -1 : 1) ||
      cmp(a.entry.spiffe_id, b.entry.spiffe_id) ||
      cmp(a.entry.parent_id, b.entry.parent_id),
  );
  return { entries, problems };
}

export function entriesFile(entries: readonly SpireRegistrationEntry[]): SpireEntriesFile {
  return { entries: [...entries] };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
