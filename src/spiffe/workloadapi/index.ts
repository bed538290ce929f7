export {
  type AddressRejection,
  type EndpointAddress,
  parseEndpointAddress,
  resolveEndpointAddress,
  SPIFFE_ENDPOINT_SOCKET,
} from './address.js';
export { Backoff, type BackoffOptions, DEFAULT_BACKOFF } from './backoff.js';
export { JwtBundleSet } from './bundleset.js';
export {
  type CallOptions,
  type FetchJwtSvidParams,
  type Watcher,
  type WatchHandle,
  WorkloadApiClient,
  type WorkloadApiClientOptions,
} from './client.js';
export {
  filterHints,
  type JwtSvid,
  MAX_HINT_BYTES,
  parseJwtBundlesResponse,
  parseJwtSvidResponse,
  parseValidateJwtSvidResponse,
  parseX509BundlesResponse,
  parseX509SvidResponse,
  type ValidatedJwtSvid,
  type X509BundlesUpdate,
  type X509Context,
} from './parse.js';
export {
  type JsonValue,
  SECURITY_HEADER,
  SECURITY_HEADER_VALUE,
  WORKLOAD_API_SERVICE,
  workloadPackageDefinition,
  workloadProtoPath,
  workloadServiceDefinition,
} from './proto.js';
export {
  DEFAULT_READY_TIMEOUT_MS,
  JwtSource,
  type JwtSourceEvents,
  type SourceOptions,
  X509Source,
  type X509SourceEvents,
  type X509SourceOptions,
} from './source.js';
export { errorFromStatus, isRetryable } from './status.js';
