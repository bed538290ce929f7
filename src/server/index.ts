/**
 * `meshbridge serve`: the fastify app that mounts the dashboard and its API, the
 * credential broker, the SPIFFE bundle endpoint, health and metrics (server.ts), and
 * its one config file (config.ts).
 */
export { accessGuard, tokenMatches } from './access.js';
export { type BundleStatus, StoreBundleSource } from './bundle-source.js';
export {
  type AdminToken,
  DEFAULT_CONFIG_FILE,
  DEFAULT_LISTEN,
  defaultServeConfig,
  ENV,
  isLoopbackHost,
  loadServeConfig,
  type ParseServeConfigOptions,
  parseListen,
  parseServeConfig,
  type ServeConfig,
  type ServeConfigDocument,
  ServeConfigSchema,
} from './config.js';
export { ServerError, type ServerErrorCode } from './errors.js';
export { createMetrics, instrumentBackends, type ServerMetrics } from './metrics.js';
export { createServer, type MeshbridgeServer, type ServerDeps, type ServerUrls } from './server.js';
