#!/usr/bin/env bash
# Runs every test tier in order and says loudly which could not run. Called by
# `./build.sh test` (after the build) and therefore by CI. Exit status: 0 only when every tier
# ran and passed; a tier that cannot run here (not root, no Go) fails the run unless
# MANIFOLD_TEST_ALLOW_SKIP=1, so CI can never pass by skipping.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

# What the tests leave behind. Every test removes what it made, on failure too
# (test/helpers/scratch.ts, isolateHost's netns cleanup); this checks it at the end.
#   Files: the run gets its own TMPDIR, so what is left there is this run's, whatever other runs
#   do meanwhile. Entries named with the project's prefixes (mf-*, manifold-*) fail the run;
#   anything else there (Node's compile cache, a tool's scratch) is only listed. The directory
#   is removed at the end either way (MANIFOLD_TEST_KEEP_TMP=1 keeps it to look at).
#   Network namespaces: /run/netns is shared, so names with the project's prefix (mf*) that
#   appeared during the run and are still there fail it, unless another run-all.sh is still
#   running at the end (each holds a shared lock for its lifetime): then they are listed, not
#   judged. A test run started by hand (vitest alone) holds no lock: run the suite alone.
OWN_FILES='^(mf|manifold)-'
OWN_NETNS='^mf'
RUN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/manifold-test-run.XXXXXX")
trap '[ "${MANIFOLD_TEST_KEEP_TMP:-0}" = 1 ] || rm -rf -- "$RUN_TMP"' EXIT
export TMPDIR=$RUN_TMP
netns_names() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "$OWN_NETNS" | sort; }
NETNS_BEFORE=$(netns_names)
if [ -d /run/lock ] && exec 8>/run/lock/manifold-test-run.lock; then flock -s 8; fi

declare -a PASSED=() FAILED=() SKIPPED=()
banner() { printf '\n\033[1;44m %-78s \033[0m\n' "$*"; }
loud() { printf '\n\033[1;41m %-78s \033[0m\n' "$@" >&2; }

tier() { # name, reason-if-cannot-run (empty = can run), command...
  local name=$1 why=$2; shift 2
  banner "tier: $name"
  if [ -n "$why" ]; then
    loud "TIER $name CANNOT RUN HERE: $why" "Its tests did NOT run. CI runs as root and runs every tier."
    SKIPPED+=("$name ($why)")
    return
  fi
  local t0=$SECONDS
  if "$@"; then PASSED+=("$name ($((SECONDS - t0)) s)"); else FAILED+=("$name"); fi
}

ROOT_WHY=; [ "$(id -u)" = 0 ] || ROOT_WHY="needs root (network namespaces, netlink)"
GO_WHY=$ROOT_WHY
if [ -z "$GO_WHY" ]; then
  command -v go >/dev/null || GO_WHY="needs Go (apt-get install golang-go golang-github-appc-cni-dev)"
  [ -n "$GO_WHY" ] || [ -d /usr/share/gocode/src/github.com/containernetworking/cni/libcni ] \
    || GO_WHY="needs Debian's libcni sources (apt-get install golang-github-appc-cni-dev)"
fi
RUNTIME_WHY=$ROOT_WHY
if [ -z "$RUNTIME_WHY" ]; then
  for c in containerd runc ctr nsenter setpriv; do
    command -v "$c" >/dev/null || { RUNTIME_WHY="needs $c (build.sh's TEST_PKGS: containerd runc gcc-12 libc6-dev)"; break; }
  done
fi
VM_WHY=$ROOT_WHY
[ -n "$VM_WHY" ] || [ -x test/kernel-lab/run-in-vm ] || VM_WHY="test/kernel-lab/run-in-vm is missing or not executable"

tier unit "" npm test --silent
tier integration "$ROOT_WHY" vitest run --project integration --passWithNoTests
tier vm "$VM_WHY" bash test/vm/run.sh
tier e2e "$GO_WHY" vitest run --project e2e --passWithNoTests
# the e2e files that test the protocol and the kernel again, through the shim and one
# `manifold daemon` per file (test/helpers/mode.ts says which files and why)
tier e2e-daemon "$GO_WHY" vitest run --project e2e-daemon
# the integration tier's config fuzzing again, every case through the shim to one daemon
tier fuzz-daemon "$ROOT_WHY" vitest run --project fuzz-daemon
tier runtime "$RUNTIME_WHY" vitest run --project runtime
# containerd's file again, the node installed with `install --mode daemon` and a `manifold
# daemon` beside containerd: every CRI outcome through the shim, 0 fallbacks (test/runtime/node.ts)
tier runtime-daemon "$RUNTIME_WHY" vitest run --project runtime-daemon

banner "leftovers"
LEFT=()
shopt -s dotglob nullglob
for e in "$RUN_TMP"/*; do
  n=${e##*/}
  if [[ $n =~ $OWN_FILES ]]; then LEFT+=("$TMPDIR/$n ($(du -sh -- "$e" 2>/dev/null | cut -f1))")
  else echo "  (not the project's, removed with the run's TMPDIR: $n)"; fi
done
shopt -u dotglob nullglob
NEW_NETNS=$(comm -13 <(echo "$NETNS_BEFORE") <(netns_names))
if [ -n "$NEW_NETNS" ]; then
  if flock -n -x 8 2>/dev/null; then
    for n in $NEW_NETNS; do LEFT+=("netns $n"); done
  else
    echo "  another test run is in progress: netns it may own, not judged: $(echo $NEW_NETNS)"
  fi
fi
if [ ${#LEFT[@]} -gt 0 ]; then
  loud "TESTS LEFT ${#LEFT[@]} THING(S) BEHIND: each test must remove what it made, on failure too"
  printf '  left: %s\n' "${LEFT[@]}" >&2
  FAILED+=("leftovers (${#LEFT[@]})")
else
  echo "  nothing left behind"
fi

banner "summary"
for t in "${PASSED[@]}"; do echo "  passed:  $t"; done
for t in "${FAILED[@]}"; do echo "  FAILED:  $t"; done
for t in "${SKIPPED[@]}"; do echo "  NOT RUN: $t"; done
[ ${#FAILED[@]} -eq 0 ] || exit 1
if [ ${#SKIPPED[@]} -gt 0 ] && [ "${MANIFOLD_TEST_ALLOW_SKIP:-0}" != 1 ]; then
  loud "some tiers did not run; set MANIFOLD_TEST_ALLOW_SKIP=1 to accept that locally"
  exit 1
fi
exit 0
