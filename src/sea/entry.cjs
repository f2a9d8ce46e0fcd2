// @ts-check
'use strict';
// Single-executable bootstrap. The executable carries three kinds of assets (see build.sh):
//   manifold.js        the ncc bundle (CommonJS)
//   manifold.jscache   V8 code cache for it, made at build time by the same Node binary
//   manifest.json      the addons' hashes (their directory names), and the bundle's answer to VERSION
//   natives/<path>     every native addon the bundle requires (today one: manifold_native.node)
// The bundle runs inside a module wrapper whose `require` loads Node built-ins as usual and
// native addons from a content-addressed directory, `<root>/<hash>/<name>`: the first of
// $MANIFOLD_NATIVE_DIR (default /var/lib/manifold/native) and $TMPDIR/manifold-native-<uid>
// that passes the checks below. Nothing is extracted for calls that load no addon (VERSION).
//
// Nothing is ever loaded that manifold did not write or cannot verify, in any directory:
//   - the root and <hash> directories are real directories (not symlinks) owned by this uid
//     and writable by no one else; the root's parent is not writable by others unless sticky
//     (/tmp); missing ones are made 0700, one mkdir per path component (bounded: Node's
//     recursive mkdir spins forever where mkdir answers ENOENT, as under /proc);
//   - the file is opened without following symlinks and must be a regular file owned by this
//     uid, mode 0600, byte for byte the executable's own copy; otherwise (and when missing) it is
//     written again from the executable (temp file 0600 + rename) and checked again;
//   - the verified open file is what is loaded (/proc/self/fd/N), so it cannot be swapped
//     between the check and dlopen.
// A directory that fails is skipped for the next; when none passes, the call fails with a
// CNI error naming every directory and why.
const sea = require('node:sea');
const vm = require('node:vm');
const fs = require('node:fs');
const path = require('node:path');
const { wrap } = require('node:module');

const VDIR = '/manifold.sea';
const manifest = JSON.parse(sea.getAsset('manifest.json', 'utf8'));
const UID = typeof process.getuid === 'function' ? process.getuid() : 0;

function roots() {
  const primary = path.resolve(process.env.MANIFOLD_NATIVE_DIR || '/var/lib/manifold/native');
  const fallback = path.join(require('node:os').tmpdir(), `manifold-native-${UID}`);
  return primary === fallback ? [primary] : [primary, fallback];
}

/** @param {string} what @returns {never} */
function fail(what) {
  throw new Error(what);
}

/** @param {unknown} err @returns {string | undefined} the errno name of a system error */
function errno(err) {
  return /** @type {NodeJS.ErrnoException} */ (err)?.code;
}

/** @param {unknown} err */
function why(err) {
  return errno(err) || (err instanceof Error ? err.message : String(err));
}

/** @param {string} dir @param {fs.Stats} st */
function checkDir(dir, st) {
  if (!st.isDirectory()) fail(`${dir} is not a directory`);
  if (st.uid !== UID) fail(`${dir} is owned by uid ${st.uid}, not ${UID}`);
  if (st.mode & 0o022) fail(`${dir} is writable by group or others (mode ${(st.mode & 0o7777).toString(8)})`);
}

// `dir` and its missing parents, made 0700 one component at a time; the last one is checked.
// The usual case, `dir` already there, is one lstat (every mkdir would answer EEXIST).
/** @param {string} dir */
function privateDir(dir) {
  let st = fs.lstatSync(dir, { throwIfNoEntry: false });
  if (!st) {
    const parts = path.resolve(dir).split(path.sep).filter(Boolean);
    let cur = '';
    for (const part of parts) {
      cur += path.sep + part;
      try {
        fs.mkdirSync(cur, { mode: 0o700 });
      } catch (err) {
        if (errno(err) !== 'EEXIST') fail(`cannot create ${cur}: ${why(err)}`);
      }
    }
    st = fs.lstatSync(dir);
  }
  checkDir(dir, st);
  const parent = fs.statSync(path.dirname(dir));
  if (parent.mode & 0o002 && !(parent.mode & 0o1000))
    fail(`${path.dirname(dir)} is writable by others and not sticky`);
}

// Whether the open file holds exactly `want` (the executable's own copy of the addon): its
// size, then its bytes. A byte-for-byte comparison proves what a digest would, and costs
// ~50 us where sha256 through node:crypto cost ~5 ms per call (OpenSSL's initialisation).
/** @param {number} fd @param {number} size @param {Buffer} want */
function sameBytes(fd, size, want) {
  if (size !== want.length) return false;
  const buf = Buffer.allocUnsafe(want.length + 1);
  let off = 0;
  for (;;) {
    const n = fs.readSync(fd, buf, off, buf.length - off, off);
    if (n === 0) break;
    off += n;
    if (off > want.length) return false;
  }
  return off === want.length && buf.subarray(0, off).equals(want);
}

// An fd of `file` when it is exactly the executable's copy `want`; otherwise undefined and why.
/** @param {string} file @param {Buffer} want @returns {{ fd: number, why?: undefined } | { fd?: undefined, why: string }} */
function openVerified(file, want) {
  let fd;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    return { why: errno(err) === 'ENOENT' ? 'missing' : `cannot open (${errno(err)})` };
  }
  let why;
  const st = fs.fstatSync(fd);
  if (!st.isFile()) why = 'not a regular file';
  else if (st.uid !== UID) why = `owned by uid ${st.uid}`;
  else if ((st.mode & 0o777) !== 0o600) why = `mode ${(st.mode & 0o777).toString(8)}, not 600`;
  else if (!sameBytes(fd, st.size, want)) why = 'its content is not the one this executable carries';
  if (!why) return { fd };
  fs.closeSync(fd);
  return { why };
}

/** @param {string} file @param {string} rel */
function write(file, rel) {
  const tmp = `${path.dirname(file)}/.${path.basename(file)}.${process.pid}.${Math.random().toString(16).slice(2, 10)}.tmp`;
  try {
    fs.writeFileSync(tmp, new Uint8Array(sea.getRawAsset(`natives/${rel}`)), { mode: 0o600, flag: 'wx' });
    fs.chmodSync(tmp, 0o600); // whatever the umask
    fs.renameSync(tmp, file);
  } catch (err) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // not written
    }
    fail(`cannot write ${file}: ${why(err)}`);
  }
}

// The verified addon `rel` (an open fd and its path), from the first directory that works.
/** @param {string} rel @param {string} hash @param {Buffer} want @returns {{ fd: number, file: string }} */
function extract(rel, hash, want) {
  const name = path.basename(rel);
  const problems = [];
  for (const root of roots()) {
    try {
      privateDir(root);
      const dir = path.join(root, hash);
      privateDir(dir);
      const file = path.join(dir, name);
      let got = openVerified(file, want);
      if (got.fd === undefined) {
        write(file, rel);
        got = openVerified(file, want);
        if (got.fd === undefined) fail(`${file}: ${got.why} after writing it`);
      }
      return { fd: got.fd, file };
    } catch (err) {
      problems.push(`${root}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return fail(
    `cannot load native addon ${rel}: no usable directory (${problems.join('; ')}); set MANIFOLD_NATIVE_DIR to a directory only this user can write`,
  );
}

// Loads the verified open file itself; by path only where /proc is not mounted. The fd stays
// open for the life of the process: the dynamic loader knows a library by the name it was
// opened under, and a reused fd number would make it hand back the first one.
/** @param {{ fd: number, file: string }} addon @returns {unknown} */
function dlopenVerified({ fd, file }) {
  const mod = { exports: {} };
  const byFd = `/proc/self/fd/${fd}`;
  process.dlopen(mod, fs.existsSync(byFd) ? byFd : file);
  return mod.exports;
}

/** @type {Map<string, unknown>} */
const loaded = new Map();
/** @param {string} id */
function seaRequire(id) {
  if (typeof id === 'string' && id.startsWith(`${VDIR}/`) && id.endsWith('.node')) {
    const rel = id.slice(VDIR.length + 1);
    const hash = manifest.natives[rel];
    if (!hash) throw new Error(`native addon ${rel} is not in this executable`);
    // the executable's own bytes of the addon, a view of the blob (no copy)
    if (!loaded.has(rel))
      loaded.set(rel, dlopenVerified(extract(rel, hash, Buffer.from(sea.getRawAsset(`natives/${rel}`)))));
    return loaded.get(rel);
  }
  return require(id);
}

// VERSION depends on nothing but CNI_COMMAND (no stdin, no config, no other variable): the
// build recorded the bundle's own answer, replayed here without compiling the bundle (its
// code cache alone costs more than the rest of a VERSION call). With command-line arguments
// the call is a person's command, not CNI: the bundle decides.
if (
  process.env.CNI_COMMAND === 'VERSION' &&
  process.argv.length <= 2 &&
  typeof manifest.version === 'string'
) {
  let out = Buffer.from(manifest.version);
  while (out.length > 0) {
    try {
      out = out.subarray(fs.writeSync(1, out));
    } catch (err) {
      if (errno(err) !== 'EAGAIN') process.exit(1);
    }
  }
  process.exit(0);
}

// `manifold daemon` is one long-lived process, where the 16 MB young generation that spares a
// CNI call its scavenges (build.sh) only holds memory: two 16 MB semi-spaces that V8 never
// shrinks below their minimum. The daemon replaces itself (execve: the same PID, before the
// bundle is compiled) with the V8 flags of a long-lived process, passed as `--node-options`
// (the config's execArgvExtension "cli": a runtime never passes it). Measured with
// test/soak/daemon.soak.ts, 200 pods x 4 attachments, after the churn / peak: 117-127 / 132-156
// MiB with the executable's flags, 99-116 / 99-118 MiB with these (the peak and the sawtooth
// go; what is left after the churn varies from run to run by ~25 MiB of malloc and V8 heap).
const DAEMON_V8 = '--min-semi-space-size=1 --max-semi-space-size=1';
if (
  process.argv[2] === 'daemon' &&
  process.env.MANIFOLD_DAEMON_V8 !== DAEMON_V8 &&
  typeof process.execve === 'function'
) {
  try {
    process.execve(
      process.execPath,
      [process.execPath, `--node-options=${DAEMON_V8}`, ...process.argv.slice(2)],
      {
        ...process.env,
        MANIFOLD_DAEMON_V8: DAEMON_V8,
      },
    );
  } catch {
    // not replaced (the executable gone, or not executable by us): serve with the call's flags
  }
}
delete process.env.MANIFOLD_DAEMON_V8; // not for the plugins it executes

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
