#!/usr/bin/env bash
# Self-test of the kernel lab, one VM boot: a failing command's exit status comes back, stdout
# and stderr come back apart, the command runs on the lab's kernel (not the host's) in the
# caller's directory, which is shared read-write, with the caller's environment.
# Run by test/vm/run.sh before the VM tests; exit status 0 when the lab works.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/manifold-lab-selftest.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
cd "$work" || exit 1

problems=0
check() { # <what> <expected> <actual>
  if [ "$2" = "$3" ]; then
    echo "kernel-lab self-test: ok: $1"
  else
    echo "kernel-lab self-test: FAILED: $1: expected '$2', got '$3'" >&2
    problems=$((problems + 1))
  fi
}

# shellcheck disable=SC2016 # expanded in the guest
LAB_SELFTEST_MARK=from-the-host "$here/run-in-vm" -- bash -c '
  echo "out $LAB_SELFTEST_MARK"
  echo "err line" >&2
  uname -r >kernel-release
  exit 7' >"$work/stdout" 2>"$work/stderr"
rc=$?
# The lab's own lines (setup progress on a first run, warnings) stay visible.
grep '^kernel-lab:' "$work/stderr" >&2

check "the command's exit status" 7 "$rc"
check "stdout" "out from-the-host" "$(cat "$work/stdout")"
check "stderr carries the command's line" 1 "$(grep -cx 'err line' "$work/stderr")"
check "stdout has nothing from stderr" 0 "$(grep -c 'err line' "$work/stdout")"
guest_release=$(cat "$work/kernel-release" 2>/dev/null)
check "a file written in the guest's working directory reaches the host" yes \
  "$([ -n "$guest_release" ] && echo yes || echo no)"
if [ -n "$guest_release" ] && [ "$guest_release" = "$(uname -r)" ]; then
  check "the guest runs its own kernel, not the host's" "not $(uname -r)" "$guest_release"
fi
if [ "$problems" -gt 0 ]; then
  echo "kernel-lab self-test: $problems check(s) failed; the lab's stderr was:" >&2
  cat "$work/stderr" >&2
  exit 1
fi
