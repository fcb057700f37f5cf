#!/usr/bin/env node
// hostalias's entry point, dist/cli/main.js (the goal: start in about the time of `node -e 0`).
// It loads the bundle (cli.js, and the one cmd-*.js file a command needs) with the V8 code cache
// scripts/bundle.mjs made for each file at build time: a start then deserializes compiled code
// instead of parsing ~400 KB of JavaScript (Node 20 has no module.enableCompileCache). V8 rejects
// a cache made by another Node version or for other code, and the file is then compiled as usual;
// a cache made on another arch is never offered (scripts/bundle.mjs names each for its arch).
'use strict';
const { readFileSync } = require('node:fs');
const Module = require('node:module');
const { join } = require('node:path');
const { Script } = require('node:vm');

const loaded = new Map();

/** Evaluates bundle file `name` (CommonJS) as require() would, with its code cache if any; returns its exports. */
function load(name) {
  if (loaded.has(name)) return loaded.get(name).exports;
  const filename = join(__dirname, name);
  let cachedData;
  try {
    cachedData = readFileSync(`${filename}.${process.arch}.cache`);
  } catch {
    cachedData = undefined; // no cache: compile
  }
  const script = new Script(Module.wrap(readFileSync(filename, 'utf8')), { filename, cachedData });
  const module = { exports: {}, filename, id: filename };
  loaded.set(name, module);
  const nodeRequire = Module.createRequire(filename);
  // The bundle names its own files `./cmd-GROUP.js` (scripts/bundle.mjs): those come through here too.
  const bundleRequire = (id) => (/^\.\/cmd-[\w-]+\.js$/.test(id) ? load(id.slice(2)) : nodeRequire(id));
  script.runInThisContext().call(module.exports, module.exports, bundleRequire, module, filename, __dirname);
  return module.exports;
}

load('cli.js').runCli();
