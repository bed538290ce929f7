/**
 * A listener that cannot open is an error the user can cause (another process holds the
 * port, a port below 1024 without privileges): one readable line, LISTEN_FAILED, exit 3
 * (retry later), not an internal error.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareDemo, serveDemo } from '../../src/cli/commands/demo-run.js';
import { listenFailed } from '../../src/credential-broker/server.js';
import { cli } from '../cli/run.js';
import { startBroker, type TestBroker } from '../credential-broker/helpers/broker.js';

let holder: Server;
let port: number;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mb-listen-'));
  holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  port = (holder.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise<void>((r) => holder.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

describe('a port that is taken', () => {
  it('stops meshbridge serve with LISTEN_FAILED and exit 3', async () => {
    const r = await cli(['serve'], {
      cwd: dir,
      env: { MESHBRIDGE_LISTEN: `127.0.0.1:${port}`, MESHBRIDGE_DB: join(dir, 'serve.db') },
    });
    expect(r.code).toBe(3);
    expect(r.stderr.trim()).toBe(
      `meshbridge: cannot listen on 127.0.0.1:${port}: the address is already in use [LISTEN_FAILED]`,
    );
  });

  it('names the address as configured, not the loopback the dashboard URL shows for it', async () => {
    const r = await cli(['serve'], {
      cwd: dir,
      env: {
        MESHBRIDGE_LISTEN: `0.0.0.0:${port}`,
        MESHBRIDGE_ADMIN_TOKEN: 'a-token-long-enough-for-the-config-check-0123456789',
        MESHBRIDGE_DB: join(dir, 'serve.db'),
      },
    });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain(
      `cannot listen on 0.0.0.0:${port}: the address is already in use [LISTEN_FAILED]`,
    );
  });

  it('stops meshbridge broker serve the same way', async () => {
    let b: TestBroker | undefined;
    try {
      b = await startBroker();
      const yaml = readFileSync(join(b.ws.dir, 'meshbridge.yaml'), 'utf8').replace(
        'port: 0',
        `port: ${port}`,
      );
      b.ws.write('busy.yaml', yaml);
      const r = await cli(['--db', 'busy.db', '--json', 'broker', 'serve', '--config', 'busy.yaml'], {
        cwd: b.ws.dir,
      });
      expect(r.code).toBe(3);
      expect(r.json()).toEqual({
        error: {
          code: 'LISTEN_FAILED',
          message: `cannot listen on 127.0.0.1:${port}: the address is already in use`,
        },
      });
    } finally {
      await b?.close();
    }
  });

  it('moves the demo to free ports (and only the demo: asked not to, it fails the same way)', async () => {
    const demoDir = join(dir, 'demo');
    const env = { NO_COLOR: '1' };
    const prepared = await prepareDemo({ dir: demoDir, dashboardPort: port, brokerPort: 0, env });
    await expect(serveDemo(prepared, { env, fallbackToFreePorts: false })).rejects.toMatchObject({
      code: 'LISTEN_FAILED',
    });
    const { server } = await serveDemo(prepared, { env, fallbackToFreePorts: true });
    try {
      expect(server.urls.dashboard).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(server.urls.dashboard).not.toBe(`http://127.0.0.1:${port}`);
    } finally {
      await server.close();
    }
  }, 60_000);

  it('says why for the usual system errors, and keeps the system error as the cause', () => {
    const sys = (code: string) => Object.assign(new Error(`listen ${code}`), { code, syscall: 'listen' });
    expect(listenFailed(sys('EACCES'), '0.0.0.0', 443).message).toBe(
      'cannot listen on 0.0.0.0:443: permission denied (ports below 1024 need privileges)',
    );
    expect(listenFailed(sys('EADDRNOTAVAIL'), '::1', 8080).message).toBe(
      'cannot listen on [::1]:8080: no interface of this machine has that address',
    );
    const other = listenFailed(sys('EMFILE'), 'h', 1);
    expect(other).toMatchObject({
      code: 'LISTEN_FAILED',
      category: 'unavailable',
      message: 'cannot listen on h:1: listen EMFILE',
    });
    expect((other.cause as { code: string }).code).toBe('EMFILE');
  });
});
