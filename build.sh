#!/usr/bin/env bash
# manifold build and task runner.
#   ./build.sh          install dependencies, type-check, bundle, make dist/bin/manifold + links
#   ./build.sh demo     build, then attach a namespace to the example networks and remove it
#   ./build.sh test     build, then run every test tier (unit, integration, vm, e2e, runtime)
#   ./build.sh bench    build, then compare against the reference plugins
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
export PATH="$ROOT/node_modules/.bin:$PATH"
# node-gyp builds the addon against the machine's Node headers (Node-API is ABI-stable, so the
# addon loads in Node 24 too); never let it try to download headers.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_api.h ]; then export npm_config_nodedir=/usr; fi

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

install_deps() {
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "npm ci"
    npm ci --no-audit --no-fund
  fi
  [ "$(node --version)" = "v$(node -p 'require("./node_modules/node/package.json").version')" ] \
    || { echo "build.sh: node_modules/.bin/node is not the pinned Node" >&2; exit 1; }
}

build_native() {
  local out=src/native/build/Release/manifold_native.node stale=
  for f in src/native/*.c src/native/*.h src/native/binding.gyp; do [ "$f" -nt "$out" ] && stale=1; done
  if [ ! -f "$out" ] || [ -n "$stale" ]; then
    log "native addon (node-gyp)"
    npm run --silent build:native >/dev/null
  fi
}

# The daemon-mode shim (src/shim/shim.c): a static C program, no dependency beyond libc, carried
# in the executable as the asset `shim` and written out by `manifold install --mode daemon`.
SHIM=dist/shim/manifold-shim
SHIM_CFLAGS=(-static -Os -s -ffunction-sections -fdata-sections -Wl,--gc-sections -Wall -Wextra -Werror)
build_shim() {
  if [ ! -f "$SHIM" ] || [ src/shim/shim.c -nt "$SHIM" ] || [ build.sh -nt "$SHIM" ]; then
    log "shim (gcc ${SHIM_CFLAGS[*]})"
    mkdir -p "$(dirname "$SHIM")"
    gcc "${SHIM_CFLAGS[@]}" -o "$SHIM.tmp" src/shim/shim.c
    mv "$SHIM.tmp" "$SHIM"
  fi
  # the config region install patches: its marker must occur exactly once
  [ "$(grep -a -o '@@MANIFOLD-SHIM-CONFIG@@' "$SHIM" | wc -l)" = 1 ] \
    || { echo "build.sh: $SHIM does not hold its config marker exactly once" >&2; exit 1; }
}

compile() {
  log "type-check and compile (tsc)"
  rm -rf build
  tsc -p tsconfig.build.json
  # The compiled files use ESM syntax; an empty package.json lets ncc treat them as modules
  # of either kind and emit one CommonJS bundle (lazy imports stay in it, evaluated on demand).
  echo '{}' > build/package.json
  # CommonJS shims (lazy requires of native code) are not emitted by tsc: copy them as they are.
  find src -name '*.cjs' ! -path 'src/sea/*' | while read -r f; do mkdir -p "build/$(dirname "$f")"; cp "$f" "build/$f"; done
  mkdir -p build/src/native/build/Release
  cp src/native/build/Release/manifold_native.node build/src/native/build/Release/
}

bundle() {
  log "bundle (ncc)"
  rm -rf dist/ncc
  ncc build build/src/main.js -o dist/ncc --minify --quiet --no-source-map-register
  # Every import() must stay in the one bundle (webpackMode "eager"); a split chunk could not
  # be loaded from the single executable.
  local chunks; chunks=$(find dist/ncc -name '*.js' ! -path dist/ncc/index.js)
  echo '{"type":"commonjs"}' > dist/ncc/package.json  # lets `node dist/ncc/index.js` run it (profiling)
  if [ -n "$chunks" ]; then
    echo "build.sh: ncc split the bundle ($chunks): an import() lacks /* webpackMode: \"eager\" */" >&2
    exit 1
  fi
}

# V8 flags of the executable (SEA execArgv; NODE_OPTIONS is ignored). A CNI call allocates
# ~10 MB and exits: with V8's default 1 MB initial young generation it spends 3-14 ms in
# scavenges that copy objects living until exit anyway; a 16 MB one makes none.
SEA_V8_FLAGS=(--min-semi-space-size=16)

single_executable() {
  log "single executable (Node $(node --version) SEA)"
  local w=dist/sea
  rm -rf "$w" && mkdir -p "$w" dist/bin
  cp dist/ncc/index.js "$w/manifold.js"
  cp "$SHIM" "$w/shim"
  # V8 accepts a code cache only under the flags it was made with: the same as the executable's
  node "${SEA_V8_FLAGS[@]}" src/sea/make-cache.cjs "$w/manifold.js" "$w/manifold.jscache" dist/ncc
  # the manifest entry.cjs reads (each addon's directory, the answer to VERSION) and the SEA config
  node src/sea/manifest.cjs dist/ncc "$w" "${SEA_V8_FLAGS[@]}"
  node --experimental-sea-config "$w/sea-config.json" >/dev/null 2>&1
  cp "$(readlink -f node_modules/.bin/node)" "$w/manifold"
  strip --strip-all "$w/manifold" 2>/dev/null || true  # drops .symtab (17 MB); .dynsym stays for addons
  postject "$w/manifold" NODE_SEA_BLOB "$w/sea.blob" \
    --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >/dev/null
  mv "$w/manifold" dist/bin/manifold
  # one link per built-in type, from the registry (src/registry.ts): the executable dispatches on it
  local builtins
  read -ra builtins < <(node --input-type=module -e \
    "const r = await import('./src/registry.ts'); console.log(r.builtinTypes('link', 'ipam').join(' '))")
  [ ${#builtins[@]} -gt 0 ] || { echo "build.sh: the registry lists no built-in plugin" >&2; exit 1; }
  find dist/bin -maxdepth 1 -type l -delete
  for b in "${builtins[@]}"; do ln -sfn manifold "dist/bin/$b"; done
  # smoke: the executable answers VERSION with an empty environment, as the bundle does
  [ "$(env -i CNI_COMMAND=VERSION dist/bin/manifold)" = "$(env -i CNI_COMMAND=VERSION node dist/ncc/index.js)" ] \
    || { echo "build.sh: the executable's VERSION differs from the bundle's" >&2; exit 1; }
  log "built dist/bin/manifold ($(du -h dist/bin/manifold | cut -f1)) and links: ${builtins[*]}"
}

build() {
  # one build at a time in this tree (parallel test runs share build/ and dist/)
  exec 9>"$ROOT/.build.lock"
  flock 9
  install_deps
  build_native
  build_shim
  compile
  bundle
  single_executable
}

# Debian packages a task needs at run time, installed when missing (as root; else say which).
#   demo: iproute2 (the demo's namespaces), nftables (the bridge network masquerades)
#   test: also the libcni e2e client (Go + Debian's libcni sources), the reference plugins
#         (compared against, and real external delegates), ping, openssl (the Kubernetes
#         tests' CA and certificates), what kernel-lab needs, and the runtime tier's
#         container runtime: containerd and runc (started privately by the tier; the static
#         pause image is built with gcc and libc6-dev's libc.a)
#   bench: the reference plugins and the libcni driver (Go + Debian's libcni sources)
DEMO_PKGS=(iproute2 nftables)
TEST_PKGS=("${DEMO_PKGS[@]}" iputils-ping iptables openssl golang-go golang-github-appc-cni-dev
  containernetworking-plugins qemu-system-x86 kmod busybox-static xz-utils make libelf1 gcc-12
  containerd runc libc6-dev)
BENCH_PKGS=("${DEMO_PKGS[@]}" containernetworking-plugins golang-go golang-github-appc-cni-dev)

need_packages() {
  local p missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$(id -u)" != 0 ]; then
    echo "build.sh: missing Debian packages: ${missing[*]} (apt-get install them as root)" >&2
    return
  fi
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

case "${1:-build}" in
  build) build ;;
  demo) need_packages "${DEMO_PKGS[@]}"; build; exec bash test/demo.sh ;;
  test) need_packages "${TEST_PKGS[@]}"; build; exec bash test/run-all.sh ;;
  bench) need_packages "${BENCH_PKGS[@]}"; build; exec node bench/run.ts ;;
  *) echo "usage: $0 [build|demo|test|bench]" >&2; exit 2 ;;
esac
