// Bundles the `hostalias/testcontainers` entry into dist/testcontainers/lib.js (issue 14): one ES
// module instead of ~20, so a test file's import costs one parse, not a walk of the ES module
// loader through each file (about 4× less time to import). Its npm dependencies are bundled and
// tree-shaken; `testcontainers` stays outside (an optional peer, imported only by the fallback);
// model/errors.js stays the shared module tsc emits, so HostaliasError is one class for both entry
// points (`instanceof` holds). tsc still writes the types (dist/testcontainers/index.d.ts).
import { build } from 'esbuild';
import { resolve } from 'node:path';

const errors = resolve('src/model/errors.ts');
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
      name: 'shared-errors',
      setup(b) {
        b.onResolve({ filter: /\/errors\.js$/ }, (args) =>
          resolve(args.resolveDir, args.path.replace(/\.js$/, '.ts')) === errors ? { path: '../model/errors.js', external: true } : undefined);
      },
    },
  ],
  logLevel: 'warning',
  legalComments: 'none',
});
