import { Command, CommanderError } from 'commander';
import { CodedError } from '../spiffe/errors.js';
import { VERSION } from '../version.js';
import { registerBrokerCommands } from './commands/broker.js';
import { registerBundleCommands } from './commands/bundle.js';
import { registerBundleOps } from './commands/bundle-ops.js';
import { registerCutoverCommands } from './commands/cutover.js';
import { registerDemoCommands } from './commands/demo.js';
import { registerDevCommands } from './commands/dev.js';
import { registerIdCommands } from './commands/id.js';
import { registerImportCommands } from './commands/import.js';
import { registerJwtCommands } from './commands/jwt.js';
import { registerKeysCommands } from './commands/keys.js';
import { registerMapCommands } from './commands/map.js';
import { registerServeCommands } from './commands/serve.js';
import { registerSpireCommands } from './commands/spire.js';
import { registerSvidCommands } from './commands/svid.js';
import { type CliIO, type CommandContext, contextFor } from './context.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { createOutput } from './output.js';

export type Action = (ctx: CommandContext, ...args: never[]) => Promise<void> | void;

/**
 * Wraps a command body: builds its context, renders coded errors as one readable
 * line (or `{"error":{code,message}}` with --json), and records the exit code.
 */
export function action<A extends unknown[]>(
  io: CliIO,
  state: { exitCode: number },
  body: (ctx: CommandContext, ...args: A) => Promise<void> | void,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const ctx = contextFor(cmd, io);
    try {
      await body(ctx, ...(args.slice(0, -1) as A));
      state.exitCode = ctx.exitCode;
    } catch (err) {
      state.exitCode = reportError(ctx, err);
    }
  };
}

function reportError(ctx: CommandContext, err: unknown): number {
  if (err instanceof CodedError || isStoreLikeError(err)) {
    const { code, message, category } = err as CodedError;
    if (ctx.out.json) ctx.out.printJson({ error: { code, message } });
    else ctx.out.err(`meshbridge: ${message} [${code}]`);
    return exitCodeFor(category);
  }
  const message = err instanceof Error ? err.message : String(err);
  if (ctx.out.json) ctx.out.printJson({ error: { code: 'INTERNAL', message } });
  else ctx.out.err(`meshbridge: internal error: ${message} (please report this) [INTERNAL]`);
  if (ctx.io.env.MESHBRIDGE_DEBUG && err instanceof Error) ctx.out.err(err.stack ?? '');
  return EXIT.internal;
}

// The store cannot import the kernel's error class; its errors carry the same fields.
function isStoreLikeError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as Error & { code?: unknown; category?: unknown };
  return typeof e.code === 'string' && typeof e.category === 'string';
}

export function buildProgram(io: CliIO, state: { exitCode: number }): Command {
  const program = new Command('meshbridge')
    .description('Move a platform off its service-mesh CA onto SPIFFE workload identity, without an outage.')
    .version(VERSION, '-V, --version', 'print the meshbridge version')
    .option('--json', 'machine-readable JSON output (stable shapes)')
    .option(
      '--db <target>',
      'state store: a SQLite file or postgres://... (default: $MESHBRIDGE_DB or ./meshbridge.db)',
    )
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
    })
    .exitOverride();
  const register = {
    io,
    state,
    action: <A extends unknown[]>(body: (ctx: CommandContext, ...args: A) => Promise<void> | void) =>
      action(io, state, body),
  };
  registerIdCommands(program, register);
  registerSvidCommands(program, register);
  registerJwtCommands(program, register);
  registerImportCommands(program, register);
  registerBundleCommands(program, register);
  registerBundleOps(program.commands.find((c) => c.name() === 'bundle')!, register);
  registerDevCommands(program, register);
  registerBrokerCommands(program, register);
  registerMapCommands(program, register);
  registerSpireCommands(program, register);
  registerDemoCommands(program, register);
  registerCutoverCommands(program, register);
  registerKeysCommands(program, register);
  registerServeCommands(program, register);
  return program;
}

export type Registrar = {
  io: CliIO;
  state: { exitCode: number };
  action: <A extends unknown[]>(
    body: (ctx: CommandContext, ...args: A) => Promise<void> | void,
  ) => (...args: unknown[]) => Promise<void>;
};

/** Runs the CLI in-process and returns its exit code. */
export async function runCli(argv: string[], partial: Partial<CliIO> = {}): Promise<number> {
  const io: CliIO = {
    stdout: partial.stdout ?? process.stdout,
    stderr: partial.stderr ?? process.stderr,
    stdin: partial.stdin ?? process.stdin,
    env: partial.env ?? process.env,
    cwd: partial.cwd ?? process.cwd(),
  };
  const state = { exitCode: 0 };
  const program = buildProgram(io, state);
  // Commands whose help or usage errors come from commander itself need exitOverride too.
  for (const cmd of allCommands(program)) cmd.exitOverride();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return state.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.help' ||
        err.code === 'commander.version'
      ) {
        return EXIT.ok;
      }
      return EXIT.usage;
    }
    const out = createOutput({ stdout: io.stdout, stderr: io.stderr, env: io.env });
    out.err(`meshbridge: ${err instanceof Error ? err.message : String(err)} [INTERNAL]`);
    return EXIT.internal;
  }
}

function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)];
}
