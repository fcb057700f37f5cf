// Builds the TCP relay's C data path (src/native/relay.c) once per Linux architecture hostalias
// ships it for, into dist/cli/relay-linux-ARCH.node: a registry tarball then carries the addon for
// x64 and arm64 whatever machine packed it, and src/forward/native-relay.ts loads the one for the
// arch it runs on. The build machine's own arch uses $CC (default cc); the other uses Debian's
// cross compiler (gcc-aarch64-linux-gnu on x64, gcc-x86-64-linux-gnu on arm64). Node-API
// headers come from the node-api-headers package, so neither node-gyp nor Node's own headers are
// needed. An arch whose compiler is missing is skipped with a warning, and the relay copies in
// JavaScript there (slower, same behaviour), so `npm install -g` from git still works on hosts
// without a compiler. HOSTALIAS_REQUIRE_NATIVE=1 (CI, which builds what is packed) makes any
// missing arch a failure.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The arches a tarball carries, and the cross compiler that builds each one elsewhere. */
export const NATIVE_TARGETS = [
  { arch: 'x64', cross: 'x86_64-linux-gnu-gcc' },
  { arch: 'arm64', cross: 'aarch64-linux-gnu-gcc' },
];

/** The addon's file name for a platform and arch (native-relay.ts names it the same way). */
export function nativeFile(arch) {
  return `relay-linux-${arch}.node`;
}

// No -Werror: a newer compiler's new warning must not silently send a user to the slower path.
/** Builds every target it has a compiler for into outDir; returns the file names built. */
export function buildNative(outDir) {
  if (process.platform !== 'linux') return [];
  let include;
  try {
    include = join(dirname(createRequire(import.meta.url).resolve('node-api-headers/package.json')), 'include');
  } catch {
    skipped('every arch', 'the node-api-headers package is not installed (a devDependency)');
    return [];
  }
  const built = [];
  for (const { arch, cross } of NATIVE_TARGETS) {
    const cc = arch === process.arch ? process.env.CC || 'cc' : cross;
    const file = nativeFile(arch);
    const args = [
      '-O2',
      '-Wall',
      '-Wextra',
      '-shared',
      '-fPIC',
      '-fvisibility=hidden',
      `-I${include}`,
      'src/native/relay.c',
      '-o',
      join(outDir, file),
      '-lpthread',
    ];
    const r = spawnSync(cc, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.error || r.status !== 0) skipped(`linux-${arch}`, `${cc} ${r.error ? `could not run (${r.error.code})` : `exited ${r.status}`}`);
    else built.push(file);
  }
  return built;
}

function skipped(what, why) {
  const message = `native relay for ${what} not built: ${why}; forward will copy in JavaScript there (slower)`;
  if (process.env.HOSTALIAS_REQUIRE_NATIVE === '1') throw new Error(message);
  console.warn(`warning: ${message}`);
}
