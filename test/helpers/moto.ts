/**
 * moto (https://github.com/getmoto/moto) as a real AWS Secrets Manager for tests:
 * `python3 -m moto.server -H 127.0.0.1 -p <free port>`, started per suite, polled until
 * it answers, killed on teardown. The SDK reaches it through `endpoint` (or
 * AWS_ENDPOINT_URL) with dummy credentials and a region.
 *
 * Under CI=true a machine without moto fails the suite; locally the suite is skipped
 * with a message saying how to install it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';

export const MOTO_SKIP_MESSAGE =
  'moto is not installed (python3 -c "import moto" failed): AWS Secrets Manager tests are skipped. ' +
  "Install it with: pip install 'moto[server]'";

let probed: boolean | undefined;

/** Is `python3 -m moto.server` runnable here? (Probed once per process.) */
export function motoInstalled(): boolean {
  if (probed === undefined) {
    const r = spawnSync('python3', ['-c', 'import moto.server'], { stdio: 'ignore', timeout: 30_000 });
    probed = r.status === 0;
  }
  return probed;
}

/**
 * For `describe.skipIf(!motoOrSkip())`: true when moto is there; false (with a message)
 * when it is not, locally; throws under CI=true, so CI cannot pass by skipping.
 */
export function motoOrSkip(): boolean {
  if (motoInstalled()) return true;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${MOTO_SKIP_MESSAGE}`);
  console.warn(MOTO_SKIP_MESSAGE);
  return false;
}

export interface MotoServer {
  url: string;
  port: number;
  /** Dummy credentials + region for an SDK client pointed at this server. */
  clientConfig: {
    region: string;
    endpoint: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/moto-api/`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

export interface StartMotoOptions {
  /** Default: a free port. */
  port?: number;
  /** Extra environment for moto, e.g. INITIAL_NO_AUTH_ACTION_COUNT=0 to make it check credentials. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** Start moto and wait until it answers. */
export async function startMoto(options: StartMotoOptions = {}): Promise<MotoServer> {
  if (!motoInstalled()) throw new Error(MOTO_SKIP_MESSAGE);
  const chosen = options.port ?? (await freePort());
  const timeoutMs = options.timeoutMs ?? 30_000;
  const url = `http://127.0.0.1:${chosen}`;
  const child: ChildProcess = spawn(
    'python3',
    ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(chosen)],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...options.env },
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let exited = false;
  // A test process that ends without teardown (a crash, a forgotten stop) still takes moto with it.
  const reap = () => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', reap);
  child.once('exit', () => {
    exited = true;
    process.off('exit', reap);
  });

  const stop = async (): Promise<void> => {
    if (exited || child.pid === undefined) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (!exited) child.kill('SIGKILL');
    }, 5000);
    await gone;
    clearTimeout(timer);
  };

  const deadline = Date.now() + timeoutMs;
  while (!(await answers(url))) {
    if (exited) throw new Error(`moto exited before answering on ${url}: ${stderr.trim()}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`moto did not answer on ${url} within ${timeoutMs} ms: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return {
    url,
    port: chosen,
    clientConfig: {
      region: 'us-east-1',
      endpoint: url,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    },
    stop,
  };
}
