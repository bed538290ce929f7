import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VERSION } from '../../src/version.js';
import { repoRoot } from '../helpers/fixtures.js';
import { cli } from './run.js';

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };

describe('meshbridge --version', () => {
  it('prints the package version and exits 0, as -V too', async () => {
    expect(VERSION).toBe(pkg.version);
    for (const flag of ['--version', '-V']) {
      const r = await cli([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(pkg.version);
    }
  });

  it('is listed in --help', async () => {
    const help = await cli(['--help']);
    expect(help.stdout).toContain('-V, --version');
  });
});
