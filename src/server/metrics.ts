/**
 * `/metrics` in the Prometheus text format, from a prom-client registry of this server
 * (never the global one: two servers in one process keep their numbers apart).
 *
 * The migration gauges are computed at scrape time from the same `DashboardData` the
 * page and `/api/v1/overview` show, so the three always agree. The cutover's own
 * `cutoverGauges` names the cutover series:
 *
 *   meshbridge_cutover_workloads{mesh,phase,issuer}          workloads per mesh, phase of their namespace, issuer of their latest sighting
 *   meshbridge_cutover_scope_workloads{scope,level,phase,issuer}
 *   meshbridge_cutover_scope_phase{scope,level}              0 inventoried .. 4 retired
 *   meshbridge_cutover_gate_ready{scope,next}                1 ready, 0 blocked
 *   meshbridge_cutover_gate_blockers{scope,next}             blockers the next gate names
 *   meshbridge_certificate_expiry_seconds{kind,id,subject,trust_domain,mesh}   seconds until a root or issuer expires (negative: expired)
 *   meshbridge_overlap_window_remaining_seconds{scope,status}
 *   meshbridge_static_keys{state}, meshbridge_static_key_blockers
 *   meshbridge_broker_requests{credential,decision,code}     broker decisions recorded in the store over the last 24 h
 *   meshbridge_broker_leases{credential,state}               leases active | expired (not yet swept) | revoked
 *   meshbridge_broker_backend_duration_seconds{backend,kind,operation,outcome}  histogram, measured in this process
 *   meshbridge_build_info{version}
 * plus the Node.js process metrics (`process_*`, `nodejs_*`) unless turned off.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ScopeStatus } from '../cutover/status.js';
import { cutoverGauges, type GaugeSample } from '../cutover/status.js';
import type { DashboardData } from '../dashboard/model.js';

export interface MetricsOptions {
  load: () => Promise<DashboardData>;
  processMetrics: boolean;
  version: string;
}

export interface ServerMetrics {
  registry: Registry;
  backendDuration: Histogram<'backend' | 'kind' | 'operation' | 'outcome'>;
  /** Brings the series whose names come from the data (the cutover's) up to date; run before each scrape. */
  prepare(): Promise<void>;
}

export function createMetrics(o: MetricsOptions): ServerMetrics {
  const registry = new Registry();
  const registers = [registry];
  if (o.processMetrics) collectDefaultMetrics({ register: registry });
  const data = () => o.load();

  new Gauge({
    name: 'meshbridge_build_info',
    help: 'meshbridge version of this server (always 1)',
    labelNames: ['version'],
    registers,
    collect() {
      this.set({ version: o.version }, 1);
    },
  });

  new Gauge({
    name: 'meshbridge_certificate_expiry_seconds',
    help: 'Seconds until a trust anchor, issuer or SPIRE/federated root expires (negative: expired)',
    labelNames: ['kind', 'id', 'subject', 'trust_domain', 'mesh'],
    registers,
    async collect() {
      const d = await data();
      this.reset();
      for (const i of d.timeline.items) {
        if (i.kind === 'overlap') continue;
        this.set(
          { kind: i.kind, id: i.id, subject: i.label, trust_domain: i.trustDomain ?? '', mesh: i.mesh ?? '' },
          i.secondsLeft,
        );
      }
    },
  });

  new Gauge({
    name: 'meshbridge_overlap_window_remaining_seconds',
    help: 'Seconds left in the planned overlap window of each cluster (status planned | running)',
    labelNames: ['scope', 'status'],
    registers,
    async collect() {
      const d = await data();
      this.reset();
      for (const i of d.timeline.items) {
        if (i.kind === 'overlap') this.set({ scope: i.id, status: i.status }, i.secondsLeft);
      }
    },
  });

  new Gauge({
    name: 'meshbridge_static_keys',
    help: 'Static keys in each state of their retirement',
    labelNames: ['state'],
    registers,
    async collect() {
      const d = await data();
      this.reset();
      for (const s of d.staticKeys.states) this.set({ state: s.state }, s.count);
    },
  });

  new Gauge({
    name: 'meshbridge_static_key_blockers',
    help: 'Blockers standing between static keys and their next state',
    registers,
    async collect() {
      const d = await data();
      this.set(d.staticKeys.blockers.length);
    },
  });

  new Gauge({
    name: 'meshbridge_broker_requests',
    help: 'Broker decisions recorded in the store over the last 24 h, by credential, decision (allow | deny | error) and code; every broker sharing the store counts',
    labelNames: ['credential', 'decision', 'code'],
    registers,
    async collect() {
      const d = await data();
      this.reset();
      for (const r of d.broker.requests) {
        this.set({ credential: r.credential, decision: r.decision, code: r.code }, r.count);
      }
    },
  });

  new Gauge({
    name: 'meshbridge_broker_leases',
    help: 'Broker leases per credential: active, expired (not yet revoked by the sweeper) and revoked',
    labelNames: ['credential', 'state'],
    registers,
    async collect() {
      const d = await data();
      this.reset();
      for (const l of d.broker.leases) {
        this.set({ credential: l.credential, state: 'active' }, l.active);
        this.set({ credential: l.credential, state: 'expired' }, l.expired);
        this.set({ credential: l.credential, state: 'revoked' }, l.revoked);
      }
    },
  });

  const backendDuration = new Histogram({
    name: 'meshbridge_broker_backend_duration_seconds',
    help: 'Time the broker spent in a backend call (issue, revoke, health), measured in this process',
    labelNames: ['backend', 'kind', 'operation', 'outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });

  const dynamic = new Map<string, Gauge<string>>();
  const prepare = async () => {
    const d = await data();
    const samples: GaugeSample[] = [
      ...cutoverGauges({ evaluatedAt: d.generatedAt, scopes: d.scopes.map(statusOf) }),
    ];
    for (const s of d.scopes) {
      if (s.next === null) continue;
      samples.push({
        name: 'meshbridge_cutover_gate_blockers',
        help: 'Blockers the gate into the next phase of a scope names (aggregated per check)',
        labels: { scope: s.scope, next: s.next.phase },
        value: s.next.blockers.length,
      });
    }
    for (const g of dynamic.values()) g.reset();
    for (const sample of samples) {
      let g = dynamic.get(sample.name);
      if (g === undefined) {
        g = new Gauge({
          name: sample.name,
          help: sample.help,
          labelNames: Object.keys(sample.labels),
          registers,
        });
        dynamic.set(sample.name, g);
      }
      g.set(sample.labels, sample.value);
    }
  };

  return { registry, backendDuration, prepare };
}

/** The cutover's status row of a scope as the dashboard shows it. */
function statusOf(s: DashboardData['scopes'][number]): ScopeStatus {
  return {
    scope: s.scope,
    phase: s.phase as ScopeStatus['phase'],
    workloads: s.workloads,
    onSpire: s.onSpire,
    onMesh: s.onMesh,
    onOther: s.other,
    next:
      s.next === null
        ? null
        : {
            phase: s.next.phase as ScopeStatus['phase'],
            ready: s.next.ready,
            blockers: s.next.blockers as never,
          },
    level: s.level,
    parent: s.parent,
    version: 0,
    updatedAt: s.updatedAt,
    updatedBy: s.updatedBy,
  };
}

/** A backend as the broker holds it (its methods are looked up at each call, so they can be wrapped). */
interface TimedBackend {
  readonly name: string;
  readonly kind: string;
  issue(...args: unknown[]): Promise<unknown>;
  revoke(...args: unknown[]): Promise<unknown>;
  health(...args: unknown[]): Promise<unknown>;
}

const INSTRUMENTED = Symbol.for('meshbridge.metrics.instrumented');

/**
 * Times every call of the broker's backends. The broker offers no hook for it, so the
 * backend objects it holds are wrapped in place (once; the secret never passes here).
 */
export function instrumentBackends(
  backends: Iterable<object>,
  histogram: ServerMetrics['backendDuration'],
): void {
  for (const raw of backends) {
    const b = raw as TimedBackend & { [INSTRUMENTED]?: boolean };
    if (b[INSTRUMENTED]) continue;
    b[INSTRUMENTED] = true;
    for (const op of ['issue', 'revoke', 'health'] as const) {
      const original = b[op].bind(b);
      b[op] = async (...args: unknown[]) => {
        const end = histogram.startTimer({ backend: b.name, kind: String(b.kind), operation: op });
        try {
          const out = await original(...args);
          const down = op === 'health' && (out as { ok?: unknown } | undefined)?.ok === false;
          end({ outcome: down ? 'down' : 'ok' });
          return out;
        } catch (err) {
          end({ outcome: 'error' });
          throw err;
        }
      };
    }
  }
}

export interface MetricsPluginOptions {
  registry: Registry;
  prepare?: () => Promise<void>;
  guard?: (req: FastifyRequest, reply: FastifyReply) => Promise<void> | void;
}

export const metricsPlugin: FastifyPluginAsync<MetricsPluginOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  if (opts.guard !== undefined) {
    const guard = opts.guard;
    app.addHook('onRequest', async (req, reply) => {
      await guard(req, reply);
    });
  }
  app.get(
    '/metrics',
    { schema: { querystring: Type.Object({}), response: { 200: Type.String() } } },
    async (_req, reply) => {
      await opts.prepare?.();
      const body = await opts.registry.metrics();
      reply.header('cache-control', 'no-store').type(opts.registry.contentType);
      return body;
    },
  );
};
