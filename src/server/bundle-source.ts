/**
 * The bundles the SPIFFE bundle endpoint serves, composed from what the store holds
 * (inventory anchors + SPIRE + federated roots: the same composition `bundle build`
 * makes) for one phase, recomposed every `reloadSeconds`. A composition that fails (a
 * mesh root expiring inside the overlap window, the store down) keeps the previous
 * bundles and is reported by `/readyz`. `spiffe_sequence` comes from the store's
 * bundle versions, so it grows on every change of content, across restarts.
 */

import type { Logger } from 'pino';
import { dbOf } from '../cutover/schema.js';
import { composeFromStore } from '../cutover/stored-trust.js';
import {
  type BundleEndpointSource,
  bundleForPhase,
  bundlesOfPhase,
  PHASES,
  type Phase,
  parseScope,
} from '../dual-trust/index.js';
import type { SpiffeBundle } from '../spiffe/bundle/spiffebundle.js';
import type { Clock } from '../spiffe/errors.js';
import { loadBundleSequence, publishBundleVersion } from '../store/dual-trust-repo.js';
import type { Store } from '../store/index.js';

export interface StoreBundleSourceOptions {
  phase: Phase | 'auto';
  scope: string;
  overlapSeconds: number;
  refreshHintSeconds: number;
  allowExpiring: boolean;
  meshTrustDomain?: string;
  reloadSeconds: number;
  clock?: Clock;
  logger?: Logger;
}

export interface BundleStatus {
  loaded: boolean;
  phase: Phase | null;
  trustDomains: { name: string; roots: number; sequence: string }[];
  loadedAt: string | null;
  error: { code: string; message: string } | null;
}

export class StoreBundleSource implements BundleEndpointSource {
  private bundles = new Map<string, SpiffeBundle>();
  private timer: NodeJS.Timeout | undefined;
  private state: BundleStatus = { loaded: false, phase: null, trustDomains: [], loadedAt: null, error: null };
  private running: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly o: StoreBundleSourceOptions,
  ) {}

  trustDomains(): string[] {
    return [...this.bundles.keys()].sort();
  }

  getBundle(trustDomain: string): SpiffeBundle | undefined {
    return this.bundles.get(trustDomain);
  }

  status(): BundleStatus {
    return this.state;
  }

  start(): void {
    this.stop();
    this.timer = setInterval(() => void this.refresh(), this.o.reloadSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Recomposes now (concurrent calls share one run). */
  refresh(): Promise<void> {
    this.running ??= this.compose().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async compose(): Promise<void> {
    const clock = this.o.clock ?? (() => new Date());
    try {
      const scope = parseScope(this.o.scope);
      const { composition } = await composeFromStore(this.store, {
        scope,
        clock,
        ...(this.o.overlapSeconds === undefined ? {} : { overlapSeconds: this.o.overlapSeconds }),
        ...(this.o.refreshHintSeconds === undefined ? {} : { refreshHintSeconds: this.o.refreshHintSeconds }),
        ...(this.o.allowExpiring ? { allowExpiring: true } : {}),
        ...(this.o.meshTrustDomain === undefined ? {} : { meshTrustDomain: this.o.meshTrustDomain }),
      });
      const phase = this.o.phase === 'auto' ? await autoPhase(this.store, scope.mesh) : this.o.phase;
      const cut = bundleForPhase(composition, phase === 'retired' ? 'spiffe-only' : phase);
      const trustDomains = [];
      // A trust domain with nothing trusted in this phase is not served (its own authority serves it).
      for (const td of cut.trustDomains.filter((t) => t.roots.length > 0 || t.jwtKeys.length > 0)) {
        let sequence: bigint;
        try {
          const published = await publishBundleVersion(
            this.store,
            {
              scope: seriesOf(scope.name),
              trustDomain: td.name,
              digest: td.digest,
              phase,
              roots: td.roots.map((r) => r.fingerprint),
            },
            { clock },
          );
          sequence = published.sequence;
        } catch {
          // Another replica published at the same moment: take what it recorded.
          const cur = await loadBundleSequence(this.store, seriesOf(scope.name), td.name);
          sequence = cur?.sequence ?? 1n;
        }
        trustDomains.push({ ...td, sequence });
      }
      const bundle = { ...cut, trustDomains };
      this.bundles = new Map(bundlesOfPhase(bundle).map((b) => [b.trustDomain.name, b]));
      this.state = {
        loaded: true,
        phase,
        trustDomains: trustDomains.map((t) => ({
          name: t.name,
          roots: t.roots.length,
          sequence: t.sequence.toString(),
        })),
        loadedAt: clock().toISOString(),
        error: null,
      };
    } catch (err) {
      const e = err as Error & { code?: unknown };
      this.state = {
        ...this.state,
        error: { code: typeof e.code === 'string' ? e.code : 'BUNDLE_COMPOSE_FAILED', message: e.message },
      };
      this.o.logger?.warn(
        { err: { message: e.message, code: e.code } },
        'bundle not recomposed; the previous one stays',
      );
    }
  }
}

/** The endpoint's own sequence series per scope, apart from `bundle build`'s (which may build other phases). */
function seriesOf(scope: string): string {
  return `endpoint:${scope}`;
}

/** The least advanced phase of the meshes in the cutover (what every workload still needs trusted). */
async function autoPhase(store: Store, mesh: string | undefined): Promise<Phase> {
  let q = dbOf(store).selectFrom('cutover_scopes').select('phase').where('level', '=', 'mesh');
  if (mesh !== undefined) q = q.where('mesh', '=', mesh);
  const rows = await q.execute();
  if (rows.length === 0) return 'dual-trust';
  let min = PHASES.length - 1;
  for (const r of rows) {
    const i = PHASES.indexOf(r.phase as Phase);
    if (i >= 0 && i < min) min = i;
  }
  return PHASES[min]!;
}
