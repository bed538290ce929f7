export { checkPath, checkSpiffeId, type IdCheck, RECOMMENDED_MAX_ID_LENGTH, SpiffeId } from './id.js';
export {
  type Matcher,
  matchAny,
  matchGlob,
  matchId,
  matchMemberOf,
  matchOneOf,
  matchPathPrefix,
  parseMatcher,
} from './match.js';
export { checkTrustDomainName, MAX_TRUST_DOMAIN_LENGTH, TrustDomain } from './trustdomain.js';
