/**
 * The Vault double answers in the shapes Vault documents, so tests against it mean
 * something: raw HTTP here, no client library in between.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VaultDouble } from './vault-double.js';

describe('the Vault double speaks Vault-shaped HTTP', () => {
  let vault: VaultDouble;

  beforeAll(async () => {
    vault = await VaultDouble.start();
  });

  afterAll(async () => {
    await vault?.stop();
  });

  const call = async (
    method: string,
    path: string,
    body?: unknown,
    token: string | null = vault.rootToken,
  ) => {
    const headers: Record<string, string> = {};
    if (token !== null) headers['X-Vault-Token'] = token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(`${vault.url}/v1/${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
  };

  it('refuses a missing or unknown token with 403 permission denied', async () => {
    expect(await call('GET', 'secret/data/x', undefined, null)).toEqual({
      status: 403,
      body: { errors: ['permission denied'] },
    });
    expect((await call('GET', 'secret/data/x', undefined, 'hvs.nope')).status).toBe(403);
  });

  it('answers a missing KV path with 404 {"errors":[]}', async () => {
    expect(await call('GET', 'secret/data/missing')).toEqual({ status: 404, body: { errors: [] } });
  });

  it('writes KV v2 versions with check-and-set and reads them back with metadata', async () => {
    const w1 = await call('POST', 'secret/data/shape', { data: { a: '1' }, options: { cas: 0 } });
    expect(w1.status).toBe(200);
    expect(w1.body.data).toMatchObject({ version: 1, destroyed: false, deletion_time: '' });
    const bad = await call('POST', 'secret/data/shape', { data: { a: '2' }, options: { cas: 0 } });
    expect(bad).toEqual({
      status: 400,
      body: { errors: ['check-and-set parameter did not match the current version'] },
    });
    await call('POST', 'secret/data/shape', { data: { a: '2' }, options: { cas: 1 } });
    const r = await call('GET', 'secret/data/shape?version=1');
    expect(r.body.data.data).toEqual({ a: '1' });
    expect(r.body.data.metadata.version).toBe(1);
    const m = await call('GET', 'secret/metadata/shape');
    expect(m.body.data).toMatchObject({ current_version: 2, oldest_version: 1 });
    expect(Object.keys(m.body.data.versions)).toEqual(['1', '2']);
    expect(await call('DELETE', 'secret/data/shape')).toEqual({ status: 204, body: undefined });
    const gone = await call('GET', 'secret/data/shape');
    expect(gone.status).toBe(404);
    expect(gone.body.data.data).toBeNull();
  });

  it('creates tokens under auth/token/create and issues database creds with a lease', async () => {
    const t = await call('POST', 'auth/token/create', { policies: ['x'], ttl: '90s' });
    expect(t.body.auth).toMatchObject({ lease_duration: 90, policies: ['default', 'x'] });
    expect(t.body.auth.client_token).toMatch(/^hvs\./);
    const c = await call('GET', 'database/creds/orders');
    expect(c.body).toMatchObject({ renewable: true, lease_duration: 3600 });
    expect(c.body.lease_id).toMatch(/^database\/creds\/orders\//);
    expect(Object.keys(c.body.data).sort()).toEqual(['password', 'username']);
    expect(await call('PUT', 'sys/leases/revoke', { lease_id: c.body.lease_id })).toEqual({
      status: 204,
      body: undefined,
    });
  });

  it('reports sealed on sys/health with 503 and refuses requests while sealed', async () => {
    await vault.goDown('sealed');
    try {
      const h = await call('GET', 'sys/health', undefined, null);
      expect(h.status).toBe(503);
      expect(h.body).toMatchObject({ initialized: true, sealed: true });
      expect(await call('GET', 'secret/data/x')).toEqual({
        status: 503,
        body: { errors: ['Vault is sealed'] },
      });
    } finally {
      await vault.comeBack();
    }
    expect((await call('GET', 'sys/health', undefined, null)).status).toBe(200);
  });

  it('refuses connections while down and answers again on the same port', async () => {
    const url = vault.url;
    await vault.goDown('refuse');
    await expect(fetch(`${url}/v1/sys/health`)).rejects.toThrow();
    await vault.comeBack();
    expect(vault.url).toBe(url);
    expect((await fetch(`${url}/v1/sys/health`)).status).toBe(200);
  });
});
