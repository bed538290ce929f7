import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultServeConfig, parseListen, parseServeConfig } from '../../src/server/index.js';
import { CodedError } from '../../src/spiffe/errors.js';
import { cli } from '../cli/run.js';

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseServeConfig(text, { env, baseDir: '/etc/meshbridge', resolveTokens: false });
  } catch (err) {
    expect(err).toBeInstanceOf(CodedError);
    expect((err as CodedError).code).toBe('CONFIG_INVALID');
    return ((err as CodedError).details?.problems as string[]) ?? [];
  }
  return [];
}

describe('meshbridge.yaml', () => {
  it('has defaults for everything: 127.0.0.1:8080, ./meshbridge.db, no broker', () => {
    const c = defaultServeConfig({}, '/srv');
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(c.store).toBe('meshbridge.db');
    expect(c.broker).toBeUndefined();
    expect(c.bundleEndpoint).toMatchObject({ enabled: true, path: '/bundle', phase: 'auto', scope: '*' });
    expect(c.cutover.overlapSeconds).toBe(30 * 86_400);
  });

  it('names the line and column of every problem', () => {
    const problems = problemsOf(
      [
        'listen:',
        '  host: 0.0.0.0',
        '  port: "eighty"', // line 3
        'dashbord: {}', // line 4: a typo
        'dashboard:',
        '  refresh: soon', // line 6
        'bundleEndpoint: { phase: later }', // line 7
        'access:',
        '  tokens:',
        '    - { name: ops }', // line 10: neither file nor env
      ].join('\n'),
    );
    const at = (line: number) => problems.find((p) => p.startsWith(`meshbridge.yaml:${line}:`));
    expect(at(3), problems.join('\n')).toMatch(/\/listen\/port/);
    expect(at(4), problems.join('\n')).toBeDefined();
    expect(at(7), problems.join('\n')).toMatch(/\/bundleEndpoint\/phase/);
  });

  it('reports durations and token sources after the schema passes', () => {
    const problems = problemsOf(
      ['dashboard:', '  refresh: soon', 'access:', '  tokens:', '    - { name: ops }'].join('\n'),
    );
    expect(problems.find((p) => p.startsWith('meshbridge.yaml:2:'))).toMatch(
      /\/dashboard\/refresh .*not a duration/,
    );
    expect(problems.find((p) => p.startsWith('meshbridge.yaml:5:'))).toMatch(
      /exactly one of "file" or "env"/,
    );
  });

  it('checks the broker section with its own schema, lines counted in the whole file', () => {
    const problems = problemsOf(
      ['listen: { port: 8080 }', 'broker:', '  policy: policy.yaml', '  backends: []'].join('\n'),
    );
    expect(
      problems.some((p) => /^meshbridge\.yaml:4:\d+: \/broker\/backends/.test(p)),
      problems.join('\n'),
    ).toBe(true);
  });

  it('takes MESHBRIDGE_LISTEN, MESHBRIDGE_DB and MESHBRIDGE_ADMIN_TOKEN from the environment', () => {
    const c = parseServeConfig('listen: { host: 127.0.0.1, port: 8080 }\nstore: local.db\n', {
      baseDir: '/srv',
      env: {
        MESHBRIDGE_LISTEN: '0.0.0.0:9090',
        MESHBRIDGE_DB: 'postgres://mb@db:5432/mb',
        MESHBRIDGE_ADMIN_TOKEN: 'sixteen-chars-or-more',
      },
    });
    expect(c.listen).toEqual({ host: '0.0.0.0', port: 9090 });
    expect(c.store).toBe('postgres://mb@db:5432/mb');
    expect(c.access.tokens).toEqual([{ name: 'MESHBRIDGE_ADMIN_TOKEN', value: 'sixteen-chars-or-more' }]);
    expect(parseServeConfig('store: local.db\n', { baseDir: '/srv', env: {} }).store).toBe('/srv/local.db');
    expect(problemsOf('{}', { MESHBRIDGE_LISTEN: 'everywhere' })[0]).toMatch(/^MESHBRIDGE_LISTEN/);
    expect(problemsOf('{}', { MESHBRIDGE_ADMIN_TOKEN: 'short' })[0]).toMatch(/shorter than 16/);
    expect(parseListen(':8081')).toEqual({ port: 8081 });
    expect(parseListen('[::1]:8081')).toEqual({ host: '::1', port: 8081 });
    expect(parseListen('host:99999')).toBeUndefined();
  });
});

describe('meshbridge config check', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'meshbridge-config-'));
    writeFileSync(
      join(dir, 'good.yaml'),
      'listen: { host: 127.0.0.1, port: 8080 }\ndashboard: { refresh: 5s }\n',
    );
    writeFileSync(join(dir, 'bad.yaml'), 'listen:\n  port: -1\nmetrics: { enabled: maybe }\n');
    writeFileSync(join(dir, 'broken.yaml'), 'listen: [\n');
    writeFileSync(
      join(dir, 'policy-missing.yaml'),
      'broker:\n  tls: { cert: c.pem, key: c.key }\n  trust: [{ kind: spire, trustDomain: example.org, bundles: [b.pem] }]\n  policy: nope.yaml\n  backends: [{ type: ephemeral }]\n',
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 and summarises a valid file', async () => {
    const r = await cli(['config', 'check', 'good.yaml'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/✓ .*good\.yaml is valid/);
    expect(r.stdout).toMatch(/listen\s+127\.0\.0\.1:8080/);
    const j = await cli(['--json', 'config', 'check', 'good.yaml'], { cwd: dir });
    expect(j.json()).toMatchObject({ valid: true, problems: [], summary: { access: 'open on loopback' } });
  });

  it('exits 1 listing each problem with its line', async () => {
    const r = await cli(['config', 'check', 'bad.yaml'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/bad\.yaml:2:\d+: \/listen\/port/);
    expect(r.stdout).toMatch(/bad\.yaml:3:\d+: \/metrics\/enabled/);
    const y = await cli(['--json', 'config', 'check', 'broken.yaml'], { cwd: dir });
    expect(y.code).toBe(1);
    expect((y.json() as { problems: string[] }).problems[0]).toMatch(/^broken\.yaml:\d+:\d+:/);
  });

  it('checks the files the broker section names', async () => {
    const r = await cli(['--json', 'config', 'check', 'policy-missing.yaml'], { cwd: dir });
    expect(r.code).toBe(1);
    const problems = (r.json() as { problems: string[] }).problems.join('\n');
    expect(problems).toMatch(/nope\.yaml/);
    expect(problems).toMatch(/c\.pem: no such file/);
  });

  it('exits 2 when there is no file to read', async () => {
    expect((await cli(['config', 'check', 'missing.yaml'], { cwd: dir })).code).toBe(2);
    expect((await cli(['config', 'check'], { cwd: dir, env: {} })).code).toBe(2);
  });
});
