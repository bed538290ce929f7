export {
  checkAlgorithm,
  defaultAlgorithmFor,
  isJwtSvidAlgorithm,
  JWT_SVID_ALGORITHMS,
  type JwtSvidAlgorithm,
  MIN_RSA_BITS,
} from './algorithms.js';
export { DEFAULT_JWT_SVID_TTL_SECONDS, type SignJwtSvidOptions, signJwtSvid } from './sign.js';
export {
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  type InsecureJwtSvid,
  type JwtSvidClaims,
  type JwtSvidHeader,
  parseInsecure,
  type VerifiedJwtSvid,
  type VerifyJwtSvidOptions,
  verifyJwtSvid,
} from './verify.js';
