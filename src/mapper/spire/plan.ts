/**
 * What applying the wanted entries to a SPIRE server would do, judged against a stored
 * `entry show -output json` dump:
 *
 * - `create`: no entry with the same (SPIFFE ID, parent ID, selector set) exists;
 * - `keep`: one exists and is what meshbridge wants, or exists and is not meshbridge's
 *   (left exactly as it is, reported as SPIRE_ENTRY_FOREIGN);
 * - `update`: a meshbridge entry with the same key but other TTLs / DNS names /
 *   federation / owner (applied with `entry update -data`, by entry ID);
 * - `would-delete`: a meshbridge entry no longer wanted. Only entries carrying
 *   meshbridge's hint are ever listed here; an entry meshbridge did not create is never
 *   proposed for deletion, whatever it says. Nothing is deleted by meshbridge itself.
 */
import type { MappingProblem } from '../problems.js';
import { problem } from '../problems.js';
import type { SpireEntry } from './dump.js';
import {
  type DesiredEntry,
  entryKey,
  ownerFromHint,
  type SpireRegistrationEntry,
  selectorKey,
} from './entries.js';

export type PlanAction = 'create' | 'keep' | 'update' | 'would-delete';

export interface PlanItem {
  action: PlanAction;
  spiffeId: string;
  parentId: string;
  selectors: string[];
  /** The existing entry's ID (keep, update, would-delete). */
  entryId: string | null;
  /** `meshbridge` when the existing (or new) entry carries meshbridge's hint, else `foreign`. */
  ownedBy: 'meshbridge' | 'foreign';
  owner: string | null;
  reason: string;
  /** Fields an update changes. */
  changes?: string[];
}

export interface SpirePlan {
  summary: { create: number; keep: number; update: number; wouldDelete: number; foreignUntouched: number };
  items: PlanItem[];
  /** `entry create -data` input: only the entries to create. */
  createFile: { entries: SpireRegistrationEntry[] };
  /** `entry update -data` input: the entries to update, with their `entry_id`. */
  updateFile: { entries: SpireRegistrationEntry[] };
  problems: MappingProblem[];
}

export function planSpireEntries(
  desired: readonly DesiredEntry[],
  existing: readonly SpireEntry[],
): SpirePlan {
  const byKey = new Map<string, SpireEntry[]>();
  for (const e of existing) {
    const key = entryKey({ spiffe_id: e.spiffeId, parent_id: e.parentId, selectors: e.selectors });
    const list = byKey.get(key);
    if (list === undefined) byKey.set(key, [e]);
    else list.push(e);
  }
  const matched = new Set<string>();
  const items: PlanItem[] = [];
  const creates: SpireRegistrationEntry[] = [];
  const updates: SpireRegistrationEntry[] = [];
  const problems: MappingProblem[] = [];

  for (const d of desired) {
    const e = d.entry;
    const key = entryKey(e);
    const found = byKey.get(key) ?? [];
    const base = {
      spiffeId: e.spiffe_id,
      parentId: e.parent_id,
      selectors: selectorStrings(e.selectors),
      owner: d.owner,
    };
    const mine = found.find((x) => x.meshbridgeOwned);
    const theirs = found.find((x) => !x.meshbridgeOwned);
    if (mine !== undefined) {
      matched.add(mine.id);
      const changes = differences(e, mine);
      if (changes.length === 0) {
        items.push({
          action: 'keep',
          ...base,
          entryId: mine.id,
          ownedBy: 'meshbridge',
          reason: 'exists as wanted',
        });
      } else {
        items.push({
          action: 'update',
          ...base,
          entryId: mine.id,
          ownedBy: 'meshbridge',
          reason: `meshbridge's entry differs in ${changes.join(', ')}`,
          changes,
        });
        updates.push({ entry_id: mine.id, ...e });
      }
      continue;
    }
    if (theirs !== undefined) {
      matched.add(theirs.id);
      items.push({
        action: 'keep',
        ...base,
        entryId: theirs.id,
        ownedBy: 'foreign',
        reason:
          'an entry with this SPIFFE ID, parent and selectors exists but was not created by meshbridge; left as it is',
      });
      problems.push(
        problem(
          'SPIRE_ENTRY_FOREIGN',
          `SPIRE entry ${theirs.id} already registers ${e.spiffe_id} for ${base.selectors.join(', ')} but was not created by meshbridge (hint "${theirs.hint}"); meshbridge leaves it alone`,
          { spiffeId: e.spiffe_id, owner: d.owner, details: { entryId: theirs.id } },
        ),
      );
      continue;
    }
    items.push({
      action: 'create',
      ...base,
      entryId: null,
      ownedBy: 'meshbridge',
      reason: 'not registered yet',
    });
    creates.push(e);
  }

  let foreignUntouched = 0;
  for (const x of existing) {
    if (matched.has(x.id)) continue;
    if (!x.meshbridgeOwned) {
      foreignUntouched++;
      continue;
    }
    items.push({
      action: 'would-delete',
      spiffeId: x.spiffeId,
      parentId: x.parentId,
      selectors: selectorStrings(x.selectors),
      entryId: x.id,
      ownedBy: 'meshbridge',
      owner: ownerFromHint(x.hint),
      reason: 'created by meshbridge and no longer produced by the rules',
    });
  }

  const order: Record<PlanAction, number> = { create: 0, update: 1, keep: 2, 'would-delete': 3 };
  items.sort(
    (a, b) =>
      order[a.action] - order[b.action] ||
      cmp(a.spiffeId, b.spiffeId) ||
      cmp(a.parentId, b.parentId) ||
      cmp(a.entryId ?? '', b.entryId ?? ''),
  );
  const count = (a: PlanAction) => items.filter((i) => i.action === a).length;
  return {
    summary: {
      create: count('create'),
      keep: count('keep'),
      update: count('update'),
      wouldDelete: count('would-delete'),
      foreignUntouched,
    },
    items,
    createFile: { entries: creates },
    updateFile: { entries: updates },
    problems,
  };
}

function differences(want: SpireRegistrationEntry, have: SpireEntry): string[] {
  const out: string[] = [];
  if ((want.x509_svid_ttl ?? 0) !== have.x509SvidTtl) out.push('x509_svid_ttl');
  if ((want.jwt_svid_ttl ?? 0) !== have.jwtSvidTtl) out.push('jwt_svid_ttl');
  if (!sameSet(want.dns_names ?? [], have.dnsNames)) out.push('dns_names');
  if (!sameSet(want.federates_with ?? [], have.federatesWith)) out.push('federates_with');
  if ((want.hint ?? '') !== have.hint) out.push('hint');
  return out;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const x = [...a].sort();
  const y = [...b].sort();
  return x.every((v, i) => v === y[i]);
}

function selectorStrings(s: readonly { type: string; value: string }[]): string[] {
  return selectorKey(s).split('\u0000');
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
