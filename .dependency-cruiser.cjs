/**
 * The layering of src/ (README "Where things live"), checked by `npm run lint:layers`, which
 * `npm test` runs first. Arrows point down only:
 *   cli -> engine -> platform -> docker / forward / doctor / parts -> model / exec / fs
 * A platform never imports the other; shared code reaches the platform only through the Backend
 * interface (src/model/backend.ts); only src/exec starts processes and only src/fs touches files.
 */
const LOWER = '^src/(model|exec|fs)/';
const SHARED = '^src/(docker|forward|doctor|parts)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import circle: the modules on it can no longer be understood (or loaded) one at a time.',
      from: { path: '^src/' },
      to: { circular: true, dependencyTypesNot: ['type-only'] },
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
      comment: 'docker/, forward/, doctor/ and parts/ serve every platform: they reach it through ctx.backend, and never call up into the engine or the CLI.',
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
