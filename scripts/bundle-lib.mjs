// Bundles the `hostalias/testcontainers` entry into dist/testcontainers/lib.js: one ES
// module instead of ~20, so a test file's import costs one parse, not a walk of the ES module
// loader through each file (about 4× less time to import). Its npm dependencies are bundled and
// tree-shaken; `testcontainers` stays outside (an optional peer, imported only by the fallback).
// Modules whose identity or state must be one per process stay the files tsc emits, shared with
// the main entry: model/errors.js (HostaliasError is one class, `instanceof` holds) and
// forward/native-relay.js (the addon can be started once per process; a second copy would fall
// back to copying in JavaScript). tsc still writes the types (dist/testcontainers/index.d.ts).
import { build } from 'esbuild';
import { resolve } from 'node:path';

const SHARED = ['model/errors', 'forward/native-relay'];
const shared = new Map(SHARED.map((m) => [resolve(`src/${m}.ts`), `../${m}.js`]));
await build({
  entryPoints: ['src/testcontainers/index.ts'],
  outfile: 'dist/testcontainers/lib.js',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['testcontainers'],
  plugins: [
    {
      name: 'shared-modules',
      setup(b) {
        b.onResolve({ filter: /^\.\.?\/.*\.js$/ }, (args) => {
          const path = shared.get(resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts')));
          return path === undefined ? undefined : { path, external: true };
        });
      },
    },
  ],
  logLevel: 'warning',
  legalComments: 'none',
});
