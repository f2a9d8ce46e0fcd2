# shellcheck shell=bash
# Sourced by run-in-vm: the guest kernel in the cache, set up once.
#
#   $LAB_CACHE/kernel/
#     STAMP                     "<meta package> <image package> <version>", written last
#     vmlinux                   uncompressed kernel (boots through PVH), or the bzImage
#     boot/                     Debian's vmlinuz, config, System.map
#     lib/modules/<release>/    Debian's modules + extra/netdevsim.ko, depmod'ed
#   $LAB_CACHE/downloads/       the .deb files; kept only until a setup succeeds
#
# Nothing is installed from the kernel packages: they are fetched with `apt-get download`
# and unpacked with `dpkg -x`.

LAB_KDIR= # set by lab_kernel: the kernel directory above
LAB_KREL= # set by lab_kernel: the kernel release, e.g. 6.1.0-57-amd64

# Reads the stamp; true when the cache holds a kernel for the configured package.
lab_kernel_cached() {
  local stamp=$LAB_CACHE/kernel/STAMP meta
  [ -f "$stamp" ] || return 1
  read -r meta _ _ <"$stamp" || return 1
  [ "$meta" = "$LAB_KERNEL_PKG" ] || return 1
  LAB_KDIR=$LAB_CACHE/kernel
  LAB_KREL=$(cd "$LAB_KDIR/lib/modules" && echo *)
  [ -d "$LAB_KDIR/lib/modules/$LAB_KREL/kernel" ]
}

lab_kernel() {
  lab_kernel_cached && return 0
  lab_lock
  if ! lab_kernel_cached; then
    lab_kernel_setup
    lab_kernel_cached || lab_fail "kernel setup finished but left no usable kernel in $LAB_CACHE"
  fi
  lab_unlock
}

# First word of a dependency of <package> whose name matches the extended regex <re>.
lab_apt_dep() { # <package> <re>
  apt-cache depends "$1" 2>/dev/null |
    awk -v re="^$2\$" '$1 == "Depends:" && $2 ~ re { print $2; exit }'
}

lab_apt_candidate() { # <package>
  apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }'
}

# Downloads "<name>=<version>" packages into $LAB_CACHE/downloads, skipping those already
# there. apt-get writes into a scratch directory; complete files are moved over afterwards.
lab_download() {
  local dl=$LAB_CACHE/downloads spec name ver todo=() tmp f
  mkdir -p "$dl"
  for spec in "$@"; do
    name=${spec%%=*} ver=${spec#*=}
    compgen -G "$dl/${name}_${ver//:/%3a}_*.deb" >/dev/null || todo+=("$spec")
  done
  [ ${#todo[@]} -gt 0 ] || return 0
  lab_scratch tmp
  lab_say "downloading ${todo[*]}"
  (cd "$tmp" && apt-get download -q=2 -o APT::Sandbox::User="$(id -un)" "${todo[@]}") >&2 ||
    lab_fail "apt-get download ${todo[*]} failed"
  for f in "$tmp"/*.deb; do mv -- "$f" "$dl/"; done
}

# Copies the XZ stream out of a bzImage and decompresses it: an ELF vmlinux, which QEMU
# starts at its PVH entry point, so the guest skips a decompression that takes seconds under
# TCG. Fails (status 1) when the image holds no such stream.
lab_unpack_bzimage() { # <bzImage> <out>
  local off
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$1" | head -n 1 | cut -d: -f1)
  [ -n "$off" ] || return 1
  # xz stops reading at the end of the stream, so tail may die of SIGPIPE: only xz's own
  # status counts.
  xz -dc --single-stream < <(tail -c +"$((off + 1))" "$1") >"$2" 2>/dev/null || return 1
  [ "$(head -c 4 "$2" | od -An -c | tr -d ' ')" = '177ELF' ]
}

lab_kernel_setup() {
  local t0=$SECONDS
  lab_need_pkgs kmod xz-utils make libelf1
  lab_apt_update
  local img krel ver common kbuild compiler gcc srcpkg
  img=$(lab_apt_dep "$LAB_KERNEL_PKG" 'linux-image-[0-9].*')
  [ -n "$img" ] || img=$LAB_KERNEL_PKG # already a concrete image package
  krel=${img#linux-image-}
  ver=$(lab_apt_candidate "$img")
  if [ -z "$ver" ] || [ "$ver" = '(none)' ]; then lab_fail "Debian has no package $img"; fi
  common=$(lab_apt_dep "linux-headers-$krel" 'linux-headers-.*-common')
  kbuild=$(lab_apt_dep "linux-headers-$krel" 'linux-kbuild-.*')
  compiler=$(lab_apt_dep "linux-headers-$krel" 'linux-compiler-gcc-[0-9]+-.*')
  if [ -z "$common" ] || [ -z "$kbuild" ]; then
    lab_fail "cannot resolve the packages linux-headers-$krel depends on"
  fi
  gcc='gcc-12' # what bookworm's kernels use, should the headers not say
  [[ $compiler =~ ^linux-compiler-(gcc-[0-9]+)- ]] && gcc=${BASH_REMATCH[1]}
  srcpkg=linux-source-$(cut -d. -f1,2 <<<"${ver#*:}")
  lab_need_pkgs "$gcc"
  lab_say "one-time setup: kernel $krel ($img $ver) into $LAB_CACHE"

  lab_download "$img=$ver" "linux-headers-$krel=$ver" "$common=$ver" "$kbuild=$ver" "$srcpkg=$ver"
  local dl=$LAB_CACHE/downloads kern tree p
  lab_scratch kern # becomes $LAB_CACHE/kernel
  lab_scratch tree # headers, kbuild, source: only for building netdevsim
  dpkg -x "$dl/${img}_${ver//:/%3a}_"*.deb "$kern" || lab_fail "cannot unpack $img"
  for p in "linux-headers-$krel" "$common" "$kbuild" "$srcpkg"; do
    dpkg -x "$dl/${p}_${ver//:/%3a}_"*.deb "$tree" || lab_fail "cannot unpack $p"
  done
  rm -rf "${kern:?}/usr" # documentation only

  lab_build_netdevsim "$tree" "$krel" "$srcpkg" "$kern/lib/modules/$krel/extra"
  depmod -b "$kern" "$krel" || lab_fail "depmod failed"

  if ! lab_unpack_bzimage "$kern/boot/vmlinuz-$krel" "$kern/vmlinux"; then
    lab_warn "no XZ stream in vmlinuz-$krel: booting the compressed image (slower)"
    cp "$kern/boot/vmlinuz-$krel" "$kern/vmlinux"
  fi
  printf '%s %s %s\n' "$LAB_KERNEL_PKG" "$img" "$ver" >"$kern/STAMP"
  chmod 755 "$kern"
  rm -rf "$LAB_CACHE/kernel"
  mv "$kern" "$LAB_CACHE/kernel" || lab_fail "cannot move the kernel into $LAB_CACHE/kernel"
  rm -rf "$dl"
  lab_scratch_cleanup
  lab_say "kernel set up in $((SECONDS - t0)) s"
}

# netdevsim is off in Debian's config (CONFIG_NETDEVSIM is not set): compile it from the
# matching linux-source as an external module against the unpacked headers.
lab_build_netdevsim() { # <tree> <release> <source package> <destination dir>
  local tree=$1 krel=$2 srcpkg=$3 dest=$4
  local hdr=$tree/usr/src/linux-headers-$krel src=$tree/usr/src/$srcpkg
  # The flavour's Makefile includes the -common one by its installed, absolute path.
  sed -i "s|^include /usr/src/|include $tree/usr/src/|" "$hdr/Makefile"
  mkdir -p "$src"
  lab_say "extracting drivers/net/netdevsim from $srcpkg"
  tar -xJf "$tree/usr/src/$srcpkg.tar.xz" -C "$tree/usr/src" "$srcpkg/drivers/net/netdevsim" ||
    lab_fail "cannot extract netdevsim from $srcpkg.tar.xz"
  rm -f "$tree/usr/src/$srcpkg.tar.xz"
  lab_say "building netdevsim.ko"
  local log=$tree/netdevsim-build.log
  if ! make -C "$hdr" M="$src/drivers/net/netdevsim" CONFIG_NETDEVSIM=m -j "$(nproc)" modules \
    >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    lab_fail "building netdevsim.ko failed"
  fi
  install -D -m 0644 "$src/drivers/net/netdevsim/netdevsim.ko" "$dest/netdevsim.ko"
}
