/**
 * `node --import …/testcontainers-select.js` with TESTCONTAINERS_FROM=DIR: every bare
 * `testcontainers` import in the process — the test's own and the one inside
 * hostalias/testcontainers' fallback — is resolved from DIR (test/testcontainers-12, which holds
 * Testcontainers 12 outside the package's dependencies), as in a project that has only that
 * version installed. The root node_modules keeps `testcontainers` (11) for the Node 20 run.
 *
 * One file for both sides of module.register: the main thread registers it, the hooks thread
 * (where isMainThread is false) only serves resolve().
 */
import { register } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isMainThread } from 'node:worker_threads';

const NAME = 'testcontainers';
let from: string | undefined;

/** `dir`: the folder whose node_modules the bare name is resolved from. */
export function initialize(dir: string): void {
  from = pathToFileURL(join(dir, 'package.json')).href;
}

type Next = (specifier: string, context: { parentURL?: string | undefined }) => Promise<unknown>;

export function resolve(specifier: string, context: { parentURL?: string | undefined }, next: Next): Promise<unknown> {
  if (from !== undefined && (specifier === NAME || specifier.startsWith(`${NAME}/`))) return next(specifier, { ...context, parentURL: from });
  return next(specifier, context);
}

const wanted = process.env['TESTCONTAINERS_FROM'];
if (isMainThread && wanted !== undefined && wanted !== '') register(import.meta.url, { data: wanted });
