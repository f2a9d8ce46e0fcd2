# shellcheck shell=bash disable=SC2034 # the LAB_* variables are used by the other files
# Sourced by run-in-vm: messages, exit codes, settings and the Debian package helpers.

# Exit codes of run-in-vm itself (anything else is the guest command's own status).
readonly LAB_RC_USAGE=2
readonly LAB_RC_TIMEOUT=124
readonly LAB_RC_VM=125

lab_say() { printf 'kernel-lab: %s\n' "$*" >&2; }
lab_warn() { printf 'kernel-lab: warning: %s\n' "$*" >&2; }
lab_fail() {
  printf 'kernel-lab: error: %s\n' "$*" >&2
  exit "$LAB_RC_VM"
}

# Every setting, with its default. Documented in README.md ("Settings").
lab_settings() {
  LAB_CACHE=${MANIFOLD_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/manifold-kernel-lab}
  LAB_KERNEL_PKG=${MANIFOLD_VM_KERNEL:-linux-image-amd64}
  LAB_IGB=${MANIFOLD_VM_IGB:-0}
  LAB_ACCEL=${MANIFOLD_VM_ACCEL:-auto}
  LAB_TIMEOUT=${MANIFOLD_VM_TIMEOUT:-1200}
  LAB_MEM=${MANIFOLD_VM_MEM:-2048}
  LAB_CPUS=${MANIFOLD_VM_CPUS:-}
  LAB_CONSOLE=${MANIFOLD_VM_CONSOLE:-0}
  if [ -z "$LAB_CPUS" ]; then
    LAB_CPUS=$(nproc)
    [ "$LAB_CPUS" -le 4 ] || LAB_CPUS=4
  fi
  local n
  for n in LAB_IGB LAB_TIMEOUT LAB_MEM LAB_CPUS; do
    [[ ${!n} =~ ^[0-9]+$ ]] || lab_fail "MANIFOLD_VM_${n#LAB_} must be a whole number, not '${!n}'"
  done
  [ "$LAB_CPUS" -ge 1 ] || lab_fail "MANIFOLD_VM_CPUS must be at least 1"
  case $LAB_ACCEL in auto | kvm | tcg) ;; *) lab_fail "MANIFOLD_VM_ACCEL must be auto, kvm or tcg" ;; esac
}

# Runs a command as root: directly when we are root, else through sudo.
lab_as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -- "$@"
  else
    lab_fail "needs root for: $*"
  fi
}

# apt-get update, at most once per run (a download needs current package lists).
LAB_APT_FRESH=0
lab_apt_update() {
  [ "$LAB_APT_FRESH" = 1 ] && return 0
  LAB_APT_FRESH=1
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; then
    lab_warn "not root and no sudo: using the package lists as they are (no apt-get update)"
    return 0
  fi
  lab_say "apt-get update"
  lab_as_root apt-get update -qq >&2 || lab_fail "apt-get update failed"
}

lab_pkg_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# Installs those of the given Debian packages that are not installed yet.
lab_need_pkgs() {
  local p todo=()
  for p in "$@"; do lab_pkg_installed "$p" || todo+=("$p"); done
  [ ${#todo[@]} -gt 0 ] || return 0
  lab_apt_update
  lab_say "apt-get install ${todo[*]}"
  local out
  if ! out=$(lab_as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${todo[@]}" 2>&1); then
    printf '%s\n' "$out" | tail -n 25 >&2
    lab_fail "could not install ${todo[*]}"
  fi
}

# Takes the cache's setup lock (fd 8) until lab_unlock; concurrent runs wait here.
LAB_WAITED=0
lab_lock() {
  mkdir -p "$LAB_CACHE" || lab_fail "cannot create the cache $LAB_CACHE"
  exec 8>"$LAB_CACHE/setup.lock"
  flock -n 8 && return 0
  [ "$LAB_WAITED" = 1 ] || lab_say "waiting for another run-in-vm that is setting up $LAB_CACHE"
  LAB_WAITED=1
  flock 8
}
lab_unlock() { exec 8>&-; }

# Scratch directories of a setup step, removed on exit whatever happens.
LAB_SCRATCH=()
lab_scratch() { # <var> : makes a fresh directory inside the cache, stores its path in <var>
  local d
  d=$(mktemp -d "$LAB_CACHE/.tmp.XXXXXX") || lab_fail "cannot create a directory in $LAB_CACHE"
  LAB_SCRATCH+=("$d")
  printf -v "$1" '%s' "$d"
}
lab_scratch_cleanup() {
  local d
  for d in "${LAB_SCRATCH[@]}"; do rm -rf -- "$d"; done
  LAB_SCRATCH=()
}
