import { createSecretKey } from 'node:crypto';
import { createDevCa, mintX509Svid } from '../devca/index.js';
import { JwtBundle } from '../spiffe/bundle/jwtbundle.js';
import { X509Bundle } from '../spiffe/bundle/x509bundle.js';
import { type Clock, CodedError, systemClock } from '../spiffe/errors.js';
import { SpiffeId, TrustDomain } from '../spiffe/spiffeid/index.js';
import { signJwtSvid, verifyJwtSvid } from '../spiffe/svid/jwtsvid/index.js';
import { VerificationCache, verifyX509Svid } from '../spiffe/svid/x509svid/index.js';
import { parseCertificate } from '../spiffe/x509/certificate.js';
import { generateIstioMesh } from './mesh.js';

export interface TourVerdict {
  subject: string;
  presented: string;
  against: string;
  valid: boolean;
  /** SPIFFE ID on success, error code on failure. */
  detail: string;
  warnings: string[];
}

/**
 * The kernel's verdicts on a generated Istio mesh and a SPIRE-like trust domain:
 * what a migration meets on day one (mesh certs that bend the spec, SVIDs from the
 * new CA, tokens that must be refused).
 */
export function kernelTour(opts: { clock?: Clock } = {}): TourVerdict[] {
  const clock = opts.clock ?? systemClock;
  const mesh = generateIstioMesh({ clock });
  const meshTd = TrustDomain.parse(mesh.trustDomain);
  const meshBundle = new X509Bundle(meshTd, [parseCertificate(mesh.root.der)]);
  const spireTd = TrustDomain.parse('prod.example.org');
  const spire = createDevCa(spireTd, { clock });
  const spireBundle = new X509Bundle(spireTd, [parseCertificate(spire.root.der)]);
  const cache = new VerificationCache();
  const out: TourVerdict[] = [];

  const x509 = (
    subject: string,
    presented: string,
    ders: Uint8Array[],
    bundle: X509Bundle,
    against: string,
    at?: Date,
  ) => {
    try {
      const v = verifyX509Svid(
        ders.map((d) => parseCertificate(d)),
        {
          getX509BundleForTrustDomain: (td) => {
            if (!td.equals(bundle.trustDomain))
              throw new CodedError('TRUST_DOMAIN_MISMATCH', 'verdict', `no bundle for ${td}`);
            return bundle;
          },
        },
        { clock: at ? () => at : clock, cache },
      );
      out.push({
        subject,
        presented,
        against,
        valid: true,
        detail: v.id.toString(),
        warnings: v.warnings.map((w) => `R${w.rule} ${w.code}`),
      });
    } catch (err) {
      if (!(err instanceof CodedError)) throw err;
      out.push({ subject, presented, against, valid: false, detail: err.code, warnings: [] });
    }
  };

  for (const w of mesh.workloads.slice(0, 3)) {
    x509(
      w.meshIdentity,
      'Istio workload cert',
      w.chain.map((c) => c.der),
      meshBundle,
      'mesh root',
    );
  }
  const web = mintX509Svid(spire, SpiffeId.parse('spiffe://prod.example.org/ns/shop/sa/web'), { clock });
  x509(
    web.id.toString(),
    'SPIRE X.509-SVID',
    web.chain.map((c) => c.der),
    spireBundle,
    'SPIRE root',
  );
  x509(
    web.id.toString(),
    'SPIRE X.509-SVID',
    web.chain.map((c) => c.der),
    meshBundle,
    'mesh root only',
  );
  const later = new Date(clock().getTime() + 2 * 86_400_000);
  x509(
    mesh.workloads[0]!.meshIdentity,
    'Istio cert, 2 days later',
    mesh.workloads[0]!.chain.map((c) => c.der),
    meshBundle,
    'mesh root',
    later,
  );
  x509(spireTd.idString(), 'CA cert as a leaf', [spire.root.der], spireBundle, 'SPIRE root');

  const jwtBundle = new JwtBundle(spireTd);
  jwtBundle.addAuthority(spire.jwtKid, spire.jwtKey);
  const jwt = (subject: string, presented: string, token: string) => {
    try {
      const v = verifyJwtSvid(token, jwtBundle, { audience: 'meshbridge-broker', clock });
      out.push({
        subject,
        presented,
        against: 'SPIRE JWT keys',
        valid: true,
        detail: v.id.toString(),
        warnings: [],
      });
    } catch (err) {
      if (!(err instanceof CodedError)) throw err;
      out.push({
        subject,
        presented,
        against: 'SPIRE JWT keys',
        valid: false,
        detail: err.code,
        warnings: [],
      });
    }
  };
  const sign = (audience: string) =>
    signJwtSvid({ id: web.id, audience, key: spire.jwtKey, kid: spire.jwtKid, clock });
  jwt(web.id.toString(), 'JWT-SVID', sign('meshbridge-broker'));
  jwt(web.id.toString(), 'JWT-SVID, wrong audience', sign('someone-else'));
  jwt(web.id.toString(), 'HS256 token', hs256(web.id.toString()));
  return out;
}

function hs256(sub: string): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, aud: 'meshbridge-broker', exp: 9_999_999_999 })}`;
  const key = createSecretKey(Buffer.from('not-a-spiffe-key'));
  return `${head}.${Buffer.from(key.export()).toString('base64url')}`;
}
