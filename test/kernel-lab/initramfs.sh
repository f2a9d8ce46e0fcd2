# shellcheck shell=bash
# Sourced by run-in-vm: the initramfs, built once per kernel and per version of guest-init.sh.
# It holds static busybox, guest-init.sh as /init, and the modules /init needs before the
# host's root can be mounted: virtio PCI, the virtio console (stdout/stderr ports), 9p over
# virtio, and overlayfs. Uncompressed: the guest then does not spend time in gunzip.

LAB_BOOT_MODULES=(virtio_pci virtio_console 9pnet_virtio 9p overlay)
LAB_INITRAMFS= # set by lab_initramfs

lab_initramfs() {
  local key
  key=$({
    cat "$LAB_HERE/guest-init.sh" /bin/busybox
    echo "${LAB_BOOT_MODULES[*]}"
  } | sha256sum | cut -c1-16)
  LAB_INITRAMFS=$LAB_KDIR/initramfs-$key.cpio
  [ -f "$LAB_INITRAMFS" ] && return 0
  lab_lock
  [ -f "$LAB_INITRAMFS" ] || lab_initramfs_build
  lab_unlock
}

lab_initramfs_build() {
  lab_need_pkgs busybox-static kmod
  local tree out m
  lab_scratch tree
  lab_scratch out
  mkdir -p "$tree"/{bin,dev,proc,sys,modules,host,changes,newroot}
  cp /bin/busybox "$tree/bin/busybox"
  install -m 0755 "$LAB_HERE/guest-init.sh" "$tree/init"
  # Every module with its dependencies, in load order, each once; built-ins are skipped.
  for m in "${LAB_BOOT_MODULES[@]}"; do
    modprobe -d "$LAB_KDIR" -S "$LAB_KREL" --show-depends "$m" ||
      lab_fail "module $m not found for $LAB_KREL"
  done | while read -r verb path _; do
    [ "$verb" = insmod ] || continue
    [ -e "$tree/modules/${path##*/}" ] && continue
    cp "$path" "$tree/modules/"
    echo "${path##*/}" >>"$tree/modules/order"
  done
  [ -s "$tree/modules/order" ] || lab_fail "no boot modules were found for $LAB_KREL"
  (cd "$tree" && find . -mindepth 1 | LC_ALL=C sort | /bin/busybox cpio -o -H newc 2>/dev/null) \
    >"$out/initramfs.cpio" || lab_fail "cannot write the initramfs"
  mv "$out/initramfs.cpio" "$LAB_INITRAMFS" || lab_fail "cannot move the initramfs into $LAB_KDIR"
  lab_scratch_cleanup
}
