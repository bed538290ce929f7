/**
 * The OpenAPI 3.1 document of the broker, built from the routes' own schemas (the
 * same ones fastify validates and serializes with), so it cannot drift from the code.
 */

export interface RouteDoc {
  method: string;
  url: string;
  summary?: string;
  security?: 'svid' | 'none';
  schema: {
    params?: unknown;
    querystring?: unknown;
    body?: unknown;
    response?: Record<string | number, unknown>;
  };
  bodyContentTypes?: string[];
}

const STATUS_TEXT: Record<string, string> = {
  '200': 'OK',
  '400': 'Bad request',
  '401': 'No or invalid SVID',
  '403': 'Denied by policy',
  '404': 'Not found',
  '429': 'Rate limited (Retry-After)',
  '500': 'Internal error',
  '502': 'Backend error',
  '503': 'Backend or store unavailable (Retry-After)',
};

/** Plain JSON Schema: TypeBox's symbol keys and `$id`s dropped. */
function plain(schema: unknown): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema ?? {})) as Record<string, unknown>;
}

export function buildOpenApi(
  routes: readonly RouteDoc[],
  info: { title: string; version: string },
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const op: Record<string, unknown> = {};
    if (r.summary !== undefined) op.summary = r.summary;
    op.operationId = `${r.method.toLowerCase()}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`;
    const params = plain(r.schema.params);
    const props = (params.properties ?? {}) as Record<string, unknown>;
    const parameters = Object.entries(props).map(([name, schema]) => ({
      name,
      in: 'path',
      required: true,
      schema,
    }));
    if (parameters.length > 0) op.parameters = parameters;
    if (r.schema.body !== undefined) {
      const schema = plain(r.schema.body);
      const types = r.bodyContentTypes ?? ['application/json'];
      op.requestBody = {
        required:
          !types.includes('application/json') ||
          (schema.required as unknown[] | undefined)?.length !== undefined,
        content: Object.fromEntries(types.map((t) => [t, { schema }])),
      };
    }
    const responses: Record<string, unknown> = {};
    for (const [status, schema] of Object.entries(r.schema.response ?? {})) {
      const s = String(status);
      responses[s] = {
        description: STATUS_TEXT[s] ?? s,
        ...(s === '429' || s === '503'
          ? { headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'seconds' } } }
          : {}),
        content: { 'application/json': { schema: plain(schema) } },
      };
    }
    op.responses = responses;
    if (r.security === 'svid') op.security = [{ mutualTLS: [] }, { jwtSvid: [] }];
    if (r.security === 'none') op.security = [];
    paths[path] ??= {};
    paths[path][r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: info.title,
      version: info.version,
      description:
        'meshbridge credential broker: present an X.509-SVID (mTLS) or a JWT-SVID (bearer) and receive a short-lived secret under policy. Every decision is audited.',
    },
    components: {
      securitySchemes: {
        mutualTLS: {
          type: 'mutualTLS',
          description: 'X.509-SVID client certificate (SPIRE- or mesh-issued)',
        },
        jwtSvid: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT-SVID',
          description: 'audience: this broker',
        },
      },
    },
    security: [{ mutualTLS: [] }, { jwtSvid: [] }],
    paths,
  };
}
