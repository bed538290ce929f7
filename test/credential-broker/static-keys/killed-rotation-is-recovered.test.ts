/**
 * Issue 8: a crash between the backend write and the ledger update (a killed process)
 * leaves a state the next run detects and finishes or undoes, never a key whose value
 * nobody knows. A child process advances the key (which rotates it) and is SIGKILLed
 * at each point of the rotation; then `keys show` reports the interrupted rotation and
 * `keys recover` / `keys advance` finish or undo it.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Broker } from '../../../src/credential-broker/broker.js';
import { StaticKeyLedger } from '../../../src/credential-broker/static-keys/index.js';
import { openStore, type Store } from '../../../src/store/index.js';
import { cli } from '../../cli/run.js';
import { repoRoot } from '../../helpers/fixtures.js';
import { type FreshTarget, PG_SKIPPED, TARGETS } from '../../store/targets.js';
import { runTsChild } from '../backends/crash-drill.js';
import { brokerServing, fetchAs } from './broker-consumers.js';
import { FLAVOURS, type Rig, type RigFactory } from './rigs.js';

const CHILD = join(repoRoot, 'test/credential-broker/static-keys/ledger-crash-child.ts');
const WEB = 'spiffe://example.org/ns/shop/sa/web';
const WORKER = 'spiffe://example.org/ns/shop/sa/worker';

interface Drill {
  /** Where the child dies. */
  point: string;
  /** What `keys show` reports downstream right after. */
  downstream: string;
  /** How the next run recovers. */
  recover: string[];
  outcome: 'finished' | 'undone' | 'discarded';
  /** The state the key is in afterwards. */
  state: 'brokered' | 'rotated';
}

const DRILLS: Record<'aws' | 'vault', Drill[]> = {
  aws: [
    {
      point: 'staged',
      downstream: 'staged',
      recover: ['recover', '--undo', '--force'],
      outcome: 'undone',
      state: 'brokered',
    },
    {
      point: 'staged',
      downstream: 'staged',
      recover: ['advance', '--force'],
      outcome: 'finished',
      state: 'rotated',
    },
    {
      point: 'promoted',
      downstream: 'promoted',
      recover: ['recover', '--force'],
      outcome: 'finished',
      state: 'rotated',
    },
    {
      point: 'promoted',
      downstream: 'promoted',
      recover: ['recover', '--undo', '--force'],
      outcome: 'undone',
      state: 'brokered',
    },
    {
      point: 'before-ledger',
      downstream: 'written',
      recover: ['advance', '--force'],
      outcome: 'finished',
      state: 'rotated',
    },
    {
      point: 'before-ledger',
      downstream: 'written',
      recover: ['recover', '--undo', '--force'],
      outcome: 'undone',
      state: 'brokered',
    },
  ],
  vault: [
    {
      point: 'marked',
      downstream: 'marked',
      recover: ['recover', '--force'],
      outcome: 'discarded',
      state: 'brokered',
    },
    {
      point: 'promoted',
      downstream: 'promoted',
      recover: ['advance', '--force'],
      outcome: 'finished',
      state: 'rotated',
    },
    {
      point: 'promoted',
      downstream: 'promoted',
      recover: ['recover', '--undo', '--force'],
      outcome: 'undone',
      state: 'brokered',
    },
    {
      point: 'before-ledger',
      downstream: 'written',
      recover: ['recover', '--force'],
      outcome: 'finished',
      state: 'rotated',
    },
  ],
};

if (PG_SKIPPED !== null) {
  describe.skip(`killed rotation on postgres — SKIPPED: ${PG_SKIPPED}`, () => {
    it('needs a PostgreSQL server', () => {});
  });
}

for (const flavour of FLAVOURS) {
  describe.skipIf(flavour.skip).each(TARGETS)(
    `a killed rotation in ${flavour.name}, ledger on $name`,
    (target) => {
      let factory: RigFactory;
      let fresh: FreshTarget;
      let store: Store;
      let rig: Rig;
      let broker: Broker;
      let keys: (args: string[]) => ReturnType<typeof cli>;

      beforeAll(async () => {
        factory = await flavour.start();
      });
      afterAll(async () => {
        await factory?.stop();
      });
      beforeEach(async () => {
        fresh = await target.fresh();
        store = await openStore(fresh.target);
        rig = await factory.rig(`crash-${randomBytes(4).toString('hex')}`);
        broker = brokerServing(store, {
          credential: 'orders-db',
          backendName: rig.backendName,
          backend: rig.backend,
          spec: rig.spec,
          allowed: [WEB, WORKER],
        });
        keys = (args) =>
          cli(['--db', fresh.target, 'keys', ...args], {
            env: { ...rig.env, MESHBRIDGE_OPERATOR: 'next-run' },
          });
      });
      afterEach(async () => {
        await broker.close();
        await store.close();
        await fresh.cleanup();
      });

      /** A brokered key both consumers fetched: its next advance rotates. */
      async function readyToRotate(): Promise<string> {
        await keys([
          'add',
          'orders-db',
          '--location',
          rig.location,
          '--owner',
          'payments',
          '--consumer',
          WEB,
          '--consumer',
          WORKER,
        ]);
        expect((await keys(['advance', 'orders-db'])).code).toBe(0);
        await fetchAs(broker, WEB, 'orders-db');
        await fetchAs(broker, WORKER, 'orders-db');
        await broker.writer.flush();
        return (await rig.backend.describe(rig.where)).currentVersion;
      }

      it.each(DRILLS[flavour.name])(
        'killed at $point: show reports it, `keys $recover` ends $outcome in $state',
        async (drill) => {
          const before = await readyToRotate();
          const childEnv: Record<string, string> =
            flavour.name === 'vault' ? { VAULT_TOKEN: rig.env.VAULT_TOKEN as string } : {};
          const end = await runTsChild(
            CHILD,
            [fresh.target, ...rig.childArgs, 'orders-db', drill.point],
            childEnv,
          );
          expect(end.signal, end.stderr).toBe('SIGKILL');

          // The next run sees the half-done rotation.
          const shown = await keys(['show', 'orders-db', '--json']);
          expect(shown.code).toBe(0);
          const view = shown.json() as {
            state: string;
            interrupted: {
              operation: string;
              from: string;
              to: string;
              by: string;
              downstream: { stage: string };
            } | null;
            next: { ready: boolean; blockers: { code: string }[] };
          };
          expect(view.state).toBe('brokered');
          expect(view.interrupted).toMatchObject({
            operation: 'rotate',
            from: 'brokered',
            to: 'rotated',
            by: 'doomed-operator',
            downstream: { stage: drill.downstream },
          });
          expect(view.next.ready).toBe(false);
          expect(view.next.blockers.map((b) => b.code)).toContain('OPERATION_INTERRUPTED');
          // Nothing else may happen to the key until it is recovered.
          const rollback = await keys(['rollback', 'orders-db', '--reason', 'x', '--json']);
          expect(rollback.code).toBe(1);
          expect(rollback.json()).toMatchObject({ error: { code: 'STATIC_KEY_OPERATION_INTERRUPTED' } });
          // Within the grace period a recovery waits for a possibly still running operation.
          const early = await keys(['recover', 'orders-db', '--json']);
          expect(early.code).toBe(1);
          expect(early.json()).toMatchObject({ error: { code: 'STATIC_KEY_CONFLICT' } });

          const recovered = await keys([
            ...drill.recover.slice(0, 1),
            'orders-db',
            ...drill.recover.slice(1),
            '--json',
          ]);
          expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
          const out = recovered.json() as {
            outcome?: string;
            recovered?: { outcome: string };
            state: string;
          };
          expect(out.outcome ?? out.recovered?.outcome).toBe(drill.outcome);
          expect(out.state).toBe(drill.state);

          // Never a key whose value nobody knows: nothing pending downstream, the ledger
          // names the version that is current, and that version's value is readable.
          const d = await rig.backend.describe(rig.where);
          expect(d.pending).toBeNull();
          const ledger = new StaticKeyLedger({ store, secretStores: () => rig.backend });
          const key = await ledger.get('orders-db');
          expect(key.state).toBe(drill.state);
          expect(key.currentVersion).toBe(d.currentVersion);
          const current = await rig.backend.readCurrent(rig.where);
          if (drill.state === 'brokered') expect(current.value.password).toBe(rig.oldPassword);
          else {
            expect(current.value.password).not.toBe(rig.oldPassword);
            expect(key.previousVersion).toBe(before);
            expect((await rig.backend.readVersion(rig.where, before)).value.password).toBe(rig.oldPassword);
          }
          const after = await keys(['show', 'orders-db', '--json']);
          expect((after.json() as { interrupted: unknown }).interrupted).toBeNull();
          const history = await ledger.history('orders-db');
          expect(history[history.length - 1]).toMatchObject({ kind: 'recover', by: 'next-run' });

          // And the key moves on normally afterwards.
          if (drill.state === 'brokered') {
            const again = await keys(['advance', 'orders-db', '--json']);
            expect(again.code, again.stdout).toBe(0);
            expect(again.json()).toMatchObject({ state: 'rotated' });
          } else {
            const back = await keys(['rollback', 'orders-db', '--reason', 'drill', '--json']);
            expect(back.code, back.stdout).toBe(0);
            expect((await rig.backend.readCurrent(rig.where)).value.password).toBe(rig.oldPassword);
          }
        },
      );
    },
  );
}
