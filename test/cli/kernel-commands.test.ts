import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixturePath } from '../helpers/fixtures.js';
import { cli } from './run.js';

const goSpiffe = (f: string) => fixturePath('spiffe', 'go-spiffe', f);
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mb-cli-'));
  const r = await cli(
    [
      'dev',
      'mint',
      '--out',
      'certs',
      '--trust-domain',
      'example.org',
      '--id',
      'spiffe://example.org/ns/shop/sa/web',
    ],
    { cwd: dir },
  );
  expect(r.code).toBe(0);
});

describe('meshbridge dev mint', () => {
  it('writes the CA, the bundles and <segment>.pem/.key with the key at 0600', () => {
    for (const f of ['ca.pem', 'bundle.pem', 'jwt-bundle.json', 'web.pem', 'web.key']) {
      expect(statSync(join(dir, 'certs', f)).size).toBeGreaterThan(0);
    }
    expect(statSync(join(dir, 'certs', 'web.key')).mode & 0o777).toBe(0o600);
  });

  it('reuses the CA already in the folder', async () => {
    const before = readFileSync(join(dir, 'certs', 'ca.pem'), 'utf8');
    const r = await cli(
      [
        '--json',
        'dev',
        'mint',
        '--out',
        'certs',
        '--trust-domain',
        'example.org',
        '--id',
        'spiffe://example.org/x',
      ],
      { cwd: dir },
    );
    expect(r.json()).toMatchObject({ caCreated: false });
    expect(readFileSync(join(dir, 'certs', 'ca.pem'), 'utf8')).toBe(before);
  });

  it('refuses an ID outside the trust domain (exit 2, coded)', async () => {
    const r = await cli(
      ['dev', 'mint', '--out', 'certs', '--trust-domain', 'example.org', '--id', 'spiffe://other.org/x'],
      { cwd: dir },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('[TRUST_DOMAIN_MISMATCH]');
  });
});

describe('meshbridge svid verify', () => {
  it('keeps the --json contract for a valid SVID', async () => {
    const r = await cli(['--json', 'svid', 'verify', 'certs/web.pem', '--bundle', 'certs/bundle.pem'], {
      cwd: dir,
    });
    expect(r.code).toBe(0);
    const j = r.json() as Record<string, unknown>;
    expect(Object.keys(j).sort()).toEqual([
      'anchor',
      'chain',
      'spiffeId',
      'trustDomain',
      'valid',
      'warnings',
    ]);
    expect(j).toMatchObject({
      valid: true,
      spiffeId: 'spiffe://example.org/ns/shop/sa/web',
      trustDomain: 'example.org',
    });
    expect(j.anchor).toMatch(/^[0-9a-f]{64}$/);
    expect((j.chain as string[]).at(-1)).toBe(j.anchor);
  });

  it('verifies the go-spiffe chain against the spiffe://local root inside its window, DER or PEM', async () => {
    const r = await cli([
      '--json',
      'svid',
      'verify',
      goSpiffe('x509svid/good-leaf-and-intermediate.pem'),
      '--bundle',
      goSpiffe('spiffebundle/spiffebundle_valid_1.json'),
      '--trust-domain',
      'example.org',
      '--at',
      '2020-03-24T14:30:00Z',
    ]);
    expect(r.json()).toMatchObject({ valid: true, spiffeId: 'spiffe://example.org/workload-1' });
    expect(r.code).toBe(0);
  });

  it('exits 1 with the rule code for an expired SVID (real clock)', async () => {
    const r = await cli([
      '--json',
      'svid',
      'verify',
      goSpiffe('x509svid/good-leaf-and-intermediate.pem'),
      '--bundle',
      fixturePath('spiffe', 'java-spiffe', 'workloadapi', 'federated-bundle.pem'),
    ]);
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({ valid: false, code: expect.stringMatching(/EXPIRED/) });
  });

  it('exits 1 with TRUST_DOMAIN_MISMATCH when the bundle belongs to another trust domain (R20)', async () => {
    const r = await cli(
      [
        '--json',
        'svid',
        'verify',
        'certs/web.pem',
        '--bundle',
        'certs/bundle.pem',
        '--trust-domain',
        'other.org',
      ],
      { cwd: dir },
    );
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({ valid: false, code: 'TRUST_DOMAIN_MISMATCH' });
  });

  it('exits 1 for a CA leaf (R26/R27)', async () => {
    const r = await cli([
      '--json',
      'svid',
      'verify',
      goSpiffe('x509svid/wrong-leaf-ca-true.pem'),
      '--bundle',
      goSpiffe('x509svid/wrong-leaf-ca-true.pem'),
    ]);
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({ valid: false });
  });

  it.each([
    ['corrupt PEM', 'x509svid/corrupt-cert.pem'],
    ['not PEM at all', 'x509svid/not-pem'],
  ])('exits 2 on unreadable input: %s', async (_name, file) => {
    const r = await cli(['svid', 'verify', goSpiffe(file), '--bundle', goSpiffe('x509bundle/certs.pem')]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^× invalid X.509-SVID: .* \[[A-Z_]+\]\n$/);
  });

  it('exits 2 for a missing bundle file, one readable line', async () => {
    const r = await cli(['svid', 'verify', 'certs/web.pem', '--bundle', 'nope.pem'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('[INPUT_NOT_FOUND]');
    expect(r.stdout + r.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 2 for a bad --at', async () => {
    const r = await cli(
      ['svid', 'verify', 'certs/web.pem', '--bundle', 'certs/bundle.pem', '--at', 'yesterday'],
      { cwd: dir },
    );
    expect(r.code).toBe(2);
  });
});

describe('meshbridge jwt verify', () => {
  it('accepts a dev-CA JWT-SVID from stdin and keeps the --json contract', async () => {
    const t = await cli(
      ['dev', 'jwt', '--ca', 'certs', '--id', 'spiffe://example.org/ns/shop/sa/web', '--audience', 'broker'],
      { cwd: dir },
    );
    const r = await cli(
      ['--json', 'jwt', 'verify', '-', '--bundle', 'certs/jwt-bundle.json', '--audience', 'broker'],
      { cwd: dir, stdin: t.stdout },
    );
    expect(r.code).toBe(0);
    const j = r.json() as Record<string, unknown>;
    expect(Object.keys(j).sort()).toEqual(['audience', 'expiresAt', 'spiffeId', 'valid']);
    expect(j).toMatchObject({
      valid: true,
      spiffeId: 'spiffe://example.org/ns/shop/sa/web',
      audience: ['broker'],
    });
  });

  it('refuses a wrong audience (R48) and alg none (R43) with exit 1', async () => {
    const t = await cli(
      ['dev', 'jwt', '--ca', 'certs', '--id', 'spiffe://example.org/ns/shop/sa/web', '--audience', 'broker'],
      { cwd: dir },
    );
    const wrong = await cli(
      [
        '--json',
        'jwt',
        'verify',
        t.stdout.trim(),
        '--bundle',
        'certs/jwt-bundle.json',
        '--audience',
        'other',
      ],
      { cwd: dir },
    );
    expect(wrong.code).toBe(1);
    expect(wrong.json()).toMatchObject({ valid: false, code: 'JWT_AUDIENCE_MISMATCH' });
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const none = `${b64({ alg: 'none' })}.${b64({ sub: 'spiffe://example.org/x', aud: 'broker', exp: 9999999999 })}.`;
    const r = await cli(
      ['--json', 'jwt', 'verify', none, '--bundle', 'certs/jwt-bundle.json', '--audience', 'broker'],
      { cwd: dir },
    );
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({ valid: false, code: 'JWT_ALG_NONE' });
  });
});

describe('meshbridge bundle convert', () => {
  it('round-trips PEM -> SPIFFE -> PEM byte for byte', async () => {
    const toSpiffe = await cli(
      ['bundle', 'convert', 'certs/bundle.pem', '--to', 'spiffe', '--out', 'b.json'],
      { cwd: dir },
    );
    expect(toSpiffe.code).toBe(0);
    const doc = JSON.parse(readFileSync(join(dir, 'b.json'), 'utf8'));
    expect(doc.keys[0]).toMatchObject({ use: 'x509-svid' });
    expect(doc.keys[0].kid).toBeUndefined(); // R37
    const back = await cli(['bundle', 'convert', 'b.json', '--to', 'pem'], { cwd: dir });
    expect(back.stdout).toBe(readFileSync(join(dir, 'certs', 'bundle.pem'), 'utf8'));
  });

  it('exits 2 for an unknown --to', async () => {
    writeFileSync(join(dir, 'x.pem'), '');
    const r = await cli(['bundle', 'convert', 'x.pem', '--to', 'yaml'], { cwd: dir });
    expect(r.code).toBe(2);
  });
});

describe('meshbridge demo', () => {
  it('shows valid mesh and SPIRE SVIDs and refuses the bad ones', async () => {
    const r = await cli(['--json', 'demo']);
    expect(r.code).toBe(0);
    const { verdicts } = r.json() as { verdicts: { presented: string; valid: boolean; detail: string }[] };
    expect(verdicts.filter((v) => v.valid).length).toBeGreaterThanOrEqual(4);
    expect(verdicts.find((v) => v.presented === 'HS256 token')).toMatchObject({
      valid: false,
      detail: 'JWT_ALG_HMAC',
    });
  });
});

describe('every command has --help with an example', () => {
  it.each([
    ['id', 'check'],
    ['svid', 'verify'],
    ['jwt', 'verify'],
    ['bundle', 'convert'],
    ['dev', 'mint'],
    ['dev', 'jwt'],
    ['demo'],
  ])('%s %s --help', async (...words) => {
    const r = await cli([...words, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Example/);
  });
});
