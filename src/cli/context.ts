import type { Command } from 'commander';
import { CodedError } from '../spiffe/errors.js';
import { createOutput, type Output } from './output.js';

/** What a command may touch, injected so tests can run the CLI in-process. */
export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface GlobalOptions {
  json?: boolean;
  db?: string;
}

export interface CommandContext {
  io: CliIO;
  out: Output;
  globals: GlobalOptions;
  /** Set by a command to report a negative verdict without throwing. */
  exitCode: number;
}

/** Raised by command code for usage mistakes commander cannot see (conflicting flags, bad values). */
export class UsageError extends CodedError {
  constructor(message: string, code = 'USAGE') {
    super(code, 'input', message);
  }
}

export function contextFor(cmd: Command, io: CliIO): CommandContext {
  const globals = cmd.optsWithGlobals<GlobalOptions>();
  return {
    io,
    globals,
    out: createOutput({ json: globals.json, stdout: io.stdout, stderr: io.stderr, env: io.env }),
    exitCode: 0,
  };
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}
