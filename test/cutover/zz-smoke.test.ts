import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'vitest';
import { meshbridge, writeIstioMesh } from './helpers.js';

test('smoke', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cut-'));
  const now = new Date();
  writeIstioMesh(join(dir, 'mesh'), now, { shop: ['web', 'cart', 'orders'], payments: ['api', 'ledger'] });
  const db = join(dir, 'db.sqlite');
  const imp = await meshbridge(['--db', db, 'import', 'mesh', '--mesh', 'istio', '--cluster', 'east'], { cwd: dir });
  console.log(imp.code, imp.stdout.slice(0, 2000), imp.stderr);
  const st = await meshbridge(['--db', db, 'cutover', 'status'], { cwd: dir });
  console.log(st.code, st.stdout, st.stderr);
  const st2 = await meshbridge(['--db', db, '--json', 'cutover', 'status'], { cwd: dir });
  console.log(st2.code, st2.stdout.slice(0, 3000), st2.stderr);
  const pl = await meshbridge(['--db', db, 'cutover', 'plan', 'istio/east/shop'], { cwd: dir });
  console.log(pl.code, pl.stdout, pl.stderr);
});
