/**
 * The inventory lands in the store in one saveImport, re-imports are idempotent by
 * fingerprint, and loading it back gives the same JSON contract. On SQLite always and on
 * the run's PostgreSQL when the test setup started one.
 */
import { describe, expect, it } from 'vitest';
import { storedInventoryJson, toImportRecord, toInventoryJson } from '../../src/mesh-import/index.js';
import { loadInventory, openStore, saveImport } from '../../src/store/index.js';
import { counts, PG_SKIPPED, TARGETS } from '../store/targets.js';
import { FIXTURE_DAY, importPaths } from './helpers.js';

const at = (d: Date) => () => d;

describe.each(TARGETS)('inventory persistence on $name', (tc) => {
  it('saves the fixture inventory whole and reads back the same JSON contract', async () => {
    const fresh = await tc.fresh();
    const store = await openStore(fresh.target);
    try {
      const inv = await importPaths(['istio', 'linkerd'], { cluster: 'prod-eu' });
      const record = toImportRecord(inv);
      const first = await saveImport(store, record, { clock: at(FIXTURE_DAY) });
      const total = inv.anchors.length + inv.intermediates.length + inv.workloads.length;
      expect(first.certificates).toEqual({ total, added: total, updated: 0 });
      expect(first.problems).toBe(inv.problems.length);
      expect(first.keys).toBe(inv.keys.length);

      const loaded = await loadInventory(store);
      const view = storedInventoryJson(loaded, { nowMs: FIXTURE_DAY.getTime() });
      expect(view).toEqual(toInventoryJson(inv));
      expect(view.workloads.every((w) => w.cluster === 'prod-eu')).toBe(true);
    } finally {
      await store.close();
      await fresh.cleanup();
    }
  });

  it('re-importing the same material changes no certificate, only when and where it was last seen', async () => {
    const fresh = await tc.fresh();
    const store = await openStore(fresh.target);
    try {
      const inv = await importPaths(['linkerd']);
      await saveImport(store, toImportRecord(inv), { clock: at(FIXTURE_DAY) });
      const once = await counts(store);
      const later = new Date(FIXTURE_DAY.getTime() + 3_600_000);
      const again = await saveImport(store, toImportRecord(await importPaths(['linkerd'])), {
        clock: at(later),
      });
      expect(again.certificates.added).toBe(0);
      expect(again.certificates.updated).toBe(once.certificates);
      const twice = await counts(store);
      expect(twice).toEqual({ ...once, imports: 2, problems: (once.problems ?? 0) * 2 });
      const loaded = await loadInventory(store);
      expect(
        loaded.certificates.every(
          (c) => c.firstSeen === FIXTURE_DAY.toISOString() && c.lastSeen === later.toISOString(),
        ),
      ).toBe(true);
      // Only the latest import's problems are the current ones.
      expect(storedInventoryJson(loaded, { nowMs: FIXTURE_DAY.getTime() }).problems).toEqual(
        toInventoryJson(inv).problems,
      );
    } finally {
      await store.close();
      await fresh.cleanup();
    }
  });

  it('stores that a private key was seen, never the key', async () => {
    const fresh = await tc.fresh();
    const store = await openStore(fresh.target);
    try {
      const inv = await importPaths(['linkerd/install_default.golden.yaml', 'istio/plugin-ca_ca-key.pem']);
      await saveImport(store, toImportRecord(inv), { clock: at(FIXTURE_DAY) });
      const keys = await store.db.selectFrom('private_keys_seen').selectAll().execute();
      expect(keys.map((k) => k.key_type).sort()).toEqual(['ec-p256', 'ec-p256', 'rsa-2048']);
      const everything = JSON.stringify({
        certificates: await store.db.selectFrom('certificates').selectAll().execute(),
        problems: await store.db.selectFrom('problems').selectAll().execute(),
        sources: await store.db.selectFrom('sources').selectAll().execute(),
        imports: await store.db.selectFrom('imports').selectAll().execute(),
        keys,
      });
      expect(everything).not.toMatch(/PRIVATE KEY/);
      // the base64 of the issuer key in the golden Secret, and a line of the PKCS#1 key body
      expect(everything).not.toContain('LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t');
      expect(everything).not.toContain('3XIQk8/u/By9iCvVwXIMvyT0CbiJq/');
    } finally {
      await store.close();
      await fresh.cleanup();
    }
  });
});

if (PG_SKIPPED !== null) {
  describe('inventory persistence on postgres', () => {
    it.skip(`not part of this run: ${PG_SKIPPED}`, () => {});
  });
}
