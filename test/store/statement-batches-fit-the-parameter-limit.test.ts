import { describe, expect, it } from 'vitest';
import { batches, MAX_PARAMS, parseJson } from '../../src/store/index.js';

describe('multi-row statements', () => {
  it('are cut at the preferred row count, and never past the bound-parameter limit', () => {
    const rows = Array.from({ length: 10_000 }, (_, i) => i);
    expect(batches(rows, 3, 1000).map((b) => b.length)).toEqual(Array(10).fill(1000));
    // 21 columns: the limit allows 1428 rows a statement, below the preferred 5000.
    const wide = batches(rows, 21, 5000);
    expect(Math.max(...wide.map((b) => b.length))).toBe(Math.floor(MAX_PARAMS / 21));
    expect(wide.flat()).toEqual(rows);
    // No preference: as many rows as the limit allows.
    expect(batches(rows, 1).map((b) => b.length)).toEqual([10_000]);
    expect(batches([], 5, 10)).toEqual([]);
    // Stays under both dialects' limits: SQLite 32766, PostgreSQL 65535.
    expect(MAX_PARAMS).toBeLessThan(32_766);
  });

  it('read JSON columns back, and an empty or broken one as the fallback', () => {
    expect(parseJson('{"a":[1]}', {})).toEqual({ a: [1] });
    expect(parseJson(null, [])).toEqual([]);
    expect(parseJson('', 'none')).toBe('none');
    expect(parseJson('{broken', 'none')).toBe('none');
  });
});
