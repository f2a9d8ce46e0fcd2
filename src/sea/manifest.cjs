// @ts-check
'use strict';
// Build step: writes the single executable's manifest and Node's SEA config (build.sh,
// single_executable). The manifest is what src/sea/entry.cjs reads at run time:
//   natives   every native addon ncc copied, by its path relative to the bundle, mapped to the
//             directory it is extracted to (the first 32 hex digits of its sha256)
//   version   the bundle's own answer to VERSION, replayed without compiling the bundle
// The SEA config names the entry script, the assets (the manifest, the bundle, its code cache,
// every addon as natives/<path>, the daemon-mode shim) and the V8 flags the executable starts
// with. The shim (<work dir>/shim, put there by build.sh) is the asset `shim`, which
// `manifold install --mode daemon` writes out (src/cli/install/shim.ts); the entry script
// never reads it.
//   node manifest.cjs <ncc output dir> <work dir> [<V8 flag>...]
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const [nccArg, wArg, ...v8Flags] = process.argv.slice(2);
if (!nccArg || !wArg) {
  process.stderr.write('usage: node manifest.cjs <ncc output dir> <work dir> [<V8 flag>...]\n');
  process.exit(2);
}
const ncc = nccArg;
const w = wArg;

/** @type {Record<string, string>} addon path (relative to the bundle) → its directory name */
const natives = {};
const shim = path.join(w, 'shim');
if (!fs.existsSync(shim)) {
  process.stderr.write(`manifest.cjs: ${shim} is missing (build.sh's build_shim copies it there)\n`);
  process.exit(1);
}
/** @type {Record<string, string>} asset name → file */
const assets = {
  'manifest.json': path.join(w, 'manifest.json'),
  'manifold.js': path.join(w, 'manifold.js'),
  'manifold.jscache': path.join(w, 'manifold.jscache'),
  shim,
};

/** @param {string} dir */
function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (p.endsWith('.node')) {
      const rel = path.relative(ncc, p);
      natives[rel] = crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 32);
      assets[`natives/${rel}`] = p;
    }
  }
}
walk(ncc);

// The answer to VERSION, exactly as the bundle prints it: the entry script replays it without
// compiling the bundle (VERSION depends on nothing but CNI_COMMAND).
const version = execFileSync(process.execPath, [path.join(ncc, 'index.js')], {
  env: { CNI_COMMAND: 'VERSION' },
  encoding: 'utf8',
});

fs.writeFileSync(path.join(w, 'manifest.json'), JSON.stringify({ natives, version }));
fs.writeFileSync(
  path.join(w, 'sea-config.json'),
  JSON.stringify(
    {
      main: 'src/sea/entry.cjs',
      output: path.join(w, 'sea.blob'),
      disableExperimentalSEAWarning: true,
      useCodeCache: true,
      useSnapshot: false,
      execArgv: v8Flags,
      // `--node-options` as the first argument, for the daemon's own V8 flags (entry.cjs);
      // NODE_OPTIONS stays ignored
      execArgvExtension: 'cli',
      assets,
    },
    null,
    2,
  ),
);
