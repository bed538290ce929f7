import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { EKU, type IssuedCertificate, type Issuer, issueCertificate, selfIssuer } from '../devca/issue.js';
import { type Clock, systemClock } from '../spiffe/errors.js';

const DAY = 86_400_000;

export interface DemoWorkload {
  namespace: string;
  serviceAccount: string;
  meshIdentity: string;
  /** Leaf then the plug-in CA, as istio-agent serves it over SDS. */
  chain: IssuedCertificate[];
  key: KeyObject;
}

export interface DemoIstioMesh {
  trustDomain: string;
  root: IssuedCertificate;
  rootKey: KeyObject;
  intermediate: IssuedCertificate;
  intermediateKey: KeyObject;
  workloads: DemoWorkload[];
}

export const DEMO_NAMESPACES: Record<string, string[]> = {
  shop: ['web', 'cart', 'orders'],
  payments: ['api', 'ledger'],
};

/**
 * An Istio mesh with a plug-in CA, shaped as istiod issues it: an offline root
 * (`O=Istio, CN=Root CA`), the `cacerts` signing cert (`CN=Istio CA`), and
 * workload leaves with an empty subject, a critical SAN holding
 * `spiffe://cluster.local/ns/<ns>/sa/<sa>`, and a non-critical key usage.
 */
export function generateIstioMesh(
  opts: { clock?: Clock; trustDomain?: string; namespaces?: Record<string, string[]> } = {},
): DemoIstioMesh {
  const now = (opts.clock ?? systemClock)();
  const trustDomain = opts.trustDomain ?? 'cluster.local';
  const rootPair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rootSubject = 'O=Istio,CN=Root CA';
  const root = issueCertificate(
    {
      subject: rootSubject,
      publicKey: rootPair.publicKey,
      notBefore: new Date(now.getTime() - DAY),
      notAfter: new Date(now.getTime() + 3650 * DAY),
      ca: true,
      keyUsage: ['keyCertSign', 'cRLSign'],
    },
    selfIssuer(rootSubject, rootPair.privateKey),
  );
  const interPair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const interSubject = 'O=Istio,CN=Istio CA';
  const intermediate = issueCertificate(
    {
      subject: interSubject,
      publicKey: interPair.publicKey,
      notBefore: new Date(now.getTime() - DAY),
      notAfter: new Date(now.getTime() + 365 * DAY),
      ca: true,
      pathLen: 0,
      keyUsage: ['digitalSignature', 'keyCertSign', 'cRLSign'],
      dnsNames: ['ca.istio.io'],
    },
    { subject: rootSubject, privateKey: rootPair.privateKey, publicKey: rootPair.publicKey },
  );
  const issuer: Issuer = {
    subject: interSubject,
    privateKey: interPair.privateKey,
    publicKey: interPair.publicKey,
  };
  const workloads: DemoWorkload[] = [];
  for (const [namespace, accounts] of Object.entries(opts.namespaces ?? DEMO_NAMESPACES)) {
    for (const serviceAccount of accounts) {
      const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const meshIdentity = `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
      const leaf = issueCertificate(
        {
          subject: '',
          publicKey: pair.publicKey,
          notBefore: new Date(now.getTime() - 120_000),
          notAfter: new Date(now.getTime() + DAY),
          keyUsage: ['digitalSignature', 'keyEncipherment'],
          keyUsageCritical: false,
          extKeyUsage: [EKU.serverAuth, EKU.clientAuth],
          uris: [meshIdentity],
        },
        issuer,
      );
      workloads.push({
        namespace,
        serviceAccount,
        meshIdentity,
        chain: [leaf, intermediate],
        key: pair.privateKey,
      });
    }
  }
  return {
    trustDomain,
    root,
    rootKey: rootPair.privateKey,
    intermediate,
    intermediateKey: interPair.privateKey,
    workloads,
  };
}
