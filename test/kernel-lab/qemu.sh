# shellcheck shell=bash
# Sourced by run-in-vm: which QEMU binary, which accelerator, and the igb NICs.

LAB_QEMU=qemu-system-x86_64 # the binary to run
LAB_QEMU_OPTS=()            # options that depend on the binary, accelerator and NICs

lab_qemu_has_igb() { # <qemu> [options...]
  "$@" -device igb,help 2>/dev/null | grep -q '^igb options'
}

# QEMU emulates the Intel 82576 (igb, with PCI SR-IOV) only from version 8 on; Debian 12 ships
# 7.2. When the system's QEMU lacks it, QEMU from <codename>-backports is unpacked into
# $LAB_CACHE/qemu-backports (its shared libraries are the ones the system's QEMU already
# pulled in) and used instead.
lab_qemu_for_igb() {
  lab_qemu_has_igb qemu-system-x86_64 && return 0
  local dir=$LAB_CACHE/qemu-backports
  if [ ! -f "$dir/STAMP" ]; then
    lab_lock
    [ -f "$dir/STAMP" ] || lab_qemu_backports_setup "$dir"
    lab_unlock
  fi
  LAB_QEMU=$dir/usr/bin/qemu-system-x86_64
  export QEMU_MODULE_DIR=$dir/usr/lib/x86_64-linux-gnu/qemu
  LAB_QEMU_OPTS+=(-L "$dir/usr/share/qemu" -L "$dir/usr/share/seabios")
  lab_qemu_has_igb "$LAB_QEMU" "${LAB_QEMU_OPTS[@]}" ||
    lab_fail "$LAB_QEMU (from backports) cannot emulate igb; remove $dir to fetch it again"
}

lab_qemu_backports_setup() { # <destination dir>
  local codename mirror tmp pkg
  codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || lab_fail "cannot tell the Debian release from /etc/os-release"
  # The mirror the system already uses for <codename>/main, from apt's own view.
  mirror=$(apt-cache policy 2>/dev/null | awk -v suite="$codename/main" '$3 == suite { print $2; exit }')
  [ -n "$mirror" ] || lab_fail "no apt source for $codename/main, so no mirror for $codename-backports"
  lab_say "one-time setup: QEMU from $codename-backports into $1"
  lab_scratch tmp
  # A private apt state: the system's sources, lists and cache are left alone.
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/sources.d" "$tmp/debs" "$tmp/root"
  printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s-backports main\n' \
    "$mirror" "$codename" >"$tmp/sources.list"
  local apt=(apt-get -q=2 -o "Dir::Etc::SourceList=$tmp/sources.list"
    -o "Dir::Etc::SourceParts=$tmp/sources.d" -o "Dir::State::Lists=$tmp/lists"
    -o "Dir::Cache=$tmp/cache" -o "APT::Sandbox::User=$(id -un)")
  "${apt[@]}" update >&2 || lab_fail "apt-get update of $codename-backports failed"
  local want=()
  for pkg in qemu-system-x86 qemu-system-common qemu-system-data seabios; do
    want+=("$pkg/$codename-backports")
  done
  (cd "$tmp/debs" && "${apt[@]}" download "${want[@]}") >&2 ||
    lab_fail "downloading QEMU from $codename-backports failed"
  for pkg in "$tmp"/debs/*.deb; do dpkg -x "$pkg" "$tmp/root" || lab_fail "cannot unpack $pkg"; done
  (cd "$tmp/debs" && ls) >"$tmp/root/STAMP"
  chmod 755 "$tmp/root"
  rm -rf "$1"
  mv "$tmp/root" "$1" || lab_fail "cannot move QEMU into $1"
  lab_scratch_cleanup
}

# One PCIe root port per NIC, so that each PF and its VFs get a bus of their own.
lab_qemu_igb_nics() { # <count>
  local i
  for ((i = 1; i <= $1; i++)); do
    LAB_QEMU_OPTS+=(-device "pcie-root-port,id=lab-rp$i,chassis=$i,slot=$i"
      -device "igb,bus=lab-rp$i,romfile=")
  done
}

# Why KVM cannot be used here, or nothing when it can.
lab_kvm_unusable() {
  if [ ! -e /dev/kvm ]; then
    echo "there is no /dev/kvm"
  elif [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    echo "/dev/kvm is not readable and writable for $(id -un)"
  elif [ -d /sys/module/kvm_pvm ]; then
    echo "/dev/kvm is PVM (kvm_pvm), which does not run a stock kernel at a usable speed"
  elif ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
    echo "the CPU shows neither vmx nor svm"
  fi
}

lab_qemu_accel() {
  local accel=$LAB_ACCEL why
  if [ "$accel" = auto ]; then
    why=$(lab_kvm_unusable)
    if [ -z "$why" ]; then
      accel=kvm
    else
      accel=tcg
      lab_warn "$why; using TCG software emulation (much slower than KVM)"
    fi
  fi
  if [ "$accel" = kvm ]; then
    LAB_QEMU_OPTS+=(-accel kvm -cpu host)
  else
    LAB_QEMU_OPTS+=(-accel "tcg,thread=multi" -cpu max)
  fi
}
