/**
 * The group-commit writer lays rows out field by field (for speed); each layout's values
 * must come in its columns' order. (Rows reaching the store and being read back on both
 * databases is proven by the sweeper and static-key evidence tests.)
 */
import { describe, expect, it } from 'vitest';
import { AUDITS, LEASES, type RowLayout, SIGHTINGS } from '../../src/credential-broker/writer.js';

/** A row whose every field holds a value unique to that field. */
function distinct<R>(layout: RowLayout<R>): R {
  return Object.fromEntries(layout.columns.map((c) => [c, `value of ${c}`])) as R;
}

describe('writer row layouts', () => {
  it.each([
    ['broker_leases', LEASES],
    ['broker_audit', AUDITS],
    ['broker_credential_sightings', SIGHTINGS],
  ] as const)('%s: values come in the order of the columns', (_table, layout) => {
    const row = distinct(layout as RowLayout<Record<string, unknown>>);
    expect((layout as RowLayout<Record<string, unknown>>).values(row)).toEqual(
      layout.columns.map((c) => `value of ${c}`),
    );
    expect(new Set(layout.columns).size).toBe(layout.columns.length);
  });

  it('leaves absent optional fields as NULL, never undefined', () => {
    const values = AUDITS.values({
      id: 'a',
      at: 't',
      instance: 'i',
      action: 'issue',
      decision: 'deny',
      code: 'C',
      reason: 'r',
      status: 403,
    } as Parameters<typeof AUDITS.values>[0]);
    expect(values).not.toContain(undefined);
    expect(values.filter((v) => v === null)).toHaveLength(AUDITS.columns.length - 8);
  });
});
