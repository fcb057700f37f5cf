// Builds the TCP relay's C data path (src/native/relay.c) into dist/cli/relay.node, on Linux with
// a C compiler. Node-API headers come from the node-api-headers package, so neither node-gyp nor
// Node's own headers are needed. Without a compiler the relay copies in JavaScript (slower, same
// behaviour): a warning, not a failure, so `npm install -g` from git still works on such hosts.
// HOSTALIAS_REQUIRE_NATIVE=1 makes it a failure (CI, where the native path is what is tested).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

// No -Werror: a newer compiler's new warning must not silently send a user to the slower path.
export function buildNative(outDir) {
  if (process.platform !== 'linux') return null;
  const out = join(outDir, 'relay.node');
  let include;
  try {
    include = join(dirname(createRequire(import.meta.url).resolve('node-api-headers/package.json')), 'include');
  } catch {
    return skipped('the node-api-headers package is not installed (a devDependency)');
  }
  const cc = process.env.CC || 'cc';
  const args = ['-O2', '-Wall', '-Wextra', '-shared', '-fPIC', '-fvisibility=hidden', `-I${include}`, 'src/native/relay.c', '-o', out, '-lpthread'];
  const r = spawnSync(cc, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error || r.status !== 0) return skipped(`${cc} ${r.error ? `could not run (${r.error.code})` : `exited ${r.status}`}`);
  return 'relay.node';
}

function skipped(why) {
  const message = `native relay not built: ${why}; forward will copy in JavaScript (slower)`;
  if (process.env.HOSTALIAS_REQUIRE_NATIVE === '1') throw new Error(message);
  console.warn(`warning: ${message}`);
  return null;
}
