/**
 * Problems grouped into named checks, the way `linkerd check` reads: each check passes
 * (✓), fails (×) or warns (‼) and carries a hint. Data only; the CLI renders it.
 */
import type { ProblemCode, ProblemJson } from './inventory.js';

export interface CheckDefinition {
  name: string;
  codes: readonly ProblemCode[];
  /** `warn`: a failure of this check does not make the verdict negative. */
  severity: 'fail' | 'warn';
  hint: string;
}

export const CHECKS: readonly CheckDefinition[] = [
  {
    name: 'PEM blocks are readable',
    codes: ['CORRUPT_PEM_BLOCK'],
    severity: 'fail',
    hint: 'export the object again (kubectl get secret -o yaml) and check the file is complete',
  },
  {
    name: 'certificates are within their validity period',
    codes: ['CERT_EXPIRED', 'CERT_NOT_YET_VALID'],
    severity: 'fail',
    hint: 'rotate expired CAs and restart the workloads that hold expired leaves; check clocks for not-yet-valid ones',
  },
  {
    name: 'no certificate expires soon',
    codes: ['CERT_EXPIRING_SOON'],
    severity: 'warn',
    hint: 'rotate CAs within 30 days of expiry; a leaf in the last 20% of its life means its proxy is not renewing it',
  },
  {
    name: 'every certificate chains to a known trust anchor',
    codes: ['CHAIN_NO_ANCHOR', 'SIGNATURE_ALGORITHM_UNSUPPORTED'],
    severity: 'fail',
    hint: 'import the mesh trust bundle (istio-ca-root-cert, linkerd-identity-trust-roots) with the certificates; an issuer not signed by the anchors breaks every workload it signs',
  },
  {
    name: 'CA certificates are allowed to sign certificates',
    codes: ['CA_WITHOUT_KEY_CERT_SIGN', 'CA_V1_WITHOUT_EXTENSIONS', 'ANCHOR_NOT_CA'],
    severity: 'fail',
    hint: 'reissue CAs as X.509 v3 with basicConstraints cA=TRUE and keyUsage keyCertSign',
  },
  {
    name: 'trust anchors and issuers are unambiguous',
    codes: ['DUPLICATE_ROOT', 'SAME_SUBJECT_DIFFERENT_KEY'],
    severity: 'fail',
    hint: 'give every CA a distinct subject and keep one anchor per key; name-based verifiers pick the wrong one',
  },
  {
    name: 'keys are strong enough',
    codes: ['WEAK_KEY'],
    severity: 'fail',
    hint: 'use RSA 2048+ or ECDSA P-256+',
  },
  {
    name: 'workload identities are SPIFFE IDs',
    codes: ['NON_SPIFFE_URI_SAN', 'MULTIPLE_URI_SANS'],
    severity: 'fail',
    hint: 'an X.509-SVID carries exactly one URI SAN, a spiffe:// ID; other URIs map to no identity',
  },
  {
    name: 'private keys match their certificates',
    codes: ['KEY_CERT_MISMATCH'],
    severity: 'fail',
    hint: 'the key and certificate of a CA Secret must be a pair; re-create the Secret from matching files',
  },
];

export interface CheckResult {
  name: string;
  status: 'pass' | 'fail' | 'warn';
  hint: string;
  problems: ProblemJson[];
}

export function runChecks(problems: ProblemJson[]): CheckResult[] {
  return CHECKS.map((c) => {
    const mine = problems.filter((p) => (c.codes as readonly string[]).includes(p.code));
    return {
      name: c.name,
      status: mine.length === 0 ? 'pass' : c.severity,
      hint: c.hint,
      problems: mine,
    };
  });
}

/** True when no check failed (warnings allowed). */
export function checksPassed(results: CheckResult[]): boolean {
  return results.every((r) => r.status !== 'fail');
}
