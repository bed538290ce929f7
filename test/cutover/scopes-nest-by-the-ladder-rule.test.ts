/**
 * The nesting rule (src/cutover/scope.ts): phase(parent) <= phase(child) <= phase(parent) + 1.
 * Named cases over a mesh `istio` with cluster `east` and namespaces `shop`, `payments`.
 */
import { describe, expect, test } from 'vitest';
import type { ScopeRow, Scopes } from '../../src/cutover/context.js';
import { behind, nestingBlockers, targetOf } from '../../src/cutover/gates.js';
import { nextPhase, type Phase, parseScopeName, planRollback } from '../../src/cutover/index.js';

function scopes(phases: Record<string, Phase>): Scopes {
  const out: Scopes = new Map();
  for (const [name, phase] of Object.entries(phases)) {
    const s = parseScopeName(name);
    const row: ScopeRow = {
      scope: s.name,
      parent: s.parent,
      level: s.level,
      mesh: s.mesh,
      cluster: s.cluster,
      namespace: s.namespace,
      phase,
      version: 3,
      updatedAt: '2026-01-01T00:00:00.000Z',
      updatedBy: 'test',
    };
    out.set(s.name, row);
  }
  return out;
}

const tree = (mesh: Phase, east: Phase, shop: Phase, payments: Phase) =>
  scopes({ istio: mesh, 'istio/east': east, 'istio/east/shop': shop, 'istio/east/payments': payments });

describe('advance: a child leads its parent by one phase at most', () => {
  const cases: { name: string; s: Scopes; scope: string; blockers: string[] }[] = [
    {
      name: 'a namespace may go first into dual-trust',
      s: tree('inventoried', 'inventoried', 'inventoried', 'inventoried'),
      scope: 'istio/east/shop',
      blockers: [],
    },
    {
      name: 'but not into dual-issue while its cluster is inventoried',
      s: tree('inventoried', 'inventoried', 'dual-trust', 'inventoried'),
      scope: 'istio/east/shop',
      blockers: ['PARENT_BEHIND istio/east'],
    },
    {
      name: 'once the cluster trusts SPIRE, it may issue SPIRE SVIDs',
      s: tree('inventoried', 'dual-trust', 'dual-trust', 'dual-trust'),
      scope: 'istio/east/shop',
      blockers: [],
    },
    {
      name: 'the cluster itself may lead the mesh by one phase',
      s: tree('inventoried', 'inventoried', 'dual-trust', 'dual-trust'),
      scope: 'istio/east',
      blockers: [],
    },
    {
      name: 'a mesh has no parent',
      s: tree('dual-issue', 'dual-issue', 'spiffe-only', 'dual-issue'),
      scope: 'istio',
      blockers: [],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const row = c.s.get(c.scope)!;
      const to = nextPhase(row.phase, row.level)!;
      expect(nestingBlockers(c.s, row, to).map((b) => `${b.code} ${b.scope}`)).toEqual(c.blockers);
    });
  }

  test('PARENT_BEHIND says which siblings hold the parent back', () => {
    const s = tree('inventoried', 'inventoried', 'dual-trust', 'inventoried');
    const [b] = nestingBlockers(s, s.get('istio/east/shop')!, 'dual-issue');
    expect(b!.message).toContain('advance istio/east to dual-trust first');
    expect(b!.message).toContain('istio/east/payments (inventoried)');
  });

  test('phases are never skipped: a scope two behind the target is SCOPE_BEHIND', () => {
    // billing appeared after istio/east entered dual-issue: it starts in inventoried.
    const s = scopes({
      istio: 'dual-trust',
      'istio/east': 'dual-issue',
      'istio/east/shop': 'dual-issue',
      'istio/east/billing': 'inventoried',
    });
    expect(
      behind(s, s.get('istio/east')!, 'dual-issue').map((b) => `${b.code} ${b.scope} ${b.phase}`),
    ).toEqual(['SCOPE_BEHIND istio/east/billing inventoried']);
  });

  test('retired is for a whole mesh; a namespace ends at spiffe-only', () => {
    const s = tree('spiffe-only', 'spiffe-only', 'spiffe-only', 'spiffe-only');
    expect(() => targetOf(s, 'istio/east/shop', undefined)).toThrow(
      expect.objectContaining({ code: 'CUTOVER_NO_NEXT_PHASE' }),
    );
    expect(() => targetOf(s, 'istio/east', 'retired')).toThrow(
      expect.objectContaining({ code: 'CUTOVER_PHASE_INVALID' }),
    );
    expect(targetOf(s, 'istio', undefined).to).toBe('retired');
  });

  test('--to guards the phase: one ahead only, and a scope already there is a conflict', () => {
    const s = tree('inventoried', 'inventoried', 'dual-trust', 'inventoried');
    expect(() => targetOf(s, 'istio/east/shop', 'dual-trust')).toThrow(
      expect.objectContaining({ code: 'CUTOVER_CONFLICT' }),
    );
    expect(() => targetOf(s, 'istio/east/payments', 'dual-issue')).toThrow(
      expect.objectContaining({ code: 'CUTOVER_PHASE_INVALID' }),
    );
    expect(() => targetOf(s, 'istio/west', undefined)).toThrow(
      expect.objectContaining({ code: 'CUTOVER_SCOPE_UNKNOWN' }),
    );
    expect(() => targetOf(s, 'a/b/c/d', undefined)).toThrow(
      expect.objectContaining({ code: 'CUTOVER_SCOPE_INVALID' }),
    );
  });
});

describe('rollback: one phase, ancestors at that phase follow, nobody ends two ahead', () => {
  const cases: {
    name: string;
    s: Scopes;
    scope: string;
    to: Phase;
    followers: string[];
    blockers: string[];
  }[] = [
    {
      name: 'a namespace ahead of its cluster goes back alone',
      s: tree('dual-trust', 'dual-trust', 'dual-issue', 'dual-trust'),
      scope: 'istio/east/shop',
      to: 'dual-trust',
      followers: [],
      blockers: [],
    },
    {
      name: 'a namespace level with its cluster and mesh takes them back with it',
      s: tree('dual-issue', 'dual-issue', 'dual-issue', 'dual-issue'),
      scope: 'istio/east/shop',
      to: 'dual-trust',
      followers: ['istio/east dual-issue->dual-trust', 'istio dual-issue->dual-trust'],
      blockers: [],
    },
    {
      name: 'refused while a sibling would lead the cluster by two',
      s: tree('dual-issue', 'dual-issue', 'dual-issue', 'spiffe-only'),
      scope: 'istio/east/shop',
      to: 'dual-trust',
      followers: ['istio/east dual-issue->dual-trust', 'istio dual-issue->dual-trust'],
      blockers: ['CHILD_AHEAD istio/east/payments'],
    },
    {
      name: 'a cluster is refused while a namespace would lead it by two',
      s: tree('dual-trust', 'dual-trust', 'dual-issue', 'dual-trust'),
      scope: 'istio/east',
      to: 'inventoried',
      followers: ['istio dual-trust->inventoried'],
      blockers: ['CHILD_AHEAD istio/east/shop'],
    },
    {
      name: 'nothing below a retired mesh goes back before the mesh',
      s: tree('retired', 'spiffe-only', 'spiffe-only', 'spiffe-only'),
      scope: 'istio/east/shop',
      to: 'dual-issue',
      followers: ['istio/east spiffe-only->dual-issue'],
      blockers: ['MESH_RETIRED istio'],
    },
    {
      name: 'the retired mesh goes back to spiffe-only',
      s: tree('retired', 'spiffe-only', 'spiffe-only', 'spiffe-only'),
      scope: 'istio',
      to: 'spiffe-only',
      followers: [],
      blockers: [],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const plan = planRollback(c.s, c.s.get(c.scope)!);
      expect(plan.to).toBe(c.to);
      expect(plan.followers.map((f) => `${f.scope} ${f.from}->${f.to}`)).toEqual(c.followers);
      expect(plan.blockers.map((b) => `${b.code} ${b.scope}`)).toEqual(c.blockers);
    });
  }

  test('inventoried has nothing to roll back', () => {
    const s = tree('inventoried', 'inventoried', 'inventoried', 'inventoried');
    expect(() => planRollback(s, s.get('istio')!)).toThrow(
      expect.objectContaining({ code: 'CUTOVER_NOTHING_TO_ROLL_BACK' }),
    );
  });
});
