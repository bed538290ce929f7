/**
 * The broker over HTTPS: `brokerPlugin` (routes, error handler, OpenAPI) for any
 * fastify app (issue 9's `meshbridge serve` mounts it), and `createBrokerServer` for
 * `meshbridge broker serve`: TLS with the broker's serving certificate (swapped on
 * rotation), client certificates requested but not required at the TLS layer (JWT
 * callers need no certificate), the policy and trust reloaded atomically, the lease
 * sweeper running.
 *
 * Routes (every one with request and response schemas):
 *   POST   /v1/credentials/:name   {ttl?, purpose?} -> {name, leaseId, expiresAt, ttlSeconds, secret}
 *   GET    /v1/credentials         what the caller may obtain
 *   DELETE /v1/leases/:id          end a lease early (revoked downstream)
 *   POST   /oauth2/token           RFC 8693 token exchange, JWT-SVID subject token (+ actor token)
 *   GET    /openapi.json
 * Errors: {"error":{"code","message"}} with 400/401/403/404/429/5xx (+ Retry-After on 429/503).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import Fastify, {
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyReply,
  type FastifyRequest,
  type FastifySchemaCompiler,
  LogController,
} from 'fastify';
import type { DestinationStream, Logger } from 'pino';
import { parseDuration } from '../spiffe/duration.js';
import { type Clock, CodedError } from '../spiffe/errors.js';
import { SpiffeId } from '../spiffe/spiffeid/index.js';
import { JwtSource, X509Source } from '../spiffe/workloadapi/index.js';
import { openStore, type Store } from '../store/index.js';
import { VERSION } from '../version.js';
import {
  CREDENTIAL_RESOURCE_PREFIX,
  CredentialParams,
  errorReplies,
  IssueBody,
  IssueReply,
  LeaseParams,
  ListReply,
  OpenApiReply,
  RevokeReply,
  TOKEN_EXCHANGE_GRANT,
  TOKEN_TYPE_ACCESS,
  TOKEN_TYPE_JWT,
  TokenReply,
  TokenRequest,
} from './api-schemas.js';
import { createBrokerLogger } from './audit.js';
import { bearerToken, type Caller, type MeshIdentityMapper, templateMapper } from './auth/identity.js';
import { type TrustSource, TrustStore } from './auth/trust.js';
import { type CredentialBackend, createBackend } from './backends/index.js';
import { Broker, type BrokerOptions, type RequestContext } from './broker.js';
import { type BrokerConfig, backendCatalog } from './config.js';
import { BrokerError, httpStatusOf, unauthenticated } from './errors.js';
import { buildOpenApi, type RouteDoc } from './openapi.js';
import { PolicyHolder } from './policy/holder.js';
import { ServingIdentity } from './serving.js';
import { firstErrorPerPath } from './yaml.js';

export interface BrokerPluginOptions {
  broker: Broker;
}

/** The broker's routes as a fastify plugin (encapsulated: its error handler stays its own). */
export const brokerPlugin: FastifyPluginAsync<BrokerPluginOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const broker = opts.broker;
  const routes: RouteDoc[] = [];
  let openapi: Record<string, unknown> | undefined;

  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 64 * 1024 },
    (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(String(body))));
    },
  );

  app.setValidatorCompiler(strictValidator);
  app.setErrorHandler((err, req, reply) => sendError(broker, err, req, reply));
  app.setNotFoundHandler((req, reply) =>
    sendError(
      broker,
      new BrokerError('ROUTE_NOT_FOUND', `no route ${req.method} ${req.url}`, { status: 404 }),
      req,
      reply,
    ),
  );

  const ctxOf = (req: FastifyRequest): RequestContext => ({
    requestId: String(req.id),
    clientAddress: req.ip,
  });

  /** mTLS client certificate or bearer JWT-SVID; failures are audited and answered 401 (or 429). */
  const authenticate = async (
    req: FastifyRequest,
    action: 'issue' | 'list' | 'revoke',
    credential?: string,
  ): Promise<Caller> => {
    let caller: Caller | undefined;
    try {
      const token = bearerToken(req.headers.authorization);
      caller =
        token !== undefined
          ? broker.authenticateBearer(token)
          : broker.authenticateSocket(req.raw.socket as TLSSocket);
      if (caller === undefined) {
        throw unauthenticated(
          'UNAUTHENTICATED',
          'present an X.509-SVID as TLS client certificate, or a JWT-SVID as "Authorization: Bearer" token',
        );
      }
    } catch (err) {
      const e =
        err instanceof BrokerError ? err : unauthenticated('UNAUTHENTICATED', (err as Error).message, err);
      broker.checkRate(`addr:${req.ip}`);
      return broker.refuseAuthentication(e, action, ctxOf(req), credential);
    }
    broker.checkRate(caller.id.toString());
    return caller;
  };

  app.addHook('onRoute', (r) => {
    if (r.method === 'HEAD' || (r.config as { openapi?: boolean } | undefined)?.openapi === false) return;
    const doc = (r.config as { doc?: Partial<RouteDoc> } | undefined)?.doc;
    routes.push({
      method: String(r.method),
      url: r.url ?? r.path,
      schema: (r.schema ?? {}) as RouteDoc['schema'],
      ...doc,
    });
    openapi = undefined;
  });

  app.post(
    '/v1/credentials/:name',
    {
      schema: {
        params: CredentialParams,
        body: IssueBody,
        response: { 200: IssueReply, ...errorReplies },
      },
      config: { doc: { summary: 'Obtain a short-lived credential', security: 'svid' } },
    },
    async (req, reply) => {
      const name = req.params.name;
      const caller = await authenticate(req, 'issue', name);
      const body = req.body ?? {};
      const result = await broker.issue(
        caller,
        {
          credential: name,
          ...(body.ttl === undefined ? {} : { ttlSeconds: ttlOf(body.ttl) }),
          ...(body.purpose === undefined ? {} : { purpose: body.purpose }),
        },
        ctxOf(req),
      );
      void reply.header('cache-control', 'no-store');
      return {
        name: result.name,
        leaseId: result.leaseId,
        expiresAt: result.expiresAt.toISOString(),
        ttlSeconds: result.ttlSeconds,
        secret: result.secret,
      };
    },
  );

  app.get(
    '/v1/credentials',
    {
      schema: { response: { 200: ListReply, ...errorReplies } },
      config: { doc: { summary: 'What the caller may obtain', security: 'svid' } },
    },
    async (req) => {
      const caller = await authenticate(req, 'list');
      const list = await broker.list(caller, ctxOf(req));
      return {
        identity: identityOf(caller),
        policyVersion: list.policyVersion,
        credentials: list.credentials.map((c) => ({
          name: c.name,
          ...(c.description === undefined ? {} : { description: c.description }),
          type: c.type,
          maxTtlSeconds: c.maxTtlSeconds,
          defaultTtlSeconds: c.defaultTtlSeconds,
          ...(c.purposes === undefined ? {} : { purposes: c.purposes }),
          timeLimited: c.timeLimited,
        })),
      };
    },
  );

  app.delete(
    '/v1/leases/:id',
    {
      schema: { params: LeaseParams, response: { 200: RevokeReply, ...errorReplies } },
      config: { doc: { summary: 'End a lease now; the credential is revoked downstream', security: 'svid' } },
    },
    async (req) => {
      const caller = await authenticate(req, 'revoke');
      const r = await broker.revoke(caller, req.params.id, ctxOf(req));
      return { leaseId: r.leaseId, revokedAt: r.revokedAt.toISOString(), alreadyRevoked: r.alreadyRevoked };
    },
  );

  app.post(
    '/oauth2/token',
    {
      schema: { body: TokenRequest, response: { 200: TokenReply, ...errorReplies } },
      config: {
        doc: {
          summary: 'RFC 8693 token exchange: a JWT-SVID for a short-lived token credential',
          security: 'none',
          bodyContentTypes: ['application/x-www-form-urlencoded', 'application/json'],
        },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const ctx = ctxOf(req);
      const credential = credentialOfExchange(b.audience, b.resource);
      if (b.grant_type !== TOKEN_EXCHANGE_GRANT) {
        throw new BrokerError('TOKEN_EXCHANGE_UNSUPPORTED', `grant_type must be ${TOKEN_EXCHANGE_GRANT}`, {
          status: 400,
        });
      }
      if (b.subject_token_type !== TOKEN_TYPE_JWT) {
        throw new BrokerError(
          'TOKEN_EXCHANGE_UNSUPPORTED',
          `subject_token_type must be ${TOKEN_TYPE_JWT} (a JWT-SVID)`,
          { status: 400 },
        );
      }
      if (b.requested_token_type !== undefined && b.requested_token_type !== TOKEN_TYPE_ACCESS) {
        throw new BrokerError(
          'TOKEN_EXCHANGE_UNSUPPORTED',
          `requested_token_type must be ${TOKEN_TYPE_ACCESS}`,
          {
            status: 400,
          },
        );
      }
      if (credential === undefined) {
        throw new BrokerError(
          'REQUEST_INVALID',
          `name the credential in "audience" or as "resource" ${CREDENTIAL_RESOURCE_PREFIX}<name>`,
          { status: 400 },
        );
      }
      let caller: Caller;
      try {
        caller = broker.authenticateBearer(b.subject_token);
      } catch (err) {
        const e =
          err instanceof BrokerError ? err : unauthenticated('UNAUTHENTICATED', (err as Error).message, err);
        broker.checkRate(`addr:${req.ip}`);
        return broker.refuseAuthentication(e, 'exchange', ctx, credential);
      }
      broker.checkRate(caller.id.toString());
      const actor =
        b.actor_token === undefined
          ? undefined
          : broker.describeActor(b.actor_token, b.actor_token_type ?? TOKEN_TYPE_JWT);
      const result = await broker.issue(
        caller,
        {
          credential,
          action: 'exchange',
          ...(b.ttl === undefined ? {} : { ttlSeconds: ttlOf(b.ttl) }),
          ...(b.purpose === undefined ? {} : { purpose: b.purpose }),
          ...(actor === undefined ? {} : { actor }),
        },
        ctx,
      );
      const token = tokenOf(result.secret);
      if (token === undefined) {
        await broker.leases.revoke(result.leaseId, 'requested').catch(() => undefined);
        throw new BrokerError(
          'TOKEN_EXCHANGE_NOT_A_TOKEN',
          `credential "${credential}" is not a single token; fetch it from POST /v1/credentials/${credential}`,
          { status: 400 },
        );
      }
      void reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
      return {
        access_token: token,
        issued_token_type: TOKEN_TYPE_ACCESS,
        token_type: 'Bearer',
        expires_in: result.ttlSeconds,
        lease_id: result.leaseId,
      };
    },
  );

  app.get(
    '/openapi.json',
    { schema: { response: { 200: OpenApiReply } }, config: { openapi: false } },
    async () => {
      openapi ??= buildOpenApi(routes, { title: 'meshbridge credential broker', version: VERSION });
      return openapi as Static<typeof OpenApiReply>;
    },
  );
};

/**
 * TypeBox validation that refuses unknown fields instead of silently dropping them (a
 * typo like `tll` must not be ignored); an absent body is an empty object.
 */
const strictValidator: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = TypeCompiler.Compile(schema);
  return (value: unknown) => {
    const v = httpPart === 'body' ? (value ?? {}) : Value.Convert(schema, value);
    if (check.Check(v)) return { value: v };
    const error = firstErrorPerPath(check.Errors(v), 5).map((e) => ({
      message: e.message,
      instancePath: e.path,
      schemaPath: '',
      keyword: '',
      params: {},
    }));
    return { error: error as never };
  };
};

function identityOf(c: Caller) {
  return {
    spiffeId: c.id.toString(),
    method: c.method,
    issuer: { kind: c.issuer.kind, fingerprint: c.issuer.fingerprint, label: c.issuer.label },
    ...(c.presented === undefined ? {} : { presented: c.presented }),
  };
}

function ttlOf(v: string | number): number {
  return Math.max(1, Math.floor(parseDuration(v, 'ttl')));
}

function credentialOfExchange(audience?: string, resource?: string): string | undefined {
  if (audience !== undefined && audience !== '') return audience;
  if (resource === undefined || resource === '') return undefined;
  return resource.startsWith(CREDENTIAL_RESOURCE_PREFIX)
    ? resource.slice(CREDENTIAL_RESOURCE_PREFIX.length)
    : resource;
}

/** The field handed out as access token: `token`, `access_token`, `api_key`, or the only field. */
function tokenOf(secret: Record<string, string>): string | undefined {
  for (const f of ['token', 'access_token', 'api_key']) if (secret[f] !== undefined) return secret[f];
  const values = Object.values(secret);
  return values.length === 1 ? values[0] : undefined;
}

function sendError(broker: Broker, err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  return replyWithError(err, req, reply, {
    logger: broker.logger,
    retryAfterSeconds: broker.retryAfterSeconds,
  });
}

/**
 * The one way meshbridge's HTTP faces answer an error: `{"error":{code,message}}`
 * with the status of its category, Retry-After on 429/503, and no internals in the
 * reply (an unexpected error is logged with its stack and answered as INTERNAL).
 */
export function replyWithError(
  err: unknown,
  req: FastifyRequest,
  reply: FastifyReply,
  opts: { logger: Pick<Logger, 'error'>; retryAfterSeconds: number },
): FastifyReply {
  const e = err as Error & { validation?: unknown; code?: unknown };
  let status = httpStatusOf(err);
  let code: string;
  let message: string;
  if (e.validation !== undefined) {
    status = 400;
    code = 'REQUEST_INVALID';
    message = e.message;
  } else if (err instanceof CodedError) {
    code = err.code;
    message = err.message;
  } else if (status < 500) {
    // fastify's own refusals (malformed JSON, a body over the limit) carry FST_* codes:
    // internals of the framework, not codes a client should switch on.
    code =
      typeof e.code === 'string' && !e.code.startsWith('FST_')
        ? e.code
        : status === 413
          ? 'REQUEST_TOO_LARGE'
          : 'REQUEST_INVALID';
    message = e.message;
  } else {
    code = 'INTERNAL';
    message = 'internal error; the server logged the details';
    opts.logger.error({ err: { message: e.message, stack: e.stack }, requestId: req.id }, 'unhandled error');
  }
  const retryAfter =
    err instanceof BrokerError && err.retryAfter !== undefined
      ? err.retryAfter
      : status === 503 || status === 429
        ? opts.retryAfterSeconds
        : undefined;
  if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
  if (status === 401) void reply.header('www-authenticate', 'Bearer realm="meshbridge"');
  return reply.code(status).send({ error: { code, message } });
}

/**
 * How every listener of meshbridge (broker, `serve`'s dashboard) reports that it could
 * not open: LISTEN_FAILED with the address as configured, the system error as `cause`.
 */
export function listenFailed(err: unknown, host: string, port: number): BrokerError {
  const code = (err as { code?: unknown }).code;
  const why =
    code === 'EADDRINUSE'
      ? 'the address is already in use'
      : code === 'EACCES'
        ? 'permission denied (ports below 1024 need privileges)'
        : code === 'EADDRNOTAVAIL'
          ? 'no interface of this machine has that address'
          : (err as Error).message;
  const address = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new BrokerError('LISTEN_FAILED', `cannot listen on ${address}: ${why}`, { cause: err });
}

// ---------------------------------------------------------------- the standalone server

export interface BrokerServerDeps {
  /** Default: `openStore(config.store)` (closed with the server). */
  store?: Store;
  /** The current dual-trust bundle source; default: config `trust` files + Workload API. */
  trust?: TrustSource;
  /** Default: `createBackend` for each config entry (closed with the server). */
  backends?: ReadonlyMap<string, CredentialBackend>;
  /** The stored mapping's lookup for Linkerd identities; default from config `linkerd`. */
  mapper?: MeshIdentityMapper;
  logger?: Logger;
  /** Where log lines go when no logger is given (default stdout). */
  logDestination?: DestinationStream;
  clock?: Clock;
  instance?: string;
  /** Workload API sources to use instead of creating them from config. */
  x509Source?: X509Source;
  jwtSource?: JwtSource;
  env?: NodeJS.ProcessEnv;
  /** Metrics hook: every recorded decision (see BrokerOptions.onDecision). */
  onDecision?: BrokerOptions['onDecision'];
}

export type BrokerApp = FastifyInstance<HttpsServer, IncomingMessage, ServerResponse, Logger>;

export interface BrokerServer {
  app: BrokerApp;
  broker: Broker;
  serving: ServingIdentity;
  policy: PolicyHolder;
  /** `https://host:port` once listening. */
  url: string;
  listen(): Promise<string>;
  close(): Promise<void>;
}

/** The broker without its HTTP face: for a server that mounts `brokerPlugin` itself (`meshbridge serve`). */
export interface BrokerRuntime {
  broker: Broker;
  /** The broker's own serving certificate (files or Workload API), with an `update` event on rotation. */
  serving: ServingIdentity;
  policy: PolicyHolder;
  trust: TrustSource;
  logger: Logger;
  store: Store;
  /** Starts the expiry sweeper (when the config enables it). */
  startSweeper(): void;
  /** Stops the sweeper and the watchers, flushes writes, closes what was opened here. */
  close(): Promise<void>;
}

/**
 * Builds the broker from its config section: Workload API sources, serving identity,
 * trust (files and/or agent, or the injected dual-trust source), backends, policy,
 * store. Nothing listens yet.
 */
export async function createBrokerRuntime(
  config: BrokerConfig,
  deps: BrokerServerDeps = {},
): Promise<BrokerRuntime> {
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
  };
  try {
    const logger =
      deps.logger ??
      createBrokerLogger({
        level: config.logLevel,
        ...(deps.logDestination === undefined ? {} : { destination: deps.logDestination }),
      });
    const env = deps.env ?? process.env;
    // The last lines (closing, flushed writes) reach the destination before close resolves.
    if (deps.logger === undefined)
      cleanups.push(() => new Promise<void>((done) => logger.flush(() => done())));

    // Workload API (serving SVID and/or trust bundles)
    let x509Source = deps.x509Source;
    let jwtSource = deps.jwtSource;
    const wl = config.workloadApi;
    if (wl !== undefined) {
      const clientOpts = { ...(wl.address === undefined ? {} : { address: wl.address }), env };
      if (x509Source === undefined && (wl.servingCert || wl.trust)) {
        const s = await X509Source.create({ ...clientOpts, readyTimeoutMs: wl.readyTimeoutSeconds * 1000 });
        x509Source = s;
        cleanups.push(() => s.close());
      }
      if (jwtSource === undefined && wl.trust) {
        const s = await JwtSource.create({ ...clientOpts, readyTimeoutMs: wl.readyTimeoutSeconds * 1000 });
        jwtSource = s;
        cleanups.push(() => s.close());
      }
    }

    // Serving certificate
    let serving: ServingIdentity;
    if (config.tls !== undefined && wl?.servingCert !== true) {
      serving = ServingIdentity.fromFiles(config.tls.cert, config.tls.key);
      serving.watch(config.reloadIntervalSeconds * 1000);
    } else if (x509Source !== undefined) {
      serving = ServingIdentity.fromX509Source(x509Source);
    } else {
      throw new BrokerError('CONFIG_INVALID', 'no serving certificate: set tls or workloadApi.servingCert');
    }
    cleanups.push(() => serving.close());
    serving.on('reloadError', (err) =>
      logger.warn(
        { err: { message: err.message } },
        'serving certificate not reloaded; the previous one stays',
      ),
    );

    // Trust
    let trust: TrustSource;
    if (deps.trust !== undefined) trust = deps.trust;
    else {
      const store = new TrustStore(config.trust, config.baseDir, {
        ...(wl?.trust === true && x509Source !== undefined ? { x509: x509Source } : {}),
        ...(wl?.trust === true && jwtSource !== undefined ? { jwt: jwtSource } : {}),
        kinds: wl?.kinds ?? {},
      });
      store.watch(config.reloadIntervalSeconds * 1000);
      store.on('update', (s) =>
        logger.info({ trustVersion: s.version, trust: s.summary() }, 'trust bundles updated'),
      );
      store.on('reloadError', (err) =>
        logger.warn({ err: { message: err.message } }, 'trust bundles not reloaded; the previous ones stay'),
      );
      cleanups.push(() => store.close());
      trust = store;
    }

    // Backends
    let backends = deps.backends;
    if (backends === undefined) {
      const made = new Map<string, CredentialBackend>();
      for (const b of config.backends) {
        const backend = createBackend(b, { env, ...(deps.clock === undefined ? {} : { clock: deps.clock }) });
        made.set(backend.name, backend);
      }
      cleanups.push(async () => {
        for (const b of made.values()) await b.close().catch(() => undefined);
      });
      backends = made;
    }

    // Policy
    const policy = PolicyHolder.load(config.policy, { backends: backendCatalog(config) });
    policy.watch(config.reloadIntervalSeconds * 1000);
    cleanups.push(() => policy.unwatch());
    policy.on('reload', (p, prev) =>
      logger.info({ policyVersion: p.version, previous: prev.version }, 'policy reloaded'),
    );
    policy.on('reloadError', (err) =>
      logger.error({ err: { message: err.message } }, 'policy refused; the previous policy stays in force'),
    );

    // Store
    let store = deps.store;
    if (store === undefined) {
      const opened = await openStore(config.store, { env });
      store = opened;
      cleanups.push(() => opened.close());
    }

    const mapper = deps.mapper ?? mapperFromConfig(config);
    const broker = new Broker({
      store,
      policy,
      trust,
      backends,
      audience: () => {
        if (config.audience !== undefined) return config.audience;
        const id = serving.current().id;
        return id === undefined ? [] : [id.toString()];
      },
      ...(mapper === undefined ? {} : { mapper }),
      logger,
      ...(deps.clock === undefined ? {} : { clock: deps.clock }),
      ...(deps.instance === undefined ? {} : { instance: deps.instance }),
      rateLimit: config.rateLimit,
      retryAfterSeconds: config.retryAfterSeconds,
      strict: config.strict,
      claimTtlSeconds: config.sweeper.claimTtlSeconds,
      ...(deps.onDecision === undefined ? {} : { onDecision: deps.onDecision }),
    });
    cleanups.push(() => broker.close());

    return {
      broker,
      serving,
      policy,
      trust,
      logger,
      store,
      startSweeper() {
        if (config.sweeper.enabled) broker.leases.start(config.sweeper.intervalSeconds * 1000);
      },
      close: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/**
 * How meshbridge's fastify servers log: no per-request access lines (the audit line is
 * the log of every decision; access lines would double it) and request ids that are
 * unique across processes. Pair with {@link noRequestLoggers}.
 */
export function fastifyLogging(logger: Logger): {
  loggerInstance: Logger;
  logController: LogController;
  genReqId: () => string;
} {
  return {
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
  };
}

/**
 * No child logger per request: nothing logs through `req.log` (lines carry the request
 * id explicitly), and building a child re-runs the redaction of its bindings on every
 * request.
 */
export function noRequestLoggers<L>(app: { setChildLoggerFactory(f: (parent: L) => L): unknown }): void {
  app.setChildLoggerFactory((parent) => parent);
}

/** Builds everything `meshbridge broker serve` runs; `listen()` starts serving. */
export async function createBrokerServer(
  config: BrokerConfig,
  deps: BrokerServerDeps = {},
): Promise<BrokerServer> {
  const rt = await createBrokerRuntime(config, deps);
  const { broker, serving, policy, trust, logger, store } = rt;
  let app: BrokerApp | undefined;
  try {
    const served: BrokerApp = Fastify({
      ...fastifyLogging(logger),
      https: {
        ...serving.secureContextOptions(),
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
      },
    });
    app = served;
    noRequestLoggers(served);
    serving.on('update', (m) => {
      served.server.setSecureContext({ cert: m.certPem, key: m.keyPem, minVersion: 'TLSv1.2' });
      logger.info(
        { servingId: m.id?.toString(), notAfter: m.notAfter.toISOString() },
        'serving certificate swapped',
      );
    });
    await served.register(brokerPlugin, { broker });

    const server: BrokerServer = {
      app: served,
      broker,
      serving,
      policy,
      url: '',
      async listen() {
        const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
        const address = await served
          .listen({ host: config.listen.host, port: config.listen.port })
          .catch((err: unknown) => {
            throw listenFailed(err, config.listen.host, config.listen.port);
          });
        const port = (served.server.address() as { port: number }).port;
        server.url = `https://${host}:${port}`;
        rt.startSweeper();
        const trustNow = trust.current();
        logger.info(
          {
            url: server.url,
            address,
            servingId: serving.current().id?.toString(),
            audience: broker.audience(),
            policyVersion: policy.current().version,
            trustVersion: trustNow.version,
            trust: trustNow.summary(),
            store: store.target,
            instance: broker.instance,
          },
          'credential broker listening',
        );
        return server.url;
      },
      async close() {
        await served.close();
        await rt.close();
      },
    };
    return server;
  } catch (err) {
    await app?.close().catch(() => undefined);
    await rt.close();
    throw err;
  }
}

function mapperFromConfig(config: BrokerConfig): MeshIdentityMapper | undefined {
  const l = config.linkerd;
  if (l === undefined) return undefined;
  const fromTemplate = l.template === undefined ? undefined : templateMapper(l.template);
  return (meshIdentity) => {
    const explicit = l.mapping[meshIdentity];
    if (explicit !== undefined) return SpiffeId.parse(explicit);
    return fromTemplate?.(meshIdentity);
  };
}
