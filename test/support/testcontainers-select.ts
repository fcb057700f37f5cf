/**
 * `node --import …/testcontainers-select.js` with TESTCONTAINERS_PACKAGE=testcontainers-12: every
 * bare `testcontainers` import in the process — the test's own and the one inside
 * hostalias/testcontainers' fallback — loads that package instead (an npm alias in
 * devDependencies), as it would in a project that has only that version installed. The root
 * node_modules keeps `testcontainers` (11) for the Node 20 run; the aliases can't share a name.
 *
 * One file for both sides of module.register: the main thread registers it, the hooks thread
 * (where isMainThread is false) only serves resolve().
 */
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

const NAME = 'testcontainers';
let target = NAME;

export function initialize(data: string): void {
  target = data;
}

type Next = (specifier: string, context: unknown) => Promise<unknown>;

export function resolve(specifier: string, context: unknown, next: Next): Promise<unknown> {
  if (specifier === NAME || specifier.startsWith(`${NAME}/`)) return next(target + specifier.slice(NAME.length), context);
  return next(specifier, context);
}

const wanted = process.env['TESTCONTAINERS_PACKAGE'];
if (isMainThread && wanted !== undefined && wanted !== '') register(import.meta.url, { data: wanted });
