import { describe, expect, it } from 'vitest';
import { cli } from './run.js';

describe('meshbridge id check', () => {
  it('exits 0 when every ID is valid and prints a check mark per ID', async () => {
    const r = await cli(['id', 'check', 'spiffe://example.org/ns/a/sa/b', 'spiffe://example.org']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('✓ spiffe://example.org/ns/a/sa/b');
  });

  it('exits 1 on any invalid ID and names the rule code', async () => {
    const r = await cli(['id', 'check', 'spiffe://example.org/ok', 'spiffe://Example.org/x']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('[ID_TRUST_DOMAIN_CHARS]');
  });

  it('keeps the --json contract: [{id, valid}|{id, valid:false, code}]', async () => {
    const r = await cli(['id', 'check', '--json', 'spiffe://a/b', 'spiffe://a/']);
    expect(r.code).toBe(1);
    expect(r.json()).toEqual([
      { id: 'spiffe://a/b', valid: true },
      expect.objectContaining({ id: 'spiffe://a/', valid: false, code: 'ID_PATH_TRAILING_SLASH' }),
    ]);
  });

  it('reads a JSON array from stdin with "-", so IDs may hold characters argv cannot', async () => {
    const r = await cli(['--json', 'id', 'check', '-'], {
      stdin: JSON.stringify(['spiffe://a/b', 'spiffe://a/\u0000']),
    });
    expect(r.json()).toEqual([
      { id: 'spiffe://a/b', valid: true },
      expect.objectContaining({ id: 'spiffe://a/\u0000', valid: false, code: 'ID_PATH_CHARS' }),
    ]);
  });

  it('exits 2 with one readable line when stdin is not a JSON array', async () => {
    const r = await cli(['id', 'check', '-'], { stdin: 'spiffe://a/b' });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^meshbridge: .*\[INPUT_NOT_JSON\]/);
  });

  it('exits 2 on a usage error (missing argument)', async () => {
    const r = await cli(['id', 'check']);
    expect(r.code).toBe(2);
  });

  it('has --help with an example, exit 0', async () => {
    const r = await cli(['id', 'check', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Example');
  });
});
