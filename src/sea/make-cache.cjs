// @ts-check
'use strict';
// Build step: writes the V8 code cache for the bundle, compiled exactly as entry.cjs compiles
// it (same wrapper, same Node binary and V8 flags, so V8 accepts it). The bundle is loaded
// without running a CNI call and warmed up first (its `warm` export parses sample configs and
// so on), then — where the build may (root, iproute2: train.cjs) — trained with real CNI calls
// in throwaway namespaces, so the cache also holds the functions a real call compiles lazily.
//   node make-cache.cjs <bundle.js> <out.jscache> [<dir of the bundle's native addons>]
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { wrap } = require('node:module');
const { cannotTrain, train } = require('./train.cjs');

const [bundle, out, nativeDir] = process.argv.slice(2);
if (!bundle || !out) {
  process.stderr.write('usage: node make-cache.cjs <bundle.js> <out.jscache> [<native addon dir>]\n');
  process.exit(2);
}
const VDIR = '/manifold.sea';
const script = new vm.Script(wrap(fs.readFileSync(bundle, 'utf8')), {
  filename: `${VDIR}/manifold.js`,
});
globalThis.__manifoldNoAutorun = true;
/** The bundle's exports (src/main.ts): `warm` and, for train.cjs, `trainingCall`. */
const mod =
  /** @type {{ exports: { warm: () => Promise<void>, trainingCall: import('./train.cjs').TrainingCall } }} */ ({
    exports: {},
  });
const why = nativeDir ? cannotTrain() : 'no native addon directory given';
// Native addons are never called during warm-up: stand-ins let their modules load. A training
// run gets the real ones (the bundle loads each on first use, which is in the training).
/** @type {Map<string, any>} */
const natives = new Map();
/** @param {string} id @returns {any} */
const loadNative = (id) => {
  if (why || !nativeDir) return {};
  const file = path.join(nativeDir, String(id).slice(VDIR.length + 1));
  if (!natives.has(file)) {
    const m = { exports: {} };
    process.dlopen(m, file);
    natives.set(file, m.exports);
  }
  return natives.get(file);
};
/** @param {string} id */
const bundleRequire = (id) => (String(id).endsWith('.node') ? loadNative(id) : require(id));
script.runInThisContext().call(mod.exports, mod.exports, bundleRequire, mod, `${VDIR}/manifold.js`, VDIR);

async function main() {
  await mod.exports.warm();
  if (why) {
    process.stderr.write(`make-cache: no training run (${why}): the cache holds the warm-up's code only\n`);
  } else {
    try {
      const addon = loadNative(`${VDIR}/manifold_native.node`);
      await train(mod.exports, addon);
      process.stderr.write(
        'make-cache: trained with real CNI calls (meta ADD, CHECK, DEL; macvlan ADD, DEL)\n',
      );
    } catch (err) {
      process.stderr.write(
        `make-cache: training run failed, the cache holds what ran: ${err instanceof Error ? err.message : err}\n`,
      );
    }
  }
  fs.writeFileSync(/** @type {string} */ (out), script.createCachedData());
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`make-cache: warm-up failed: ${err instanceof Error ? err.stack : err}`);
    process.exit(1);
  },
);
