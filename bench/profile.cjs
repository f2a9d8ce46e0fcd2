'use strict';
// Runs the built bundle the way the single executable does (src/sea/entry.cjs: the same
// module wrapper, the same V8 code cache, native addons loaded by path), from the files
// ./build.sh leaves in dist/, so that plain Node's flags apply: the executable itself ignores
// NODE_OPTIONS. For profiling a CNI call:
//
//   CNI_COMMAND=ADD ... node --min-semi-space-size=16 --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile.cjs < conf.json
//
// V8 takes the code cache only under the flags it was made with: pass the executable's
// (SEA_V8_FLAGS in build.sh); a rejected cache is reported on stderr.
// The bundle picks the plugin by process.argv0, as the executable does: under `node` that is
// the meta-plugin; `exec -a macvlan node … bench/profile.cjs` runs a built-in.
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { wrap } = require('node:module');

const root = path.resolve(__dirname, '..');
const bundle = path.join(root, 'dist/sea/manifold.js');
const ncc = path.join(root, 'dist/ncc');
const VDIR = '/manifold.sea';
let cachedData;
try {
  cachedData = fs.readFileSync(path.join(root, 'dist/sea/manifold.jscache'));
} catch {
  cachedData = undefined;
}
const script = new vm.Script(wrap(fs.readFileSync(bundle, 'utf8')), {
  filename: `${VDIR}/manifold.js`,
  cachedData,
});
if (cachedData && script.cachedDataRejected) process.stderr.write('profile: the code cache was rejected\n');
// The addon's exitNow would end the process before --cpu-prof writes its profile: exit as Node does.
const load = (id) =>
  typeof id === 'string' && id.startsWith(`${VDIR}/`)
    ? { ...require(path.join(ncc, id.slice(VDIR.length + 1))), exitNow: (code) => process.exit(code) }
    : require(id);
const mod = { exports: {} };
script.runInThisContext().call(mod.exports, mod.exports, load, mod, `${VDIR}/manifold.js`, VDIR);
