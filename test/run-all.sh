#!/usr/bin/env bash
# Runs every test tier in order and says loudly which could not run. Called by
# `./build.sh test` (after the build) and therefore by CI. Exit status: 0 only when every tier
# ran and passed; a tier that cannot run here (not root, no Go) fails the run unless
# MANIFOLD_TEST_ALLOW_SKIP=1, so CI can never pass by skipping.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

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
tier runtime "$RUNTIME_WHY" vitest run --project runtime

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
