/**
 * The demo as the tests use it: every step of `meshbridge demo` run in-process into a
 * temp folder with its own SQLite file, served on free ports of 127.0.0.1, with the
 * demo's sample traffic sent over mTLS.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type DemoTraffic,
  demoTraffic,
  type PreparedDemo,
  prepareDemo,
  serveDemo,
} from '../../src/cli/commands/demo-run.js';
import type { MeshbridgeServer } from '../../src/server/index.js';

export interface DemoServer {
  dir: string;
  prepared: PreparedDemo;
  server: MeshbridgeServer;
  traffic: DemoTraffic[];
  env: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

export async function prepared(): Promise<{ dir: string; prepared: PreparedDemo; env: NodeJS.ProcessEnv }> {
  const dir = mkdtempSync(join(tmpdir(), 'meshbridge-demo-'));
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.MESHBRIDGE_DB;
  delete env.MESHBRIDGE_LISTEN;
  delete env.MESHBRIDGE_ADMIN_TOKEN;
  const p = await prepareDemo({ dir, dashboardPort: 0, brokerPort: 0, env });
  return { dir, prepared: p, env };
}

/** The demo, served. `edit` may change the generated meshbridge.yaml before serving. */
export async function demoServer(
  opts: { edit?: (yaml: string) => string; env?: NodeJS.ProcessEnv } = {},
): Promise<DemoServer> {
  const p = await prepared();
  if (opts.edit) writeFileSync(p.prepared.configFile, opts.edit(readFileSync(p.prepared.configFile, 'utf8')));
  const env = { ...p.env, ...opts.env };
  const { server } = await serveDemo(p.prepared, { env, fallbackToFreePorts: false });
  let traffic: DemoTraffic[] = [];
  try {
    traffic = await demoTraffic(p.prepared, server);
  } catch (err) {
    await server.close();
    throw err;
  }
  return {
    dir: p.dir,
    prepared: p.prepared,
    server,
    traffic,
    env,
    async close() {
      await server.close();
      rmSync(p.dir, { recursive: true, force: true });
    },
  };
}
