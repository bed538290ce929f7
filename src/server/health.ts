/**
 * `/healthz` (the process answers) and `/readyz` (it can do its job: the store answers,
 * the bundle is composed, and, when configured, the broker has trust and a store).
 * Neither needs authentication: kubelet probes them.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { sql } from 'kysely';
import type { Store } from '../store/index.js';

export interface ReadinessCheck {
  name: string;
  ok: boolean;
  message?: string;
}

export interface HealthPluginOptions {
  store: Store;
  /** Extra checks (bundle loaded, broker ready). */
  checks: (() => Promise<ReadinessCheck> | ReadinessCheck)[];
}

const Check = Type.Object({ name: Type.String(), ok: Type.Boolean(), message: Type.Optional(Type.String()) });
const Ready = Type.Object({ ready: Type.Boolean(), checks: Type.Array(Check) });

export async function storeCheck(store: Store): Promise<ReadinessCheck> {
  try {
    await sql`SELECT 1`.execute(store.db);
    return { name: 'store', ok: true, message: store.target };
  } catch (err) {
    return { name: 'store', ok: false, message: (err as Error).message };
  }
}

export const healthPlugin: FastifyPluginAsync<HealthPluginOptions> = async (fastify, opts) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/healthz',
    {
      schema: {
        querystring: Type.Object({}),
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async (_req, reply) => {
      reply.header('cache-control', 'no-store');
      return { status: 'ok' as const };
    },
  );
  app.get(
    '/readyz',
    { schema: { querystring: Type.Object({}), response: { 200: Ready, 503: Ready } } },
    async (_req, reply) => {
      const checks = [await storeCheck(opts.store)];
      for (const c of opts.checks) {
        try {
          checks.push(await c());
        } catch (err) {
          checks.push({ name: 'check', ok: false, message: (err as Error).message });
        }
      }
      const ready = checks.every((c) => c.ok);
      reply.header('cache-control', 'no-store').code(ready ? 200 : 503);
      return { ready, checks };
    },
  );
};
