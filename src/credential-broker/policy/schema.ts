/**
 * The policy file, as a security team reads and writes it (YAML or JSON):
 *
 *   version: "2026-03-01"            # optional label, shown beside the content hash
 *   defaults: { ttl: 5m, maxTtl: 1h }
 *   credentials:
 *     orders-db:
 *       backend: ephemeral          # a backend named in the broker config
 *       spec: { type: ephemeral, kind: password, username: orders }
 *       ttl: 5m                     # when the request names none
 *       maxTtl: 15m                 # cap for everyone
 *   rules:                          # default deny: only these give anything
 *     - name: web-reads-orders
 *       subjects: [spiffe://example.org/ns/shop/sa/web]   # exact, glob (*, **) or a trust domain
 *       credentials: [orders-db]
 *       maxTtl: 10m                 # optional cap of this rule
 *       issuer: spire               # optional: spire | mesh | federated | any, or a list
 *       purposes: [serve]           # optional: the request must declare one of these
 *       windows: [{ days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00", timeZone: Europe/Berlin }]
 *       notBefore: 2026-03-01T00:00:00Z   # optional validity of the rule itself
 *       notAfter: 2026-06-30T00:00:00Z
 */
import { type Static, Type } from '@sinclair/typebox';

export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$';
export const Name = Type.String({ minLength: 1, maxLength: 128, pattern: NAME_PATTERN });

/** `300`, `300s`, `5m`, `1h30m`, `2d`. */
export const DURATION_PATTERN = '^(\\d+(\\.\\d+)?|(\\d+(\\.\\d+)?(ms|s|m|h|d|w))+)$';
export const Duration = Type.Union([
  Type.Integer({ minimum: 1 }),
  Type.String({ pattern: DURATION_PATTERN, description: 'a duration: 300, 300s, 5m, 1h30m' }),
]);

export const PURPOSE_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$';
export const Purpose = Type.String({ pattern: PURPOSE_PATTERN });

const SubjectMatcher = Type.String({
  minLength: 10,
  maxLength: 2048,
  pattern: '^spiffe://',
  description: 'spiffe://td (any member), spiffe://td/exact/path, or a glob with * and **',
});

export const IssuerRequirement = Type.Union([
  Type.Literal('any'),
  Type.Literal('spire'),
  Type.Literal('mesh'),
  Type.Literal('federated'),
  Type.Array(Type.Union([Type.Literal('spire'), Type.Literal('mesh'), Type.Literal('federated')]), {
    minItems: 1,
  }),
]);

export const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Day = (typeof DAYS)[number];

const HHMM = '^([01]\\d|2[0-3]):[0-5]\\d$|^24:00$';

export const WindowSchema = Type.Object(
  {
    /** Days on which the window opens (default every day). */
    days: Type.Optional(Type.Array(Type.Union(DAYS.map((d) => Type.Literal(d))), { minItems: 1 })),
    /** `HH:MM`, default 00:00. A `from` later than `to` spans midnight. */
    from: Type.Optional(Type.String({ pattern: HHMM })),
    /** `HH:MM`, default 24:00 (exclusive). */
    to: Type.Optional(Type.String({ pattern: HHMM })),
    /** IANA zone, default UTC. */
    timeZone: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

const Instant = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:\\d{2})$',
  description: 'RFC 3339 time, e.g. 2026-06-30T00:00:00Z',
});

export const RuleSchema = Type.Object(
  {
    name: Name,
    description: Type.Optional(Type.String()),
    subjects: Type.Array(SubjectMatcher, { minItems: 1 }),
    credentials: Type.Array(Name, { minItems: 1 }),
    maxTtl: Type.Optional(Duration),
    issuer: Type.Optional(IssuerRequirement),
    purposes: Type.Optional(Type.Array(Purpose, { minItems: 1 })),
    windows: Type.Optional(Type.Array(WindowSchema, { minItems: 1 })),
    notBefore: Type.Optional(Instant),
    notAfter: Type.Optional(Instant),
  },
  { additionalProperties: false },
);

export const CredentialSchema = Type.Object(
  {
    description: Type.Optional(Type.String()),
    /** A backend name from the broker config; default: the only backend of `spec.type`. */
    backend: Type.Optional(Name),
    /** What to ask the backend for (checked against the backend's credential spec schema). */
    spec: Type.Object({ type: Type.String({ minLength: 1 }) }, { additionalProperties: true }),
    ttl: Type.Optional(Duration),
    maxTtl: Type.Optional(Duration),
  },
  { additionalProperties: false },
);

export const PolicySchema = Type.Object(
  {
    version: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Number()])),
    defaults: Type.Optional(
      Type.Object(
        { ttl: Type.Optional(Duration), maxTtl: Type.Optional(Duration) },
        { additionalProperties: false },
      ),
    ),
    credentials: Type.Record(Type.String({ pattern: NAME_PATTERN, maxLength: 128 }), CredentialSchema, {
      additionalProperties: false,
    }),
    rules: Type.Array(RuleSchema),
  },
  { additionalProperties: false },
);

export type PolicyDocument = Static<typeof PolicySchema>;
export type RuleDocument = Static<typeof RuleSchema>;
export type CredentialDocument = Static<typeof CredentialSchema>;
export type WindowDocument = Static<typeof WindowSchema>;
