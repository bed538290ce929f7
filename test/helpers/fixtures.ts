import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** `../shared/fixtures` beside the repository: read-only, byte-identical upstream copies. */
export const fixturesRoot = resolve(repoRoot, '..', 'shared', 'fixtures');

export function fixturePath(...parts: string[]): string {
  return join(fixturesRoot, ...parts);
}

export function readFixture(...parts: string[]): Buffer {
  return readFileSync(fixturePath(...parts));
}
