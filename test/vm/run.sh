#!/usr/bin/env bash
# The vm tier: the tests that need a kernel this host lacks (ipvlan, 802.1Q, bridge VLAN
# filtering, netdevsim, PCI SR-IOV) run inside the repository's kernel lab
# (test/kernel-lab/run-in-vm), few VM boots in all. The lab's own self-test goes first: a lab
# that lost the guest's exit status would let every VM test pass.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/node_modules/.bin:$PATH"   # vitest must run on the pinned Node 24 in the VM too
LAB=test/kernel-lab/run-in-vm
shopt -s nullglob
plain=(test/vm/*.vm.test.ts)
igb=(test/vm/*.igb.test.ts)
bash test/kernel-lab/self-test.sh || exit 1
rc=0
if [ ${#plain[@]} -gt 0 ]; then
  "$LAB" -- node_modules/.bin/vitest run --project vm "${plain[@]}" || rc=1
fi
if [ ${#igb[@]} -gt 0 ]; then
  MANIFOLD_VM_IGB=1 "$LAB" -- node_modules/.bin/vitest run --project vm "${igb[@]}" || rc=1
fi
[ ${#plain[@]} -gt 0 ] || [ ${#igb[@]} -gt 0 ] || echo "vm tier: no VM tests yet"
exit $rc
