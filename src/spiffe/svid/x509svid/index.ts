export { VerificationCache } from './cache.js';
export {
  keyMatchesCertificate,
  parsePrivateKey,
  parseX509Svid,
  spiffeIdFromCertificate,
  validateSvidCertificates,
  type X509Svid,
} from './svid.js';
export {
  pickLeaf,
  type VerifyX509SvidOptions,
  validateX509Path,
  verifyX509Svid,
  type X509PathResult,
  type X509SvidVerification,
} from './verify.js';
