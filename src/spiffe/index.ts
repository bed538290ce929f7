// The SPIFFE kernel as a library: `import { verifyX509Svid } from 'meshbridge/spiffe'`.
export * from './bundle/index.js';
export { formatDuration, parseDuration } from './duration.js';
export {
  type Clock,
  CodedError,
  type CodedErrorOptions,
  type ErrorCategory,
  isCodedError,
  SpiffeError,
  systemClock,
  type Warning,
} from './errors.js';
export { decodePem, encodePem, looksLikePem, type PemBlock } from './pem/index.js';
export * from './spiffeid/index.js';
export * from './svid/jwtsvid/index.js';
export * from './svid/x509svid/index.js';
export {
  JwtSource,
  type JwtSvid,
  parseEndpointAddress,
  resolveEndpointAddress,
  SPIFFE_ENDPOINT_SOCKET,
  type Watcher,
  type WatchHandle,
  WorkloadApiClient,
  type WorkloadApiClientOptions,
  type X509Context,
  X509Source,
} from './workloadapi/index.js';
export {
  type Certificate,
  type KeyUsageFlag,
  parseCertificate,
  parseCertificates,
} from './x509/certificate.js';
export { verifySignature } from './x509/signature.js';
