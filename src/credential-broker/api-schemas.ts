/**
 * Request and response schemas of every broker route. The response schemas also drive
 * fastify's serializer, so a field that is not declared here can never reach a reply.
 */
import { type Static, Type } from '@sinclair/typebox';
import { Duration, NAME_PATTERN, Purpose } from './policy/schema.js';

export const ErrorReply = Type.Object(
  {
    error: Type.Object({
      code: Type.String({
        description: 'stable error code, e.g. SVID_EXPIRED, POLICY_NO_RULE, BACKEND_UNAVAILABLE',
      }),
      message: Type.String(),
    }),
  },
  {
    description:
      'Every failure: 400, 401 (no or bad SVID), 403 (policy), 404, 429, 5xx (503 with Retry-After)',
  },
);
export type ErrorReplyBody = Static<typeof ErrorReply>;

export const errorReplies = {
  400: ErrorReply,
  401: ErrorReply,
  403: ErrorReply,
  404: ErrorReply,
  413: ErrorReply,
  429: ErrorReply,
  500: ErrorReply,
  502: ErrorReply,
  503: ErrorReply,
} as const;

export const CredentialParams = Type.Object({
  name: Type.String({ pattern: NAME_PATTERN, maxLength: 128, description: 'credential name in the policy' }),
});

export const IssueBody = Type.Object(
  {
    ttl: Type.Optional(Duration),
    purpose: Type.Optional(Purpose),
  },
  { additionalProperties: false },
);
export type IssueBodyType = Static<typeof IssueBody>;

export const IssueReply = Type.Object({
  name: Type.String(),
  leaseId: Type.String(),
  expiresAt: Type.String({ format: 'date-time' }),
  ttlSeconds: Type.Integer(),
  secret: Type.Record(Type.String(), Type.String(), {
    description: 'the credential fields (password, username, api_key, token, ...)',
  }),
});

export const Identity = Type.Object({
  spiffeId: Type.String(),
  method: Type.Union([Type.Literal('x509'), Type.Literal('jwt')]),
  issuer: Type.Object({ kind: Type.String(), fingerprint: Type.String(), label: Type.String() }),
  presented: Type.Optional(
    Type.String({ description: 'a Linkerd DNS identity the SPIFFE ID was mapped from' }),
  ),
});

export const ListReply = Type.Object({
  identity: Identity,
  policyVersion: Type.String(),
  credentials: Type.Array(
    Type.Object({
      name: Type.String(),
      description: Type.Optional(Type.String()),
      type: Type.String(),
      maxTtlSeconds: Type.Integer(),
      defaultTtlSeconds: Type.Integer(),
      purposes: Type.Optional(Type.Array(Type.String())),
      timeLimited: Type.Boolean(),
    }),
  ),
});

export const LeaseParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });

export const RevokeReply = Type.Object({
  leaseId: Type.String(),
  revokedAt: Type.String({ format: 'date-time' }),
  alreadyRevoked: Type.Boolean(),
});

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const TOKEN_TYPE_JWT = 'urn:ietf:params:oauth:token-type:jwt';
export const TOKEN_TYPE_ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
export const CREDENTIAL_RESOURCE_PREFIX = 'urn:meshbridge:credential:';

export const TokenRequest = Type.Object(
  {
    grant_type: Type.String({ description: TOKEN_EXCHANGE_GRANT }),
    subject_token: Type.String({ minLength: 1, description: 'a JWT-SVID whose audience names this broker' }),
    subject_token_type: Type.String({ description: TOKEN_TYPE_JWT }),
    actor_token: Type.Optional(
      Type.String({ minLength: 1, description: 'who the workload acts for (recorded)' }),
    ),
    actor_token_type: Type.Optional(Type.String()),
    audience: Type.Optional(Type.String({ description: 'the credential name' })),
    resource: Type.Optional(Type.String({ description: `${CREDENTIAL_RESOURCE_PREFIX}<name> or the name` })),
    requested_token_type: Type.Optional(Type.String()),
    scope: Type.Optional(Type.String()),
    ttl: Type.Optional(Duration),
    purpose: Type.Optional(Purpose),
  },
  { description: 'RFC 8693 token exchange, form-encoded or JSON' },
);
export type TokenRequestType = Static<typeof TokenRequest>;

export const TokenReply = Type.Object({
  access_token: Type.String(),
  issued_token_type: Type.String(),
  token_type: Type.String(),
  expires_in: Type.Integer(),
  lease_id: Type.String(),
});

export const OpenApiReply = Type.Object(
  {
    openapi: Type.String(),
    info: Type.Object({ title: Type.String(), version: Type.String() }, { additionalProperties: true }),
    paths: Type.Record(Type.String(), Type.Unknown()),
  },
  { additionalProperties: true, description: 'the OpenAPI 3.1 document of these routes' },
);
