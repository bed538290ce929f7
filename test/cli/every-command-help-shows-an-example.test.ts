import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { cli } from './run.js';

/** Every command a user can run: the leaves of the command tree, as argv prefixes. */
function leafCommands(): string[][] {
  const io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: {}, cwd: '.' };
  const out: string[][] = [];
  const walk = (c: Command, path: string[]) => {
    if (c.commands.length === 0) out.push(path);
    for (const sub of c.commands) walk(sub, [...path, sub.name()]);
  };
  walk(buildProgram(io, { exitCode: 0 }), []);
  return out;
}

describe('--help', () => {
  const commands = leafCommands();

  it('reaches every command (the walk found the tree)', () => {
    expect(commands.length).toBeGreaterThan(30);
    expect(commands).toContainEqual(['keys', 'history']);
    expect(commands).toContainEqual(['broker', 'serve']);
  });

  it.each(commands.map((c) => [c.join(' '), c]))(
    'meshbridge %s --help shows an example and what each exit status means',
    async (_n, argv) => {
      const r = await cli([...(argv as string[]), '--help']);
      expect(r.code).toBe(0);
      // An "Example(s):" block whose command lines run meshbridge (some pipe kubectl or npm into it).
      const block = /Examples?:\n((?: {2}.*\n?)+)/.exec(r.stdout)?.[1] ?? '';
      expect(block).toMatch(/^ {2}\$ .*meshbridge|npm start/m);
      // Scripts branch on the exit status: every command says what each one means.
      expect(r.stdout).toMatch(/Exit status: 0 /);
    },
  );
});
