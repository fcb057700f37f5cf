// `npm install -g git+…` runs this in a fresh clone. npm installs that clone's devDependencies with
// the outer command's npm_config_global / prefix still set, so they land in the global prefix and
// `tsc` is missing here (npm/cli#8440). Install them into this folder ourselves, then build.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['npm'];
function run(argv, env = process.env) {
  const r = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit', env });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (!existsSync('node_modules/typescript/bin/tsc') || !existsSync('node_modules/esbuild')) {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^npm_config_(global|prefix|global_prefix|local_prefix|globalconfig|allow_scripts)$/i.test(k)),
  );
  run([...npm, 'install', '--include=dev', '--ignore-scripts', '--no-save', '--no-audit', '--no-fund'], env);
}
run([...npm, 'run', 'build']);
