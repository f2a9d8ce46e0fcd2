'use strict';
// Single-executable bootstrap. The executable carries three kinds of assets (see build.sh):
//   manifold.js        the ncc bundle (CommonJS)
//   manifold.jscache   V8 code cache for it, made at build time by the same Node binary
//   natives/<path>     every native addon the bundle requires (netlink's, manifold's own)
// The bundle runs inside a module wrapper whose `require` loads Node built-ins as usual and
// native addons from a content-addressed directory: each addon is written there once (temp
// file + rename, dir 0700, file 0600) under the hash recorded at build time, then dlopened.
// Nothing is extracted for calls that load no addon (VERSION, host-local, static).
const sea = require('node:sea');
const vm = require('node:vm');
const fs = require('node:fs');
const path = require('node:path');
const { wrap } = require('node:module');

const VDIR = '/manifold.sea';
const manifest = JSON.parse(sea.getAsset('manifest.json', 'utf8'));

function nativeRoot() {
  return process.env.MANIFOLD_NATIVE_DIR || '/var/lib/manifold/native';
}

function fallbackRoot() {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return path.join(require('node:os').tmpdir(), `manifold-native-${uid}`);
}

// A directory we create or own, private to us (never follow a planted symlink in /tmp).
function ensurePrivateDir(dir) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  const uid = typeof process.getuid === 'function' ? process.getuid() : st.uid;
  if (!st.isDirectory() || st.uid !== uid) throw new Error(`${dir} is not a directory owned by uid ${uid}`);
}

function extract(rel, hash) {
  const name = path.basename(rel);
  let lastErr;
  for (const root of [nativeRoot(), fallbackRoot()]) {
    const dir = path.join(root, hash);
    const file = path.join(dir, name);
    try {
      if (fs.existsSync(file)) return file;
      ensurePrivateDir(root);
      ensurePrivateDir(dir);
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, new Uint8Array(sea.getRawAsset(`natives/${rel}`)), { mode: 0o600 });
      fs.renameSync(tmp, file);
      return file;
    } catch (err) {
      lastErr = err;
    }
  }
  throw new Error(
    `cannot extract native addon ${rel} (set MANIFOLD_NATIVE_DIR to a writable directory): ${lastErr?.message}`,
  );
}

const loaded = new Map();
function seaRequire(id) {
  if (typeof id === 'string' && id.startsWith(`${VDIR}/`) && id.endsWith('.node')) {
    const rel = id.slice(VDIR.length + 1);
    const hash = manifest.natives[rel];
    if (!hash) throw new Error(`native addon ${rel} is not in this executable`);
    if (!loaded.has(rel)) {
      const mod = { exports: {} };
      process.dlopen(mod, extract(rel, hash));
      loaded.set(rel, mod.exports);
    }
    return loaded.get(rel);
  }
  return require(id);
}

const source = wrap(sea.getAsset('manifold.js', 'utf8'));
let cachedData;
try {
  cachedData = Buffer.from(sea.getAsset('manifold.jscache'));
} catch {
  cachedData = undefined;
}
const script = new vm.Script(source, { filename: `${VDIR}/manifold.js`, cachedData });
const mod = { exports: {} };
script.runInThisContext().call(mod.exports, mod.exports, seaRequire, mod, `${VDIR}/manifold.js`, VDIR);
