// Bundles the CLI into dist/cli/: self-contained CommonJS files, so an installed copy
// needs no node_modules: main.js (scripts/launch.cjs, the entry) loads cli.js and one cmd-*.js
// with their V8 code caches; worker-main.js is a relay worker. CommonJS because Node's ES module loader costs more per start than all of
// hostalias's own code (URL resolution, an async module graph); each command's code is still
// evaluated only when it runs (esbuild keeps dynamic import() lazy inside one file).
// dist/cli/package.json makes `.js` there CommonJS; runtime.json lists the files `up` copies to
// /usr/local/lib/hostalias/VERSION-ID/.
import { build } from 'esbuild';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import Module from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { buildNative } from './build-native.mjs';

const out = 'dist/cli';
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
// cli.js holds commander and the dispatch; each command group is its own file, required only
// when one of its commands runs (src/cli/main.ts GROUPS). Shared code is repeated in each: one
// group is loaded per run, so a start loads cli.js and one group, not the whole CLI.
const groups = readdirSync('src/cli/commands')
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.replace(/\.ts$/, ''));
const commandFiles = {
  name: 'command-files',
  setup(b) {
    b.onResolve({ filter: /^\.\/commands\/[\w-]+\.js$/ }, (args) =>
      args.importer.endsWith('src/cli/main.ts') ? { path: `./cmd-${args.path.slice('./commands/'.length)}`, external: true } : undefined,
    );
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
// Modules a start would load for nothing: node:crypto (temp names, digests), node:child_process
// (commander requires it for subcommand executables hostalias doesn't have; status and flags start
// no process) and node:http (the engine's API client: only when an engine socket is there to ask). Each importer gets a stand-in whose functions load the real module on first call.
// A name not listed here fails the build ("No matching export"), never a run.
const LAZY = {
  'node:crypto': ['createHash', 'randomBytes'],
  'node:child_process': ['spawn'],
  'node:http': ['request'],
};
const lazyModules = {
  name: 'lazy-modules',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(${Object.keys(LAZY).join('|')})$`) }, (args) =>
      args.namespace === 'lazy' ? undefined : { path: args.path, namespace: 'lazy' },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, (args) => {
      const load = `let real;\nconst load = () => (real ??= require(${JSON.stringify(args.path)}));\n`;
      const contents = `${load}${LAZY[args.path].map((n) => `export const ${n} = (...a) => load().${n}(...a);\n`).join('')}`;
      return { contents, resolveDir: process.cwd(), loader: 'js' };
    });
  },
};
await build({
  entryPoints: {
    cli: 'src/cli/main.ts',
    'worker-main': 'src/forward/worker-main.ts',
    ...Object.fromEntries(groups.map((g) => [`cmd-${g}`, `src/cli/commands/${g}.ts`])),
  },
  plugins: [commandFiles, jsoncParserOnly, lazyModules],
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
// main.js, the entry, loads cli.js and the command files with a V8 code cache of each, made here
// by the Node that builds (scripts/launch.cjs says why). A cache is named for the arch it was made
// on (cli.js.x64.cache): a tarball packed on x64 and installed on arm64 compiles as usual there,
// since an arm64 Node given the x64 cache of the same Node version crashed (seen under qemu-user). The relay's worker-main.js is started
// once per relay, not per command: it is loaded by Node as usual.
copyFileSync('scripts/launch.cjs', join(out, 'main.js'));
chmodSync(join(out, 'main.js'), 0o755);
// cli.js is wrapped in a function like any CommonJS file, where a `#!` line is a syntax error.
writeFileSync(join(out, 'cli.js'), readFileSync(join(out, 'cli.js'), 'utf8').replace(/^#!.*\n/, ''));
chmodSync(join(out, 'cli.js'), 0o644);
for (const f of readdirSync(out).filter((f) => f === 'cli.js' || /^cmd-[\w-]+\.js$/.test(f))) {
  const script = new Script(Module.wrap(readFileSync(join(out, f), 'utf8')), { filename: join(out, f) });
  writeFileSync(join(out, `${f}.${process.arch}.cache`), script.createCachedData());
}
// The command itself (package.json "bin"): a shell script that runs main.js, or execs a cached
// `docker run` (scripts/launch.sh). Its cache is keyed on this build, so a new build never
// reuses an old build's answer.
const buildId = createHash('sha256');
for (const f of readdirSync(out)
  .filter((f) => f.endsWith('.js'))
  .sort())
  buildId.update(f).update(readFileSync(join(out, f)));
writeFileSync(join(out, 'hostalias'), readFileSync('scripts/launch.sh', 'utf8').replace('@BUILD@', buildId.digest('hex').slice(0, 16)), { mode: 0o755 });
chmodSync(join(out, 'hostalias'), 0o755);
const native = buildNative(out);
const files = [
  ...readdirSync(out)
    .filter((f) => f.endsWith('.js') || /\.js\.\w+\.cache$/.test(f))
    .sort(),
  ...native,
];
writeFileSync(join(out, 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);
writeFileSync(
  join(out, 'runtime.json'),
  `${JSON.stringify({ name: pkg.name, version: pkg.version, entry: 'main.js', files: [...files, 'package.json', 'runtime.json'] }, null, 2)}\n`,
);
