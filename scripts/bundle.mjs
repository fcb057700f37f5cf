// Bundles the CLI into dist/cli/ (issue 12): one self-contained CommonJS file per process the
// CLI starts (main.js, and worker-main.js for relay workers), so an installed copy needs no
// node_modules. CommonJS because Node's ES module loader costs more per start than all of
// hostalias's own code (URL resolution, an async module graph); each command's code is still
// evaluated only when it runs (esbuild keeps dynamic import() lazy inside one file).
// dist/cli/package.json makes `.js` there CommonJS; runtime.json lists the files `up` copies to
// /usr/local/lib/hostalias/VERSION-ID/.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildNative } from './build-native.mjs';

const out = 'dist/cli';
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
// main.js holds commander and the dispatch; each command group is its own file, required only
// when one of its commands runs (src/cli/main.ts GROUPS). Shared code is repeated in each: one
// group is loaded per run, so a start parses main.js and one group, not the whole CLI.
const groups = readdirSync('src/cli/commands').filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, ''));
const commandFiles = {
  name: 'command-files',
  setup(b) {
    b.onResolve({ filter: /^\.\/commands\/[\w-]+\.js$/ }, (args) =>
      args.importer.endsWith('src/cli/main.ts') ? { path: `./cmd-${args.path.slice('./commands/'.length)}`, external: true } : undefined);
  },
};
// jsonc-parser's index re-exports its formatter and editor, whose module bodies build tables of
// indentation strings at load (string-intern.js): a few ms of every start. hostalias uses only its
// parser; marked free of side effects, the unused modules are left out of the bundle.
const jsoncParserOnly = {
  name: 'jsonc-parser-only',
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === 'jsonc' || !(args.path === 'jsonc-parser' || args.importer.includes('/node_modules/jsonc-parser/'))) return undefined;
      const r = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'jsonc' });
      return { ...r, sideEffects: false };
    });
  },
};
await build({
  entryPoints: {
    main: 'src/cli/main.ts',
    'worker-main': 'src/forward/worker-main.ts',
    ...Object.fromEntries(groups.map((g) => [`cmd-${g}`, `src/cli/commands/${g}.ts`])),
  },
  plugins: [commandFiles, jsoncParserOnly],
  outdir: out,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // import.meta.url has no CommonJS equivalent: this file's own URL is what every use wants.
  define: { 'import.meta.url': '__hostaliasFileUrl' },
  banner: { js: "const __hostaliasFileUrl = require('node:url').pathToFileURL(__filename).href;" },
  // jsonc-parser's `main` is a UMD build whose require('./impl/…') a bundle cannot follow.
  mainFields: ['module', 'main'],
  // The command files are CommonJS: load them with require(), not import(), which would send
  // each through the ES module loader and the CommonJS export lexer (a second parse).
  supported: { 'dynamic-import': false },
  logLevel: 'warning',
  legalComments: 'none',
});
const native = buildNative(out);
const files = [...readdirSync(out).filter((f) => f.endsWith('.js')).sort(), ...(native ? [native] : [])];
writeFileSync(join(out, 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);
writeFileSync(join(out, 'runtime.json'), `${JSON.stringify({ name: pkg.name, version: pkg.version, entry: 'main.js', files: [...files, 'package.json', 'runtime.json'] }, null, 2)}\n`);
