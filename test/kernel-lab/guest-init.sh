#!/bin/busybox sh
# shellcheck shell=dash
# /init of the kernel lab's initramfs (busybox sh, PID 1). Builds the guest's root and hands
# over to guest-main.sh, which the host put into the per-run state share:
#   /         overlayfs: the host's / over 9p (read-only) below, a tmpfs for changes above
#   /run      a fresh tmpfs
#   /run/lab  the per-run state directory over 9p (command, environment, exit status)
# Messages go to the kernel console (the serial port, a file on the host).

/bin/busybox --install -s /bin
export PATH=/bin

stop() {
  echo "kernel-lab init: $*"
  echo o >/proc/sysrq-trigger # power off: the host reports that the VM failed
  sleep 60
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

while read -r ko; do
  insmod "/modules/$ko" || stop "cannot load $ko"
done </modules/order

# 512000 is the largest message size the 9p virtio transport takes.
p9=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$p9,cache=loose,ro" lab-hostroot /host || stop "cannot mount the host's root"
mount -t tmpfs -o mode=0755 changes /changes || stop "cannot mount the tmpfs for changes"
mkdir /changes/upper /changes/work
mount -t overlay -o lowerdir=/host,upperdir=/changes/upper,workdir=/changes/work root /newroot ||
  stop "cannot mount the overlay root"
mount -t tmpfs -o mode=0755 run /newroot/run || stop "cannot mount /run"
mkdir /newroot/run/lab
mount -t 9p -o "$p9" lab-state /newroot/run/lab || stop "cannot mount the state directory"
[ -x /newroot/bin/bash ] || stop "the host has no /bin/bash"
for fs in proc sys dev; do
  mount --move "/$fs" "/newroot/$fs" || stop "cannot move /$fs"
done
exec switch_root /newroot /bin/bash /run/lab/guest-main.sh
