/**
 * Malformed input ends in one coded error (category input, CLI exit 2), never a stack
 * trace and never a partial import: the store is byte-for-byte what it was.
 */
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImportError, listInputFiles, readContent } from '../../src/mesh-import/index.js';
import { openStore } from '../../src/store/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { snapshot } from '../store/targets.js';
import { importPaths, meshbridge } from './helpers.js';

let dir: string;
const b64 = (s: string) => Buffer.from(s).toString('base64');
const root = () => readFileSync(fixturePath('istio', 'plugin-ca_root-cert.pem'), 'utf8');

function secretYaml(data: Record<string, string>): string {
  const lines = Object.entries(data).map(([k, v]) => `  ${k}: ${v}`);
  return `apiVersion: v1\nkind: Secret\nmetadata:\n  name: cacerts\n  namespace: istio-system\ntype: Opaque\ndata:\n${lines.join('\n')}\n`;
}

const BOMB = `apiVersion: v1
kind: ConfigMap
metadata: {name: lol, namespace: default}
data:
  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
`;

interface Case {
  name: string;
  code: string;
  /** Creates the bad input under `dir`, returns the path to import. */
  make(dir: string): string;
}

const CASES: Case[] = [
  {
    name: 'a truncated PEM file (no END line)',
    code: 'PEM_MALFORMED',
    make: (d) => {
      const text = root();
      writeFileSync(join(d, 'truncated.pem'), text.slice(0, Math.floor(text.length / 2)));
      return 'truncated.pem';
    },
  },
  {
    name: 'a PEM body that is not base64',
    code: 'PEM_MALFORMED',
    make: (d) => {
      writeFileSync(
        join(d, 'garbage.pem'),
        '-----BEGIN CERTIFICATE-----\nMIIB$$$$not*base64!!\n-----END CERTIFICATE-----\n',
      );
      return 'garbage.pem';
    },
  },
  {
    name: 'base64 garbage in a Secret',
    code: 'INPUT_BASE64_MALFORMED',
    make: (d) => {
      writeFileSync(
        join(d, 'secret.yaml'),
        secretYaml({ 'ca-cert.pem': '"%%%this is not base64%%%"', 'root-cert.pem': b64(root()) }),
      );
      return 'secret.yaml';
    },
  },
  {
    name: 'valid base64 of noise where a certificate must be',
    code: 'INPUT_NOT_CERTIFICATE_DATA',
    make: (d) => {
      writeFileSync(
        join(d, 'noise.yaml'),
        secretYaml({ 'ca-cert.pem': b64('just some words, no PEM here'), 'root-cert.pem': b64(root()) }),
      );
      return 'noise.yaml';
    },
  },
  {
    name: 'base64 garbage in an Envoy inline_bytes',
    code: 'INPUT_BASE64_MALFORMED',
    make: (d) => {
      writeFileSync(
        join(d, 'dump.json'),
        JSON.stringify({
          dynamicActiveSecrets: [
            { name: 'ROOTCA', secret: { validationContext: { trustedCa: { inlineBytes: '@@@' } } } },
          ],
        }),
      );
      return 'dump.json';
    },
  },
  {
    name: 'a YAML bomb',
    code: 'INPUT_YAML_ALIAS_LIMIT',
    make: (d) => {
      writeFileSync(join(d, 'bomb.yaml'), BOMB);
      return 'bomb.yaml';
    },
  },
  {
    name: 'broken YAML in a manifest',
    code: 'INPUT_YAML_MALFORMED',
    make: (d) => {
      writeFileSync(join(d, 'broken.yaml'), 'apiVersion: v1\nkind: Secret\ndata: [unclosed\n  x: y\n');
      return 'broken.yaml';
    },
  },
  {
    name: 'broken JSON',
    code: 'INPUT_JSON_MALFORMED',
    make: (d) => {
      writeFileSync(join(d, 'broken.json'), '{"apiVersion": "v1", "kind": "Secret", ');
      return 'broken.json';
    },
  },
  {
    name: 'a 50 MB file',
    code: 'INPUT_TOO_LARGE',
    make: (d) => {
      writeFileSync(join(d, 'huge.pem'), '');
      truncateSync(join(d, 'huge.pem'), 50 * 1024 * 1024);
      return 'huge.pem';
    },
  },
  {
    name: 'a directory loop',
    code: 'INPUT_DIRECTORY_LOOP',
    make: (d) => {
      mkdirSync(join(d, 'loop', 'inner'), { recursive: true });
      writeFileSync(join(d, 'loop', 'root.pem'), root());
      symlinkSync(join(d, 'loop'), join(d, 'loop', 'inner', 'back'));
      return 'loop';
    },
  },
  {
    name: 'JSON nested deeper than any dump',
    code: 'INPUT_TOO_DEEP',
    make: (d) => {
      writeFileSync(
        join(d, 'deep.json'),
        `${'{"a":'.repeat(200)}"-----BEGIN CERTIFICATE-----"${'}'.repeat(200)}`,
      );
      return 'deep.json';
    },
  },
  {
    name: 'a path that does not exist',
    code: 'INPUT_NOT_FOUND',
    make: () => 'no-such-file.pem',
  },
  {
    name: 'a file of no shape meshbridge reads',
    code: 'INPUT_UNRECOGNIZED',
    make: (d) => {
      writeFileSync(join(d, 'notes.txt'), 'just some notes\nnothing to see\n');
      return 'notes.txt';
    },
  },
  {
    name: 'a manifest without any certificate',
    code: 'INPUT_NO_CERTIFICATES',
    make: (d) => {
      writeFileSync(
        join(d, 'deploy.yaml'),
        readFileSync(fixturePath('istio', 'injected-sidecar_hello.yaml')),
      );
      return 'deploy.yaml';
    },
  },
];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mb-malformed-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readers refuse malformed input with a coded error', () => {
  for (const c of CASES.filter((x) => x.code !== 'INPUT_NO_CERTIFICATES')) {
    it(`${c.name} -> ${c.code}`, async () => {
      const d = mkdtempSync(join(dir, 'r-'));
      const path = c.make(d);
      const err = await importPaths([path], { cwd: d }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ImportError);
      expect((err as ImportError).code).toBe(c.code);
      expect((err as ImportError).category).toBe('input');
    });
  }

  it('names the file and the PEM block position of a damaged block', async () => {
    const d = mkdtempSync(join(dir, 'pos-'));
    writeFileSync(join(d, 'two.pem'), `${root()}\n-----BEGIN CERTIFICATE-----\nMIIB\n`);
    const err = (await importPaths(['two.pem'], { cwd: d }).catch((e: unknown) => e)) as ImportError;
    expect(err.message).toMatch(/^two\.pem: PEM block 2 \(line \d+\)/);
    expect(err.details).toMatchObject({ source: 'two.pem', block: 2 });
  });

  it('the limit is checked before anything is read, for every file of a folder', async () => {
    const d = mkdtempSync(join(dir, 'big-'));
    writeFileSync(join(d, 'a.pem'), root());
    writeFileSync(join(d, 'z.pem'), '');
    truncateSync(join(d, 'z.pem'), 40 * 1024 * 1024);
    await expect(listInputFiles(['.'], { cwd: d })).rejects.toMatchObject({ code: 'INPUT_TOO_LARGE' });
    await expect(listInputFiles(['.'], { cwd: d, maxFileBytes: 64 * 1024 * 1024 })).resolves.toHaveLength(2);
  });

  it('a link to a folder already walked (not an ancestor) is read once, not a loop', async () => {
    const d = mkdtempSync(join(dir, 'twice-'));
    mkdirSync(join(d, 'certs'));
    writeFileSync(join(d, 'certs', 'root.pem'), root());
    symlinkSync(join(d, 'certs'), join(d, 'alias'));
    const files = await listInputFiles(['.'], { cwd: d });
    expect(files.map((f) => f.display)).toEqual(['alias/root.pem']);
  });

  it('in a folder walk, unreadable-looking non-sources are skipped; relevant ones still fail', () => {
    expect(readContent(Buffer.from('# Notes\n| a | b |\n'), 'README.md').skipped).toBe(true);
    expect(() => readContent(Buffer.from('{"apiVersion": "v1",'), 'x.json')).toThrow(/not valid JSON/);
  });
});

describe('meshbridge import on malformed input', () => {
  let db: string;
  let before: string;

  beforeAll(async () => {
    const d = mkdtempSync(join(dir, 'cli-'));
    db = join(d, 'x.db');
    const ok = await meshbridge(['--db', db, 'import', fixturePath('istio', 'workload-foo-cert.pem')], {
      cwd: d,
    });
    expect(ok.code).toBe(0);
    const store = await openStore(db);
    before = await snapshot(store);
    await store.close();
  });

  for (const c of CASES) {
    it(`${c.name}: exit 2, one line with [${c.code}], store unchanged`, async () => {
      const d = mkdtempSync(join(dir, 'c-'));
      const path = c.make(d);
      // A good file first: a failure later in the same import must not leave it behind.
      writeFileSync(join(d, 'good.pem'), root());
      const paths = c.code === 'INPUT_NO_CERTIFICATES' ? [path] : ['good.pem', path];
      const r = await meshbridge(['--db', db, 'import', ...paths], { cwd: d });
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`^meshbridge: .*\\[${c.code}\\]\\n$`));
      expect(r.stderr).not.toMatch(/\n\s+at /);
      const store = await openStore(db);
      expect(await snapshot(store)).toBe(before);
      await store.close();
    });
  }

  it('with --json the error is {"error":{code,message}}', async () => {
    const d = mkdtempSync(join(dir, 'j-'));
    const path = CASES[0]!.make(d);
    const r = await meshbridge(['--db', db, '--json', 'import', path], { cwd: d });
    expect(r.code).toBe(2);
    expect(r.json()).toEqual({
      error: { code: 'PEM_MALFORMED', message: expect.stringContaining('truncated.pem') },
    });
  });
});
