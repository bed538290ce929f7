/**
 * `meshbridge serve`: one process, one fastify app composed of plugins:
 *
 *   health    GET /healthz, /readyz                      (always open: probes)
 *   metrics   GET /metrics                               (prom-client registry of this server)
 *   dashboard GET /, /assets/dashboard.js, /api/v1/...   (guarded off loopback)
 *   bundle    GET <bundleEndpoint.path>/<trust-domain>   (SPIFFE bundle endpoint, open: R117)
 *   broker    POST /v1/credentials/:name, ...            (when `broker:` is configured; its own auth)
 *
 * Listeners: `listen` (plain HTTP; the broker's routes are not served there) and, with a
 * broker, the broker's HTTPS listener (client certificates requested, not required),
 * where the same app also answers with mTLS, so an admin SVID can open the dashboard.
 */
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import type { Registry } from 'prom-client';
import { createBrokerLogger } from '../credential-broker/audit.js';
import {
  type BrokerServer,
  type BrokerServerDeps,
  createBrokerServer,
  fastifyLogging,
  listenFailed,
  noRequestLoggers,
  replyWithError,
} from '../credential-broker/server.js';
import { loadDashboard } from '../dashboard/data.js';
import type { DashboardData } from '../dashboard/model.js';
import { dashboardPlugin } from '../dashboard/plugin.js';
import { bundleEndpointPlugin } from '../dual-trust/endpoint/plugin.js';
import type { Clock } from '../spiffe/errors.js';
import { openStore, type Store } from '../store/index.js';
import { VERSION } from '../version.js';
import { accessGuard, type Guard } from './access.js';
import { StoreBundleSource } from './bundle-source.js';
import { isLoopbackHost, type ServeConfig } from './config.js';
import { healthPlugin } from './health.js';
import { createMetrics, instrumentBackends, metricsPlugin } from './metrics.js';
import { BrokerSightings } from './sightings.js';

export interface ServerDeps {
  /** Default: `openStore(config.store)` (closed with the server). */
  store?: Store;
  logger?: Logger;
  /** Where log lines go when no logger is given (default stdout). */
  logDestination?: DestinationStream;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
  /** Passed on to `createBrokerServer` (tests: a trust source, backends). */
  broker?: Omit<BrokerServerDeps, 'store' | 'logger' | 'clock' | 'env'>;
  /** How long one read of the dashboard data is reused by page, API and metrics (default 1000 ms). */
  cacheMs?: number;
}

export interface ServerUrls {
  /** `http://host:port`: dashboard, API, health, metrics, bundle endpoint. */
  dashboard: string;
  /** `https://host:port` of the broker, when configured. */
  broker?: string;
}

export interface MeshbridgeServer {
  app: FastifyInstance;
  store: Store;
  registry: Registry;
  bundles: StoreBundleSource;
  broker?: BrokerServer;
  logger: Logger;
  urls: ServerUrls;
  /** The dashboard data now (cached for `cacheMs`). */
  load(): Promise<DashboardData>;
  /** Writes queued broker sightings as cutover observations now. */
  flushSightings(): Promise<void>;
  listen(): Promise<ServerUrls>;
  close(): Promise<void>;
}

/** Builds the app; `listen()` starts serving. */
export async function createServer(config: ServeConfig, deps: ServerDeps = {}): Promise<MeshbridgeServer> {
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await Promise.resolve(fn()).catch(() => undefined);
  };
  try {
    const env = deps.env ?? process.env;
    const logger =
      deps.logger ??
      createBrokerLogger({
        level: config.logLevel,
        base: { component: 'meshbridge-serve' },
        ...(deps.logDestination === undefined ? {} : { destination: deps.logDestination }),
      });
    // The last lines (closing, flushed writes) reach the destination before close resolves.
    if (deps.logger === undefined)
      cleanups.push(() => new Promise<void>((done) => logger.flush(() => done())));
    let store = deps.store;
    if (store === undefined) {
      const opened = await openStore(config.store, { env, cwd: config.baseDir });
      store = opened;
      cleanups.push(() => opened.close());
    }

    let broker: BrokerServer | undefined;
    let app: FastifyInstance;
    let sightings: BrokerSightings | undefined;
    if (config.broker !== undefined) {
      const s = new BrokerSightings(store, 'broker', (err) =>
        logger.warn({ err }, 'could not record broker sightings'),
      );
      sightings = s;
      const chained = deps.broker?.onDecision;
      broker = await createBrokerServer(config.broker, {
        ...deps.broker,
        onDecision: (record, timing) => {
          s.observe(record);
          chained?.(record, timing);
        },
        store,
        logger,
        env,
        ...(deps.clock === undefined ? {} : { clock: deps.clock }),
      });
      const b = broker;
      cleanups.push(() => b.close());
      cleanups.push(() => s.flush());
      app = broker.app as unknown as FastifyInstance;
    } else {
      app = Fastify(fastifyLogging(logger)) as unknown as FastifyInstance;
      noRequestLoggers(app);
      const a = app;
      cleanups.push(() => a.close());
    }

    // One cached read of the store feeds the page, the API and the gauges.
    const cacheMs = deps.cacheMs ?? 1000;
    let cached: { at: number; data: Promise<DashboardData> } | undefined;
    const s = store;
    const load = (): Promise<DashboardData> => {
      const now = Date.now();
      if (cached !== undefined && now - cached.at < cacheMs) return cached.data;
      const data = loadDashboard(s, {
        ...(deps.clock === undefined ? {} : { clock: deps.clock }),
        overlapSeconds: config.cutover.overlapSeconds,
        brokerConfigured: broker !== undefined,
      });
      cached = { at: now, data };
      data.catch(() => {
        if (cached?.data === data) cached = undefined;
      });
      return data;
    };

    const metrics = createMetrics({ load, processMetrics: config.metrics.processMetrics, version: VERSION });
    if (broker !== undefined) instrumentBackends(broker.broker.backends.values(), metrics.backendDuration);

    const bundles = new StoreBundleSource(store, {
      phase: config.bundleEndpoint.phase,
      scope: config.bundleEndpoint.scope,
      overlapSeconds: config.cutover.overlapSeconds,
      refreshHintSeconds: config.bundleEndpoint.refreshHintSeconds,
      allowExpiring: config.bundleEndpoint.allowExpiring,
      reloadSeconds: config.bundleEndpoint.reloadSeconds,
      ...(config.bundleEndpoint.meshTrustDomain === undefined
        ? {}
        : { meshTrustDomain: config.bundleEndpoint.meshTrustDomain }),
      ...(deps.clock === undefined ? {} : { clock: deps.clock }),
      logger,
    });
    cleanups.push(() => bundles.stop());

    // Access: which local ports are open without credentials is known once listening.
    const openPorts = new Set<number>();
    const b = broker;
    const guard: Guard = accessGuard({
      tokens: config.access.tokens,
      adminIds: config.access.adminIds,
      isOpenPort: (port) => openPorts.has(port),
      ...(b === undefined
        ? {}
        : { verifyClient: (socket: TLSSocket) => b.broker.authenticateSocket(socket)?.id.toString() }),
    });

    await app.register(async (scope) => {
      scope.setErrorHandler((err, req, reply) => sendError(logger, err, req, reply));
      if (broker === undefined) {
        scope.setNotFoundHandler((req, reply) =>
          reply.code(404).send({
            error: { code: 'ROUTE_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` },
          }),
        );
      }
      await scope.register(healthPlugin, {
        store: s,
        checks: [
          () => {
            if (!config.bundleEndpoint.enabled)
              return { name: 'bundle', ok: true, message: 'endpoint disabled' };
            const st = bundles.status();
            return st.loaded
              ? {
                  name: 'bundle',
                  ok: true,
                  message: `phase ${st.phase}: ${st.trustDomains.map((t) => `${t.name} (${t.roots} root(s), sequence ${t.sequence})`).join(', ') || 'no trust domain yet'}`,
                }
              : { name: 'bundle', ok: false, message: st.error?.message ?? 'not composed yet' };
          },
          ...(b === undefined
            ? []
            : [
                async () => {
                  const h = await b.broker.health();
                  const down = h.backends.filter((x) => !x.ok).map((x) => x.name);
                  return {
                    name: 'broker',
                    ok: h.ready,
                    message: `policy ${h.policyVersion}, trust ${h.trustDomains.join(', ') || 'none'}${down.length ? `, backends down: ${down.join(', ')}` : ''}`,
                  };
                },
              ]),
        ],
      });
      if (config.metrics.enabled) {
        await scope.register(metricsPlugin, {
          registry: metrics.registry,
          prepare: metrics.prepare,
          ...(config.metrics.requireAuth ? { guard } : {}),
        });
      }
      if (config.dashboard.enabled) {
        await scope.register(dashboardPlugin, {
          load,
          title: config.dashboard.title,
          refreshSeconds: config.dashboard.refreshSeconds,
          guard,
        });
      }
      if (config.bundleEndpoint.enabled) {
        await scope.register(bundleEndpointPlugin, {
          source: bundles,
          ...(config.bundleEndpoint.defaultTrustDomain === undefined
            ? {}
            : { defaultTrustDomain: config.bundleEndpoint.defaultTrustDomain }),
          prefix: config.bundleEndpoint.path,
        } as never);
      }
    });

    let httpServer: HttpServer | undefined;
    const urls: ServerUrls = { dashboard: '' };
    const server: MeshbridgeServer = {
      app,
      store,
      registry: metrics.registry,
      bundles,
      ...(broker === undefined ? {} : { broker }),
      logger,
      urls,
      load,
      flushSightings: async () => {
        await broker?.broker.writer.flush();
        await sightings?.flush();
      },
      async listen() {
        await bundles.refresh();
        bundles.start();
        const host = config.listen.host;
        const openHere = isLoopbackHost(host) && !config.access.requireAuth;
        if (broker === undefined) {
          await app.listen({ host, port: config.listen.port }).catch((err: unknown) => {
            throw listenFailed(err, host, config.listen.port);
          });
          const port = (app.server.address() as AddressInfo).port;
          if (openHere) openPorts.add(port);
          urls.dashboard = `http://${hostPart(host)}:${port}`;
        } else {
          await app.ready();
          const brokerUrl = broker.url === '' ? 'https://the broker listener' : broker.url;
          const handler = plainHandler(app, () => urls.broker ?? brokerUrl);
          const srv = createHttpServer(handler);
          httpServer = srv;
          await new Promise<void>((resolve, reject) => {
            const failed = (err: Error) => reject(listenFailed(err, host, config.listen.port));
            srv.once('error', failed);
            srv.listen(config.listen.port, host, () => {
              srv.off('error', failed);
              resolve();
            });
          });
          const port = (srv.address() as AddressInfo).port;
          if (openHere) openPorts.add(port);
          urls.dashboard = `http://${hostPart(host)}:${port}`;
          urls.broker = await broker.listen();
          const brokerPort = (app.server.address() as AddressInfo).port;
          if (isLoopbackHost(config.broker!.listen.host) && !config.access.requireAuth)
            openPorts.add(brokerPort);
        }
        logger.info(
          {
            dashboard: urls.dashboard,
            broker: urls.broker,
            store: s.target,
            bundle: bundles.status(),
            authRequired: openPorts.size === 0 ? 'everywhere' : 'off loopback',
          },
          'meshbridge serve listening',
        );
        return urls;
      },
      async close() {
        bundles.stop();
        if (httpServer !== undefined) {
          const srv = httpServer;
          srv.closeAllConnections();
          await new Promise<void>((resolve) => srv.close(() => resolve()));
        }
        await cleanup();
      },
    };
    return server;
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** The plain-HTTP listener: the whole app but the broker's routes, which want TLS. */
function plainHandler(app: FastifyInstance, brokerUrl: () => string) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (
      path.startsWith('/v1/') ||
      path === '/v1' ||
      path.startsWith('/oauth2/') ||
      path === '/openapi.json'
    ) {
      res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      res.end(
        JSON.stringify({
          error: {
            code: 'ROUTE_NOT_FOUND',
            message: `the credential broker answers over HTTPS with mTLS only: ${brokerUrl()}${path}`,
          },
        }),
      );
      return;
    }
    app.routing(req, res);
  };
}

function sendError(logger: Logger, err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  return replyWithError(err, req, reply, { logger, retryAfterSeconds: 5 });
}

function hostPart(host: string): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return h.includes(':') ? `[${h}]` : h;
}
