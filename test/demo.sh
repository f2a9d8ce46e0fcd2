#!/usr/bin/env bash
# The demo (`./build.sh demo`): one CNI ADD of the meta-plugin attaches a pod namespace to
# three networks from conf.d-examples (bridge as the cluster network, macvlan and vxlan as
# defaultNetworks); the merged result and the pod's interfaces are printed, CHECK runs, then
# DEL removes everything. The demo's "host" is a namespace of its own, so the machine's
# interfaces are never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it creates network namespaces)" >&2; exit 1; }
BIN=$PWD/dist/bin
[ -x "$BIN/manifold" ] || { echo "demo: $BIN/manifold is missing; run ./build.sh" >&2; exit 1; }
HOST=manifold-demo-host
POD=manifold-demo-pod
STATE=/run/manifold-demo
NODE=$PWD/node_modules/.bin/node

cleanup() {
  ip netns del "$POD" 2>/dev/null || true
  ip netns del "$HOST" 2>/dev/null || true
  rm -rf "$STATE"
}
trap cleanup EXIT
cleanup
title() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

ip netns add "$HOST"
ip netns add "$POD"
H=(ip netns exec "$HOST")
"${H[@]}" ip link set lo up
"${H[@]}" ip link add mfdemo0 type veth peer name mfdemo0p   # the node's "NIC": macvlan master, vxlan underlay
"${H[@]}" ip addr add 192.0.2.1/24 dev mfdemo0
"${H[@]}" ip link set mfdemo0 up
"${H[@]}" ip link set mfdemo0p up
mkdir -p "$STATE"
sed "s#\"confDir\": \"[^\"]*\"#\"confDir\": \"$PWD/conf.d-examples\"#" conf.d-examples/00-manifold.conf >"$STATE/manifold.conf"

cni() { # verb [config file]
  "${H[@]}" env CNI_COMMAND="$1" CNI_CONTAINERID=demo-pod CNI_NETNS="/run/netns/$POD" CNI_IFNAME=eth0 \
    CNI_PATH="$BIN" "$BIN/manifold" <"${2:-$STATE/manifold.conf}"
}

title "config: $STATE/manifold.conf (networks resolved from conf.d-examples)"
cat "$STATE/manifold.conf"
title "ADD"
cni ADD | tee "$STATE/result.json"
title "the pod's interfaces, routes and policy rules (policyRouting: docs/multihoming.md)"
ip -n "$POD" -br addr
ip -n "$POD" route
ip -n "$POD" rule
title "the host's side"
"${H[@]}" ip -br link | grep -E 'mfbr0|vxlan|veth' || true
title "CHECK (with the result as prevResult)"
"$NODE" -e 'const fs=require("fs"); const c=JSON.parse(fs.readFileSync(process.argv[1])); c.prevResult=JSON.parse(fs.readFileSync(process.argv[2])); fs.writeFileSync(process.argv[3], JSON.stringify(c));' \
  "$STATE/manifold.conf" "$STATE/result.json" "$STATE/check.conf"
cni CHECK "$STATE/check.conf" && echo "CHECK passed"
title "DEL"
cni DEL && echo "DEL done"
title "after DEL"
ip -n "$POD" -br link
left=$(find "$STATE/ipam" -type f -name '[0-9]*' 2>/dev/null | wc -l)
echo "IP reservations left: $left"
rules=$(ip -n "$POD" rule | wc -l)
echo "policy rules left beyond the kernel's three: $((rules - 3))"
[ "$(ip -n "$POD" -br link | wc -l)" = 1 ] && [ "$left" = 0 ] && [ "$rules" = 3 ] || { echo "demo: DEL left something behind" >&2; exit 1; }
title "log: $STATE/manifold.log"
cat "$STATE/manifold.log" 2>/dev/null || true
