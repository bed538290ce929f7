export {
  createDevCa,
  type DevCa,
  devCaIssuer,
  jwtPublicJwk,
  kidFor,
  type MintedSvid,
  mintX509Svid,
} from './devca.js';
export { DEVCA_FILES, loadDevCa, loadOrCreateDevCa, writeFileAtomic, writeSvidFiles } from './files.js';
export {
  type CertificateTemplate,
  EKU,
  type IssuedCertificate,
  type Issuer,
  issueCertificate,
  type KeyUsageName,
  keyIdentifier,
  selfIssuer,
  toPem,
} from './issue.js';
