import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerError } from '../../../src/credential-broker/errors.js';
import { compilePolicy, PolicyHolder } from '../../../src/credential-broker/policy/index.js';

function problems(
  text: string,
  backends?: Map<string, 'ephemeral' | 'vault' | 'aws-secrets-manager'>,
): string[] {
  try {
    compilePolicy(text, 'policy.yaml', backends === undefined ? {} : { backends });
  } catch (err) {
    expect(err).toBeInstanceOf(BrokerError);
    expect((err as BrokerError).code).toBe('POLICY_INVALID');
    return (err as BrokerError).details?.problems as string[];
  }
  throw new Error('the policy compiled');
}

describe('policy loading', () => {
  it('reports schema problems with file, line and column', () => {
    const p = problems(`credentials:
  db:
    spec: { type: ephemeral, kind: password }
    ttl: forever
rules:
  - name: r1
    subjects: [http://example.org/x]
    credentials: [db]
    colour: red
`);
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^policy\.yaml:4:10: \/credentials\/db\/ttl /),
        expect.stringMatching(/^policy\.yaml:7:16: \/rules\/0\/subjects\/0 .*spiffe/),
        expect.stringMatching(/^policy\.yaml:9:13: \/rules\/0\/colour Unexpected property/),
      ]),
    );
  });

  it('reports what a schema cannot see: undefined credentials, bad globs, unknown backends, bad zones', () => {
    const p = problems(
      `credentials:
  db:
    backend: vault-prod
    spec: { type: ephemeral, kind: password }
  tok:
    spec: { type: ephemeral, kind: sparkles }
rules:
  - name: a
    subjects: ["spiffe://example.org/ns/**x"]
    credentials: [db, payroll]
    windows: [{ timeZone: Mars/Olympus }]
  - name: a
    subjects: [spiffe://Example.org/x]
    credentials: [db]
`,
      new Map([['ephemeral', 'ephemeral']]),
    );
    expect(p.join('\n')).toContain('backend "vault-prod", which the broker config does not define');
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^policy\.yaml:3:14: /),
        expect.stringMatching(/^policy\.yaml:6:11: .*credential spec is invalid/),
        expect.stringMatching(/^policy\.yaml:9:16: .*invalid segment/),
        expect.stringMatching(/^policy\.yaml:10:23: rule "a" names credential "payroll"/),
        expect.stringMatching(/^policy\.yaml:11:15: time zone "Mars\/Olympus"/),
        expect.stringMatching(/^policy\.yaml:12:11: rule name "a" is used twice/),
        expect.stringMatching(/^policy\.yaml:13:16: .*trust domain/),
      ]),
    );
  });

  it('refuses YAML syntax errors and duplicate keys with their position', () => {
    expect(() => compilePolicy('credentials: {}\nrules: []\nrules: []\n', 'p.yaml')).toThrow(/p\.yaml:3:1/);
    expect(() => compilePolicy('credentials: [\n', 'p.yaml')).toThrow(/p\.yaml:\d+:\d+/);
  });

  it('reads JSON as well', () => {
    const p = compilePolicy(
      JSON.stringify({
        credentials: { db: { spec: { type: 'ephemeral', kind: 'password' } } },
        rules: [{ name: 'r', subjects: ['spiffe://example.org/a'], credentials: ['db'] }],
      }),
      'policy.json',
    );
    expect(p.rules).toHaveLength(1);
    expect(p.version).toMatch(/^sha256:[0-9a-f]{12}$/);
  });
});

describe('policy reload', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const good = (ttl: string) =>
    `credentials:\n  db: { spec: { type: ephemeral, kind: password }, ttl: ${ttl} }\nrules:\n  - { name: r, subjects: [spiffe://example.org/a], credentials: [db] }\n`;

  it('swaps atomically to a good policy and keeps the old one when the new one is bad', () => {
    dir = mkdtempSync(join(tmpdir(), 'mb-policy-'));
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, good('1m'));
    const holder = PolicyHolder.load(file);
    const first = holder.current();
    expect(first.credentials.get('db')?.ttlSeconds).toBe(60);

    const refused: Error[] = [];
    holder.on('reloadError', (e) => refused.push(e));
    writeFileSync(file, `${good('2m')}  - { name: broken, subjects: [nope], credentials: [db] }\n`);
    const bad = holder.reload();
    expect(bad.ok).toBe(false);
    expect(holder.current()).toBe(first);
    expect(refused[0]?.message).toMatch(/policy\.yaml:5:/);

    writeFileSync(file, good('2m'));
    const ok = holder.reload();
    expect(ok).toMatchObject({ ok: true, changed: true });
    expect(holder.current().credentials.get('db')?.ttlSeconds).toBe(120);
    expect(holder.current().version).not.toBe(first.version);

    expect(holder.reload()).toMatchObject({ ok: true, changed: false });
  });
});
