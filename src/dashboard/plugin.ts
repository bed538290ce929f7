/**
 * The dashboard as a fastify plugin: the page (`GET /`), its script, and its JSON API
 * (`GET /api/v1/overview|scopes|timeline|static-keys|broker|history`). Everything is
 * read-only (GET only) and goes through `guard` (the server's access check) first.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { CLIENT_SCRIPT } from './client.js';
import type { DashboardData } from './model.js';
import { renderPage } from './render.js';
import {
  BrokerReply,
  ErrorReply,
  HistoryReply,
  OverviewSchema,
  ScopeQuery,
  ScopesReply,
  StaticKeysReply,
  TimelineReply,
} from './schemas.js';

export interface DashboardPluginOptions {
  /** The current data (the server caches it briefly so page, API and metrics agree). */
  load: () => Promise<DashboardData>;
  title: string;
  refreshSeconds: number;
  /** Runs before every route: throws (or replies) when the caller may not look. */
  guard?: (req: FastifyRequest, reply: FastifyReply) => Promise<void> | void;
}

export const API_PREFIX = '/api/v1';
const SCRIPT_PATH = '/assets/dashboard.js';

const errors = { 401: ErrorReply, 403: ErrorReply, 503: ErrorReply };

export const dashboardPlugin: FastifyPluginAsync<DashboardPluginOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  if (opts.guard !== undefined) {
    const guard = opts.guard;
    app.addHook('onRequest', async (req, reply) => {
      await guard(req, reply);
    });
  }
  const security = (reply: FastifyReply) =>
    reply
      .header('cache-control', 'no-store')
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY');

  app.get(
    '/',
    { schema: { querystring: Type.Object({}), response: { 200: Type.String(), ...errors } } },
    async (_req, reply) => {
      const data = await opts.load();
      security(reply)
        .header(
          'content-security-policy',
          "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        )
        .type('text/html; charset=utf-8');
      return renderPage(data, {
        title: opts.title,
        refreshSeconds: opts.refreshSeconds,
        apiPath: `${API_PREFIX}/overview`,
        scriptPath: SCRIPT_PATH,
        pagePath: '/',
      });
    },
  );

  app.get(
    SCRIPT_PATH,
    { schema: { querystring: Type.Object({}), response: { 200: Type.String(), ...errors } } },
    async (_req, reply) => {
      reply
        .header('cache-control', 'no-cache')
        .header('x-content-type-options', 'nosniff')
        .type('text/javascript; charset=utf-8');
      return CLIENT_SCRIPT;
    },
  );

  app.get(
    `${API_PREFIX}/overview`,
    { schema: { querystring: Type.Object({}), response: { 200: OverviewSchema, ...errors } } },
    async (_req, reply) => {
      security(reply);
      return opts.load();
    },
  );

  app.get(
    `${API_PREFIX}/scopes`,
    { schema: { querystring: ScopeQuery, response: { 200: ScopesReply, ...errors, 404: ErrorReply } } },
    async (req, reply) => {
      security(reply);
      const d = await opts.load();
      const want = req.query.scope;
      const scopes =
        want === undefined
          ? d.scopes
          : d.scopes.filter((s) => s.scope === want || s.scope.startsWith(`${want}/`));
      if (want !== undefined && scopes.length === 0) {
        return reply.code(404).send({
          error: {
            code: 'SCOPE_NOT_FOUND',
            message: `no scope ${want}; GET ${API_PREFIX}/scopes lists them`,
          },
        });
      }
      return { generatedAt: d.generatedAt, scopes };
    },
  );

  app.get(
    `${API_PREFIX}/timeline`,
    { schema: { querystring: Type.Object({}), response: { 200: TimelineReply, ...errors } } },
    async (_req, reply) => {
      security(reply);
      const d = await opts.load();
      return { generatedAt: d.generatedAt, timeline: d.timeline };
    },
  );

  app.get(
    `${API_PREFIX}/static-keys`,
    { schema: { querystring: Type.Object({}), response: { 200: StaticKeysReply, ...errors } } },
    async (_req, reply) => {
      security(reply);
      const d = await opts.load();
      return { generatedAt: d.generatedAt, staticKeys: d.staticKeys };
    },
  );

  app.get(
    `${API_PREFIX}/broker`,
    { schema: { querystring: Type.Object({}), response: { 200: BrokerReply, ...errors } } },
    async (_req, reply) => {
      security(reply);
      const d = await opts.load();
      return { generatedAt: d.generatedAt, broker: d.broker };
    },
  );

  app.get(
    `${API_PREFIX}/history`,
    { schema: { querystring: Type.Object({}), response: { 200: HistoryReply, ...errors } } },
    async (_req, reply) => {
      security(reply);
      const d = await opts.load();
      return { generatedAt: d.generatedAt, transitions: d.history };
    },
  );
};
