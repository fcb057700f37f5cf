/**
 * Asks the container engine the `docker` CLI would talk to over its API socket, without starting
 * the CLI (start time: `docker version` + `docker info` are two Go process starts, more than all of
 * hostalias's own start). Where that engine is follows the docker CLI's own rules
 * (cli/command/cli.go resolveContextName, cli/context/store): DOCKER_HOST, else DOCKER_CONTEXT,
 * else `currentContext` in $DOCKER_CONFIG/config.json, whose endpoint is in
 * contexts/meta/<sha256(name)>/meta.json. Anything only the CLI can handle (ssh://, TLS, a context
 * it can't read) is answered `cli`: the caller asks the CLI then. Read-only.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { listLiveDir, readLiveFile, SystemFs } from '../fs/system-fs.js';
import type { EngineReply } from '../model/context.js';
import { parseJsonObject } from './engine.js';

/** Where the engine listens, and the docker context name that led there (`docker context show`). */
export type EngineEndpoint = { context: string } & ({ socket: string } | { host: string; port: number });

const DEFAULT_CONTEXT = 'default';
const DEFAULT_SOCKET = '/var/run/docker.sock';

/** A DOCKER_HOST / endpoint URL the API can be reached at without TLS; null for anything else. Pure. */
export function parseDockerHost(url: string): { socket: string } | { host: string; port: number } | null {
  const unix = /^unix:\/\/(\/.*)$/.exec(url);
  if (unix) return { socket: unix[1] as string };
  const tcp = /^tcp:\/\/(\[[0-9a-fA-F:.]+\]|[^:/[\]]+)(?::(\d+))?\/?$/.exec(url);
  if (tcp) return { host: (tcp[1] as string).replace(/^\[|\]$/g, ''), port: tcp[2] ? Number(tcp[2]) : 2375 };
  return null;
}

/**
 * The endpoint the docker CLI would use with this environment, or null when only the CLI can
 * reach it (TLS, ssh://, npipe, a context or config it can't read as the CLI would). Each file
 * or folder it reads is added to `consulted` (`hostalias run`'s cache depends on them). Read-only.
 */
export async function resolveEngineEndpoint(env: Readonly<Record<string, string | undefined>>, consulted: string[] = []): Promise<EngineEndpoint | null> {
  // The CLI's TLS flags come from these; a TLS connection is the CLI's job.
  if (env['DOCKER_TLS'] || env['DOCKER_TLS_VERIFY']) return null;
  const dockerHost = env['DOCKER_HOST'];
  if (dockerHost) {
    const at = parseDockerHost(dockerHost);
    return at ? { context: DEFAULT_CONTEXT, ...at } : null;
  }
  const configDir = env['DOCKER_CONFIG'] || (env['HOME'] ? join(env['HOME'], '.docker') : null);
  if (configDir === null) return null;
  let name = env['DOCKER_CONTEXT'] || '';
  if (!name) {
    consulted.push(join(configDir, 'config.json'));
    const text = await readLiveFile(join(configDir, 'config.json'));
    const config = text === null ? {} : parseJsonObject(text);
    if (config === null) return null; // the CLI warns about a broken config: let it
    name = typeof config['currentContext'] === 'string' && config['currentContext'] !== '' ? config['currentContext'] : DEFAULT_CONTEXT;
  }
  if (name === DEFAULT_CONTEXT) return { context: name, socket: DEFAULT_SOCKET };
  const id = createHash('sha256').update(name).digest('hex');
  consulted.push(join(configDir, 'contexts', 'tls', id), join(configDir, 'contexts', 'meta', id, 'meta.json'));
  if ((await listLiveDir(join(configDir, 'contexts', 'tls', id))).length > 0) return null;
  const meta = parseJsonObject(await readLiveFile(join(configDir, 'contexts', 'meta', id, 'meta.json')));
  const endpoints = meta?.['Endpoints'] as Record<string, { Host?: unknown }> | undefined;
  const host = endpoints?.['docker']?.Host;
  if (meta?.['Name'] !== name || typeof host !== 'string') return null;
  const at = parseDockerHost(host);
  return at ? { context: name, ...at } : null;
}

/**
 * The endpoint URL of the docker context this environment selects when it is not the default one
 * and DOCKER_HOST is not set (root has no such context: rootEnv passes its endpoint instead);
 * null otherwise, or when only the CLI can read it. Read-only.
 */
export async function contextHost(env: Readonly<Record<string, string | undefined>>): Promise<string | null> {
  if (env['DOCKER_HOST']) return null;
  const at = await resolveEngineEndpoint(env).catch(() => null);
  if (!at || at.context === DEFAULT_CONTEXT) return null;
  return 'socket' in at ? `unix://${at.socket}` : `tcp://${at.host.includes(':') ? `[${at.host}]` : at.host}:${at.port}`;
}

/**
 * `GET path` from the engine at `at` (node:http: HTTP/1.1, chunked bodies), bounded by
 * `timeoutMs`. A connection nobody accepts (no socket, refused, no permission, no answer in time)
 * is `down`, as `docker version` would fail; an answer that isn't HTTP is `cli`. Read-only.
 */
async function engineGet(at: EngineEndpoint, path: string, timeoutMs: number): Promise<EngineReply> {
  const where = 'socket' in at ? `unix://${at.socket}` : `tcp://${at.host}:${at.port}`;
  // No socket file is what connect() would find too; a stat costs a fraction of a first connect
  // (the usual case when the engine isn't running: `status` and `flags` start faster).
  if ('socket' in at && !(await new SystemFs('/').exists(at.socket).catch(() => true))) {
    return { kind: 'down', error: `Cannot connect to the Docker daemon at ${where} (ENOENT)` };
  }
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: EngineReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    // agent: false — one connection, closed after the answer (Connection: close).
    const target = 'socket' in at ? { socketPath: at.socket } : { host: at.host, port: at.port };
    const req = request({ ...target, path, method: 'GET', agent: false, headers: { Host: 'docker', 'User-Agent': 'hostalias' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => finish({ kind: 'answer', status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err: NodeJS.ErrnoException) => finish({ kind: 'down', error: `${where} broke off its answer (${err.code ?? err.message})` }));
    });
    const timer = setTimeout(() => finish({ kind: 'down', error: `${where} gave no answer within ${timeoutMs / 1000} s` }), timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) =>
      finish(
        // llhttp's parse errors (HPE_*): something answered, but not in HTTP.
        err.code?.startsWith('HPE_')
          ? { kind: 'cli', why: `${where} did not answer in HTTP` }
          : { kind: 'down', error: `Cannot connect to the Docker daemon at ${where} (${err.code ?? err.message})` },
      ),
    );
    req.end();
  });
}

/** NativeProbes.engine for this environment: the endpoint the docker CLI would use, or null. Read-only. */
export async function dockerEngineApi(
  env: Readonly<Record<string, string | undefined>>,
): Promise<{ context: string; files: string[] | null; get(path: string, timeoutMs: number): Promise<EngineReply> } | null> {
  const consulted: string[] = [];
  const at = await resolveEngineEndpoint(env, consulted);
  return at
    ? { context: at.context, files: 'socket' in at ? [...consulted, at.socket] : null, get: (path, timeoutMs) => engineGet(at, path, timeoutMs) }
    : null;
}
