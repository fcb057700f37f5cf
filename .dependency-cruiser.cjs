/**
 * The layering of src/ (docs/architecture.md), checked by `npm run lint:layers`, which `npm test`
 * runs first. Arrows point down only:
 *   index.ts, testcontainers/, cli -> engine -> platform -> docker / forward / doctor / parts -> exec / fs -> model
 * model/ is pure (types, values, pure functions): it imports nothing else of src. A platform never
 * imports the other; shared code reaches the platform only through the Backend interface
 * (src/model/context.ts); only src/exec starts processes and only src/fs touches files. No import
 * circle, not even one of types only.
 */
const LOWER = '^src/(model|exec|fs)/';
const SHARED = '^src/(docker|forward|doctor|parts|dns)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import circle: the modules on it can no longer be understood (or loaded) one at a time.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'model-is-pure',
      severity: 'error',
      comment: 'src/model holds types, values and pure functions: it reads nothing and runs nothing, so it imports nothing else of src (the gateways implement its interfaces: Files, Runner).',
      from: { path: '^src/model/' },
      to: { path: '^src/', pathNot: '^src/model/' },
    },
    {
      name: 'entry-points-import-no-cli',
      severity: 'error',
      comment: 'src/index.ts and src/testcontainers/ are the library doors: they sit beside the CLI and import none of it.',
      from: { path: '^src/(index\\.ts$|testcontainers/)' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'nothing-imports-an-entry-point',
      severity: 'error',
      comment: 'src/index.ts and src/testcontainers/ are imported by users only; code under src imports the module that holds a thing.',
      from: { path: '^src/', pathNot: '^src/(index\\.ts$|testcontainers/)' },
      to: { path: '^src/(index\\.ts$|testcontainers/)' },
    },
    {
      name: 'bottom-imports-nothing-above',
      severity: 'error',
      comment: 'src/model, src/exec and src/fs are the bottom layer: they import only each other.',
      from: { path: LOWER },
      to: { path: '^src/', pathNot: LOWER },
    },
    {
      name: 'shared-code-imports-no-platform',
      severity: 'error',
      comment: 'docker/, forward/, doctor/, parts/ and dns/ serve every platform: they reach it through ctx.backend, and never call up into the engine or the CLI.',
      from: { path: SHARED },
      to: { path: '^src/(platform|engine|cli)/' },
    },
    {
      name: 'linux-imports-no-darwin',
      severity: 'error',
      comment: 'A platform never imports the other platform.',
      from: { path: '^src/platform/linux/' },
      to: { path: '^src/platform/darwin/' },
    },
    {
      name: 'darwin-imports-no-linux',
      severity: 'error',
      comment: 'A platform never imports the other platform.',
      from: { path: '^src/platform/darwin/' },
      to: { path: '^src/platform/linux/' },
    },
    {
      name: 'platform-imports-no-engine-or-cli',
      severity: 'error',
      comment: 'The engine drives the platforms, not the other way round.',
      from: { path: '^src/platform/' },
      to: { path: '^src/(engine|cli)/' },
    },
    {
      name: 'engine-imports-no-cli',
      severity: 'error',
      comment: 'The engine is the library; the CLI sits on top of it.',
      from: { path: '^src/engine/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'only-exec-starts-processes',
      severity: 'error',
      comment: 'Processes start only in src/exec (the Runner, and the named long-running exceptions there).',
      from: { path: '^src/', pathNot: '^src/exec/' },
      to: { dependencyTypes: ['core'], path: '^(node:)?(child_process|cluster)$' },
    },
    {
      name: 'only-fs-touches-files',
      severity: 'error',
      comment: 'Files are read and written only through src/fs (SystemFs, the live readers, the lock); src/exec/runtime.ts resolves its own path.',
      from: { path: '^src/', pathNot: ['^src/fs/', '^src/exec/runtime\\.ts$'] },
      to: { dependencyTypes: ['core'], path: '^(node:)?fs(/promises)?$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(build|dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
