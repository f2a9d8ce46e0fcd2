'use strict';
// Build step: writes the V8 code cache for the bundle, compiled exactly as entry.cjs compiles
// it (same wrapper, same Node binary, so V8 accepts it). The bundle is loaded without running
// a CNI call and warmed up first (its `warm` export parses sample configs and so on), so the
// cache also holds the functions a real call compiles lazily.
//   node make-cache.cjs <bundle.js> <out.jscache>
const fs = require('node:fs');
const vm = require('node:vm');
const { wrap } = require('node:module');

const [bundle, out] = process.argv.slice(2);
const script = new vm.Script(wrap(fs.readFileSync(bundle, 'utf8')), {
  filename: '/manifold.sea/manifold.js',
});
globalThis.__manifoldNoAutorun = true;
const mod = { exports: {} };
// Native addons are never called during warm-up: stand-ins let their modules load.
const stubNative = (id) => (String(id).endsWith('.node') ? {} : require(id));
script
  .runInThisContext()
  .call(mod.exports, mod.exports, stubNative, mod, '/manifold.sea/manifold.js', '/manifold.sea');
Promise.resolve(mod.exports.warm()).then(
  () => fs.writeFileSync(out, script.createCachedData()),
  (err) => {
    console.error(`make-cache: warm-up failed: ${err?.stack}`);
    process.exit(1);
  },
);
