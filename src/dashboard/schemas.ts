/**
 * Response schemas of the dashboard's JSON API (`/api/v1/...`). They mirror
 * `model.ts`; fastify serializes through them, so a field that is not declared here
 * never leaves the server.
 */
import { type TSchema, Type } from '@sinclair/typebox';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Decision = Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('error')]);

export const BlockerSchema = Type.Object({
  code: Type.String(),
  message: Type.String(),
  check: Type.Optional(Type.String()),
  count: Type.Optional(Type.Integer()),
  examples: Type.Optional(Type.Array(Type.String())),
});

export const ScopeSchema = Type.Object({
  scope: Type.String(),
  level: Type.Union([Type.Literal('mesh'), Type.Literal('cluster'), Type.Literal('namespace')]),
  parent: Nullable(Type.String()),
  phase: Type.String(),
  workloads: Type.Integer(),
  onSpire: Type.Integer(),
  onMesh: Type.Integer(),
  other: Type.Integer(),
  spireShare: Type.Number(),
  next: Nullable(
    Type.Object({
      phase: Type.String(),
      ready: Type.Boolean(),
      blockers: Type.Array(BlockerSchema),
    }),
  ),
  updatedAt: Type.String(),
  updatedBy: Nullable(Type.String()),
});

export const TimelineSchema = Type.Object({
  now: Type.String(),
  overlapSeconds: Type.Number(),
  items: Type.Array(
    Type.Object({
      kind: Type.Union(
        ['mesh-root', 'mesh-issuer', 'spire-root', 'federated-root', 'overlap'].map((k) => Type.Literal(k)),
      ),
      label: Type.String(),
      id: Type.String(),
      start: Type.String(),
      end: Type.String(),
      secondsLeft: Type.Number(),
      status: Type.Union(['ok', 'expiring', 'expired', 'planned', 'running'].map((k) => Type.Literal(k))),
      trustDomain: Nullable(Type.String()),
      mesh: Nullable(Type.String()),
    }),
  ),
});

export const StaticKeysSchema = Type.Object({
  total: Type.Integer(),
  states: Type.Array(Type.Object({ state: Type.String(), count: Type.Integer() })),
  ready: Type.Array(Type.String()),
  interrupted: Type.Array(Type.String()),
  blockers: Type.Array(
    Type.Object({
      key: Type.String(),
      owner: Type.String(),
      state: Type.String(),
      next: Type.String(),
      code: Type.String(),
      message: Type.String(),
    }),
  ),
});

export const BrokerSchema = Type.Object({
  configured: Type.Boolean(),
  since: Type.String(),
  bucketSeconds: Type.Integer(),
  buckets: Type.Array(
    Type.Object({
      start: Type.String(),
      issued: Type.Integer(),
      denied: Type.Integer(),
      errors: Type.Integer(),
    }),
  ),
  totals: Type.Object({ allow: Type.Integer(), deny: Type.Integer(), error: Type.Integer() }),
  byCredential: Type.Array(
    Type.Object({
      credential: Type.String(),
      allow: Type.Integer(),
      deny: Type.Integer(),
      error: Type.Integer(),
    }),
  ),
  byReason: Type.Array(Type.Object({ code: Type.String(), decision: Decision, count: Type.Integer() })),
  requests: Type.Array(
    Type.Object({
      credential: Type.String(),
      decision: Decision,
      code: Type.String(),
      count: Type.Integer(),
    }),
  ),
  leases: Type.Array(
    Type.Object({
      credential: Type.String(),
      active: Type.Integer(),
      expired: Type.Integer(),
      revoked: Type.Integer(),
    }),
  ),
});

export const HistorySchema = Type.Array(
  Type.Object({
    scope: Type.String(),
    from: Type.String(),
    to: Type.String(),
    kind: Type.Union([Type.Literal('advance'), Type.Literal('rollback')]),
    at: Type.String(),
    by: Type.String(),
    reason: Nullable(Type.String()),
    evidence: Nullable(Type.String()),
    via: Nullable(Type.String()),
  }),
);

export const SummarySchema = Type.Object({
  scopes: Type.Integer(),
  workloads: Type.Integer(),
  onSpire: Type.Integer(),
  spireShare: Type.Number(),
  phases: Type.Array(Type.Object({ phase: Type.String(), scopes: Type.Integer() })),
  nextExpiry: Nullable(Type.Object({ label: Type.String(), at: Type.String() })),
});

export const OverviewSchema = Type.Object({
  generatedAt: Type.String(),
  digest: Type.String(),
  summary: SummarySchema,
  scopes: Type.Array(ScopeSchema),
  timeline: TimelineSchema,
  staticKeys: StaticKeysSchema,
  broker: BrokerSchema,
  history: HistorySchema,
});

export const ScopesReply = Type.Object({ generatedAt: Type.String(), scopes: Type.Array(ScopeSchema) });
export const TimelineReply = Type.Object({ generatedAt: Type.String(), timeline: TimelineSchema });
export const StaticKeysReply = Type.Object({ generatedAt: Type.String(), staticKeys: StaticKeysSchema });
export const BrokerReply = Type.Object({ generatedAt: Type.String(), broker: BrokerSchema });
export const HistoryReply = Type.Object({ generatedAt: Type.String(), transitions: HistorySchema });

export const ErrorReply = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }),
});

/** `?scope=` narrows the scope list to a scope and everything inside it. */
export const ScopeQuery = Type.Object(
  { scope: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })) },
  { additionalProperties: false },
);
export const NoQuery = Type.Object({}, { additionalProperties: false });
