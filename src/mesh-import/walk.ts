/**
 * Files and folders to read. Folders are walked recursively in name order; symbolic
 * links are followed, and a link back into a folder being walked (a loop, found by
 * realpath) stops the import. Each real file is read once. Hidden entries (`.git`,
 * the `..data` internals of a mounted Secret volume) are not walked. Every file is
 * checked against the size limit before anything is read.
 */
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { ImportError } from './errors.js';
import type { Extraction } from './extraction.js';
import { type ReadOptions, readContent } from './read.js';

export const DEFAULT_MAX_FILE_BYTES = 32 * 1024 * 1024;

export interface WalkOptions {
  /** Base for relative paths and for the names shown in locators (default `process.cwd()`). */
  cwd?: string;
  /** Per-file size limit in bytes (default 32 MiB). */
  maxFileBytes?: number;
}

export interface InputFile {
  /** Absolute path. */
  path: string;
  /** Relative to `cwd` when inside it, else absolute: the name shown in locators. */
  display: string;
  size: number;
  /** Named on the command line (not met in a folder walk). */
  explicit: boolean;
}

function errno(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

function displayOf(cwd: string, abs: string): string {
  const rel = relative(cwd, abs);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? abs : rel;
}

/** Lists every file to read, in order. Throws before anything is read when a path is missing, too large or loops. */
export async function listInputFiles(paths: string[], opts: WalkOptions = {}): Promise<InputFile[]> {
  const cwd = opts.cwd ?? process.cwd();
  const max = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const files: InputFile[] = [];
  const seenFiles = new Set<string>();
  const walkedDirs = new Set<string>();

  const addFile = (abs: string, real: string, size: number, explicit: boolean) => {
    if (seenFiles.has(real)) return;
    const display = displayOf(cwd, abs);
    if (size > max) {
      throw new ImportError(
        'INPUT_TOO_LARGE',
        `${display} is ${formatBytes(size)}, over the ${formatBytes(max)} limit for one file; split it or import the objects you need`,
        { details: { source: display, size, limit: max } },
      );
    }
    seenFiles.add(real);
    files.push({ path: abs, display, size, explicit });
  };

  const walk = async (dir: string, ancestors: string[]): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (err) {
      throw unreadable(displayOf(cwd, dir), err);
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const full = join(dir, name);
      let st: Awaited<ReturnType<typeof stat>>;
      let real: string;
      try {
        st = await stat(full);
        real = await realpath(full);
      } catch (err) {
        if (errno(err) === 'ENOENT' || errno(err) === 'ELOOP') continue; // a dangling link
        throw unreadable(displayOf(cwd, full), err);
      }
      if (st.isDirectory()) {
        if (ancestors.includes(real)) {
          throw new ImportError(
            'INPUT_DIRECTORY_LOOP',
            `${displayOf(cwd, full)} links back to ${displayOf(cwd, real)}, a folder it is inside: a directory loop; remove the link or import a narrower path`,
            { details: { source: displayOf(cwd, full), target: real } },
          );
        }
        if (walkedDirs.has(real)) continue;
        walkedDirs.add(real);
        await walk(full, [...ancestors, real]);
      } else if (st.isFile()) {
        addFile(full, real, st.size, false);
      }
    }
  };

  for (const p of paths) {
    const abs = resolve(cwd, p);
    let st: Awaited<ReturnType<typeof stat>>;
    let real: string;
    try {
      st = await stat(abs);
      real = await realpath(abs);
    } catch (err) {
      if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') {
        throw new ImportError('INPUT_NOT_FOUND', `${p} does not exist`, { details: { source: p } });
      }
      if (errno(err) === 'ELOOP') {
        throw new ImportError('INPUT_DIRECTORY_LOOP', `${p} is a symbolic link loop`, {
          details: { source: p },
        });
      }
      throw unreadable(p, err);
    }
    if (st.isDirectory()) {
      if (walkedDirs.has(real)) continue;
      walkedDirs.add(real);
      await walk(abs, [real]);
    } else if (st.isFile()) {
      addFile(abs, real, st.size, true);
    } else {
      throw new ImportError('INPUT_UNREADABLE', `${p} is neither a file nor a folder`, {
        details: { source: p },
      });
    }
  }
  return files;
}

function unreadable(display: string, err: unknown): ImportError {
  return new ImportError(
    'INPUT_UNREADABLE',
    `${display} cannot be read: ${errno(err) ?? (err as Error).message}`,
    {
      details: { source: display },
      cause: err,
    },
  );
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1).replace(/\.0$/, '')} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1).replace(/\.0$/, '')} KiB`;
  return `${n} bytes`;
}

/** Reads listed files one at a time (memory stays flat), one extraction each. */
export async function* readInputFiles(
  files: InputFile[],
  opts: ReadOptions & WalkOptions = {},
): AsyncGenerator<Extraction> {
  const max = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  for (const f of files) {
    let content: Buffer;
    try {
      content = await readFile(f.path);
    } catch (err) {
      throw unreadable(f.display, err);
    }
    // The file may have grown since it was listed.
    if (content.length > max) {
      throw new ImportError(
        'INPUT_TOO_LARGE',
        `${f.display} is over the ${formatBytes(max)} limit for one file`,
        {
          details: { source: f.display, size: content.length, limit: max },
        },
      );
    }
    yield readContent(content, f.display, { ...opts, explicit: f.explicit });
  }
}

/** `listInputFiles` then `readInputFiles`. */
export async function* readPaths(
  paths: string[],
  opts: ReadOptions & WalkOptions = {},
): AsyncGenerator<Extraction> {
  yield* readInputFiles(await listInputFiles(paths, opts), opts);
}
