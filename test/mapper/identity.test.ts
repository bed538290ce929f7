import { describe, expect, it } from 'vitest';
import { canonicalIdentity, parseMeshIdentity } from '../../src/mapper/identity.js';

describe('mesh identities', () => {
  it('reads an Istio SPIFFE ID and the same principal without spiffe:// as one identity', () => {
    const a = parseMeshIdentity('spiffe://cluster.local/ns/shop/sa/web');
    const b = parseMeshIdentity('cluster.local/ns/shop/sa/web');
    expect(a).toMatchObject({
      form: 'istio-spiffe',
      mesh: 'istio',
      trustDomain: 'cluster.local',
      namespace: 'shop',
      serviceAccount: 'web',
    });
    expect(b).toMatchObject({
      form: 'istio-principal',
      mesh: 'istio',
      namespace: 'shop',
      serviceAccount: 'web',
    });
    expect(a!.canonical).toBe(b!.canonical);
  });

  it('reads a Linkerd DNS identity into account, namespace, control plane and trust domain', () => {
    expect(parseMeshIdentity('web.shop.serviceaccount.identity.linkerd.cluster.local')).toMatchObject({
      form: 'linkerd-dns',
      mesh: 'linkerd',
      serviceAccount: 'web',
      namespace: 'shop',
      controlPlaneNamespace: 'linkerd',
      trustDomain: 'cluster.local',
    });
  });

  it('keeps dots of a service account name (a DNS subdomain) and splits at the namespace label', () => {
    expect(parseMeshIdentity('api.v2.shop.serviceaccount.identity.linkerd.example.org')).toMatchObject({
      serviceAccount: 'api.v2',
      namespace: 'shop',
      trustDomain: 'example.org',
    });
  });

  it('compares Linkerd identities case-insensitively (DNS)', () => {
    expect(canonicalIdentity('Web.Shop.serviceaccount.identity.linkerd.cluster.local')).toBe(
      'web.shop.serviceaccount.identity.linkerd.cluster.local',
    );
  });

  it('knows other SPIFFE IDs only as such, and nothing else', () => {
    expect(parseMeshIdentity('spiffe://example.org/payments/api')).toMatchObject({
      form: 'spiffe-other',
      mesh: null,
      namespace: null,
    });
    expect(parseMeshIdentity('web.shop.svc.cluster.local')).toBeNull();
    expect(parseMeshIdentity('')).toBeNull();
    expect(parseMeshIdentity('cluster.local/ns/shop')).toBeNull();
  });
});
