/**
 * Requests the HTTP layer refuses before the broker sees them (malformed JSON, a body
 * over the limit, fields missing) answer `{"error":{code,message}}` with meshbridge's
 * own stable codes, never the framework's internal ones, one problem per field.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from './helpers/broker.js';
import { call, spireSvid } from './helpers/world.js';

let b: TestBroker;
beforeAll(async () => {
  b = await startBroker();
});
afterAll(async () => {
  await b?.close();
});

describe('a malformed request', () => {
  const path = '/v1/credentials/orders-db';
  const web = () => spireSvid(b.pki, 'spiffe://example.org/ns/shop/sa/web');

  it('with a body that is not JSON: 400 REQUEST_INVALID', async () => {
    const r = await call(b.url, { path, raw: '{bad', client: web() });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({
      error: { code: 'REQUEST_INVALID', message: expect.stringMatching(/not valid JSON/) },
    });
  });

  it('with a body over the limit: 413 REQUEST_TOO_LARGE', async () => {
    const r = await call(b.url, { path, raw: `{"purpose":"${'a'.repeat(2_000_000)}"}`, client: web() });
    expect(r.status).toBe(413);
    expect(r.json).toMatchObject({ error: { code: 'REQUEST_TOO_LARGE' } });
  });

  it('missing fields: each named once', async () => {
    const r = await call(b.url, { path: '/oauth2/token', body: { grant_type: 'x' }, form: true });
    expect(r.status).toBe(400);
    const error = r.json.error as { code: string; message: string };
    expect(error.code).toBe('REQUEST_INVALID');
    expect(error.message.match(/body\/subject_token /g)).toHaveLength(1);
    expect(error.message.match(/body\/subject_token_type /g)).toHaveLength(1);
  });

  it('leases nothing', async () => {
    const leases = await b.store.db
      .selectFrom('broker_leases' as never)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number((leases as { n: number }).n)).toBe(0);
  });
});
