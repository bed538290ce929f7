import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './run.js';

interface DemoJson {
  dir: string;
  db: string;
  config: string;
  dashboardUrl: string | null;
  brokerUrl: string | null;
  curl: string | null;
  serving: boolean;
  steps: { step: string; ok: boolean; detail: string; by: string }[];
  traffic: { as: string; presented: string; credential: string; status: number; code: string }[];
  scopes: { scope: string; phase: string; workloads: number; onSpire: number }[];
  verdicts: { presented: string; valid: boolean; detail: string }[];
}

describe('meshbridge demo --no-serve', () => {
  let cwd: string;
  let first: DemoJson;

  beforeAll(async () => {
    cwd = mkdtempSync(join(tmpdir(), 'meshbridge-demo-cli-'));
    const r = await cli(['--json', 'demo', '--no-serve', '--dir', 'demo'], { cwd });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    first = r.json() as DemoJson;
  }, 60_000);

  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  it('runs every step through the room that owns it, and exits', () => {
    expect(first.serving).toBe(false);
    expect(first.dashboardUrl).toBeNull();
    expect(first.curl).toBeNull();
    expect(first.steps.map((s) => s.step)).toEqual([
      'generate',
      'import',
      'spire sync',
      'map',
      'bundle',
      'cutover',
      'cutover',
      're-issue',
      'broker',
      'static keys',
    ]);
    for (const s of first.steps) {
      expect(s.ok, `${s.step}: ${s.detail}`).toBe(true);
      expect(s.by).not.toBe('');
    }
    for (const f of [
      'meshbridge.yaml',
      'meshbridge.db',
      'istio/cacerts.yaml',
      'spire/bundle.pem',
      'spire/api.pem',
      'broker/policy.yaml',
    ]) {
      expect(existsSync(join(cwd, 'demo', f)), f).toBe(true);
    }
  });

  it('leaves one namespace in dual-issue, with progress from observations', () => {
    expect(first.scopes).toEqual([
      { scope: 'istio', phase: 'inventoried', workloads: 5, onSpire: 1 },
      { scope: 'istio/east', phase: 'dual-trust', workloads: 5, onSpire: 1 },
      { scope: 'istio/east/payments', phase: 'dual-issue', workloads: 2, onSpire: 1 },
      { scope: 'istio/east/shop', phase: 'dual-trust', workloads: 3, onSpire: 0 },
    ]);
  });

  it('sent sample traffic to the broker over mTLS with mesh and SPIRE certificates', () => {
    const byKey = first.traffic.map((t) => `${t.as} ${t.credential} ${t.status} ${t.code}`);
    expect(byKey).toContain('payments/api payments-db 200 OK');
    expect(byKey).toContain('shop/web orders-db 200 OK');
    expect(byKey).toContain('payments/ledger payments-db 403 POLICY_ISSUER_NOT_ALLOWED');
    expect(byKey).toContain('shop/intruder orders-db 403 POLICY_NO_RULE');
    expect(first.traffic.find((t) => t.as === 'shop/web')?.presented).toBe('mesh');
    expect(first.verdicts.some((v) => v.valid)).toBe(true);
  });

  it('wrote a meshbridge.yaml that config check accepts', async () => {
    const r = await cli(['config', 'check', 'demo/meshbridge.yaml'], { cwd, env: {} });
    expect(r.code, r.stdout).toBe(0);
    expect(readFileSync(first.config, 'utf8')).toMatch(/^broker:/m);
  });

  it('starts fresh when run again, and prints a summary for people', async () => {
    const r = await cli(['demo', '--no-serve', '--dir', 'demo'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/✓ cutover: istio\/east\/payments: dual-trust -> dual-issue/);
    expect(r.stdout).toMatch(/istio\/east\/payments\s+dual-issue\s+2\s+1/);
    expect(r.stdout).toMatch(/serve --config demo\/meshbridge\.yaml/);
    const again = await cli(['--json', 'cutover', 'history', '--db', 'demo/meshbridge.db'], { cwd });
    expect(again.code, again.stderr).toBe(0);
    expect((again.json() as { transitions: unknown[] }).transitions).toHaveLength(4);
  }, 60_000);

  it('refuses to empty a folder that is not a demo folder', async () => {
    const r = await cli(['demo', '--no-serve', '--dir', '.'], { cwd: join(cwd, 'demo', 'spire') });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not a meshbridge demo folder; give another --dir \[DEMO_DIR_IN_USE\]/);
    expect(existsSync(join(cwd, 'demo', 'spire', 'ca.pem'))).toBe(true);
  });
});
