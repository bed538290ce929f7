/** Realistic Workload API payloads from the java-spiffe and rust-spiffe fixtures (DER, as the wire wants). */
import { decodePem } from '../../../src/spiffe/pem/index.js';
import { readFixture } from '../../helpers/fixtures.js';
import type { FakeX509Svid } from './fake-server.js';

/** `spiffe://example.org/workload-server`, EC leaf + its DER PKCS#8 key (java-spiffe workloadapi/). */
export const SVID_ID = 'spiffe://example.org/workload-server';
export const svidDer = readFixture('spiffe', 'java-spiffe', 'workloadapi', 'svid.der');
export const svidKeyDer = readFixture('spiffe', 'java-spiffe', 'workloadapi', 'svid.key.der');
/** A DER CA certificate standing in for the example.org bundle (rust-spiffe rustls/ca.der). */
export const ownBundleDer = readFixture('spiffe', 'rust-spiffe', 'rustls', 'ca.der');
/** java-spiffe federated-bundle.pem, converted to DER (java's fake sends the PEM; we do not). */
export const federatedBundlePem = readFixture('spiffe', 'java-spiffe', 'workloadapi', 'federated-bundle.pem');
export const federatedBundleDer = Buffer.from(decodePem(federatedBundlePem)[0]!.der);
/** java-spiffe workloadapi/bundle.json: JWKS with 3 EC keys (`use: jwt-svid`). */
export const javaJwks = readFixture('spiffe', 'java-spiffe', 'workloadapi', 'bundle.json');
/** go-spiffe jwtbundle/jwks_valid_1.json: 1 EC key, no `use` (N7, what SPIRE sends). */
export const jwksWithoutUse = readFixture('spiffe', 'go-spiffe', 'jwtbundle', 'jwks_valid_1.json');

export function workloadServerSvid(hint?: string): FakeX509Svid {
  return {
    spiffeId: SVID_ID,
    x509Svid: svidDer,
    x509SvidKey: svidKeyDer,
    bundle: ownBundleDer,
    ...(hint === undefined ? {} : { hint }),
  };
}

/** java-spiffe certs/leaf-{a..e}: self-signed leaves `spiffe://test/<x>`; each is its own bundle. */
export function leafSvid(name: 'a' | 'b' | 'c' | 'd' | 'e', hint?: string): FakeX509Svid {
  const cert = readFixture('spiffe', 'java-spiffe', 'certs', `leaf-${name}.crt.der`);
  return {
    spiffeId: `spiffe://test/${name}`,
    x509Svid: cert,
    x509SvidKey: readFixture('spiffe', 'java-spiffe', 'certs', `leaf-${name}.key.der`),
    bundle: cert,
    ...(hint === undefined ? {} : { hint }),
  };
}
