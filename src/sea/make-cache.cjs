'use strict';
// Build step: writes the V8 code cache for the bundle, compiled exactly as entry.cjs compiles
// it (same wrapper, same Node binary), so the executable skips parsing its own code.
//   node make-cache.cjs <bundle.js> <out.jscache>
const fs = require('node:fs');
const vm = require('node:vm');
const { wrap } = require('node:module');

const [bundle, out] = process.argv.slice(2);
const script = new vm.Script(wrap(fs.readFileSync(bundle, 'utf8')), {
  filename: '/manifold.sea/manifold.js',
});
fs.writeFileSync(out, script.createCachedData());
