import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './run.js';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mb-policy-test-'));
  writeFileSync(
    join(dir, 'policy.yaml'),
    `version: v3
credentials:
  orders-db: { spec: { type: ephemeral, kind: password }, ttl: 5m, maxTtl: 15m }
rules:
  - name: web
    subjects: [spiffe://example.org/ns/shop/sa/web]
    credentials: [orders-db]
`,
  );
  writeFileSync(
    join(dir, 'pass.yaml'),
    `cases:
  - { name: web allowed, subject: spiffe://example.org/ns/shop/sa/web, credential: orders-db, expect: allow, ttlSeconds: 300 }
  - { name: intruder denied, subject: spiffe://example.org/ns/shop/sa/intruder, credential: orders-db, expect: deny, code: POLICY_NO_RULE }
`,
  );
  writeFileSync(
    join(dir, 'fail.yaml'),
    `- { name: web allowed, subject: spiffe://example.org/ns/shop/sa/web, credential: orders-db, expect: allow }
- { name: intruder wrongly expected, subject: spiffe://example.org/ns/shop/sa/intruder, credential: orders-db, expect: allow }
- { name: ttl expectation, subject: spiffe://example.org/ns/shop/sa/web, credential: orders-db, ttl: 1h, expect: allow, ttlSeconds: 3600 }
`,
  );
  writeFileSync(
    join(dir, 'broken.yaml'),
    `cases:\n  - { name: x, subject: spiffe://example.org/a, credential: orders-db, expect: maybe }\n`,
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('meshbridge policy test', () => {
  it('shows every case as passed and exits 0 when all pass', async () => {
    const r = await cli(['policy', 'test', 'policy.yaml', 'pass.yaml'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('✓ web allowed');
    expect(r.stdout).toContain('✓ intruder denied');
    expect(r.stdout).toMatch(/PASS: 2\/2 cases passed \(policy v3@[0-9a-f]{12}\)/);
  });

  it('names each failing case and why, and exits 1', async () => {
    const r = await cli(['policy', 'test', 'policy.yaml', 'fail.yaml'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('✓ web allowed');
    expect(r.stdout).toContain('× intruder wrongly expected');
    expect(r.stdout).toContain('expected allow, got deny (POLICY_NO_RULE');
    expect(r.stdout).toContain('expected ttlSeconds 3600, got 900');
    expect(r.stdout).toContain('FAIL: 1/3');
  });

  it('gives the report as JSON', async () => {
    const r = await cli(['--json', 'policy', 'test', 'policy.yaml', 'fail.yaml'], { cwd: dir });
    expect(r.code).toBe(1);
    const j = r.json() as {
      passed: number;
      failed: number;
      results: { name: string; passed: boolean; got: { code: string } }[];
    };
    expect(j).toMatchObject({ passed: 1, failed: 2 });
    expect(j.results[1]).toMatchObject({
      name: 'intruder wrongly expected',
      passed: false,
      got: { code: 'POLICY_NO_RULE' },
    });
  });

  it('refuses cases that do not load, with the line, exit 2', async () => {
    const r = await cli(['policy', 'test', 'policy.yaml', 'broken.yaml'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/broken\.yaml:2:\d+: \/cases\/0\/expect/);
    expect(r.stderr).toContain('[POLICY_CASES_INVALID]');
  });
});
