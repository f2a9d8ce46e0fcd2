# shellcheck shell=bash
# PID 1 of the guest after the initramfs (run by the host's /bin/bash from /run/lab, the
# per-run state share). Finishes the system, runs the command, records its status, powers
# off. The state directory holds, from the host:
#   setup.sh   LAB_CWD, LAB_MODDIR, LAB_MODULES (sourced)
#   argv       the command, NUL-separated
#   environ    the caller's environment, NUL-separated NAME=VALUE
# and receives: started (the command is about to run), status (its exit status).
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
STATE=/run/lab

console() { echo "kernel-lab guest: $*" >/dev/console; }
power_off() {
  sync
  echo o >/proc/sysrq-trigger
  sleep 60
}

# shellcheck source=/dev/null
. "$STATE/setup.sh" || { console "no $STATE/setup.sh"; power_off; }

# What udev and systemd would have set up.
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
ln -sfn /proc/self/fd /dev/fd
ln -sfn /proc/self/fd/0 /dev/stdin
ln -sfn /proc/self/fd/1 /dev/stdout
ln -sfn /proc/self/fd/2 /dev/stderr
mount -t debugfs debugfs /sys/kernel/debug
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo kernel-lab >/proc/sys/kernel/hostname

# The working directory, read-write; page cache only for mmap, so the host sees every write.
mkdir -p "$LAB_CWD"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=mmap lab-work "$LAB_CWD" ||
  { console "cannot mount the working directory"; power_off; }

# modprobe looks in /lib/modules/<release>: point it at the kernel in the host's cache.
mkdir -p /lib/modules
ln -sfn "$LAB_MODDIR" "/lib/modules/$(uname -r)"
# shellcheck disable=SC2086
modprobe -a $LAB_MODULES || console "not every module of '$LAB_MODULES' loaded"
ip link set lo up

# The two virtio-serial ports, found by name. A port can be open only once, while the command
# (and its children, through /dev/stdout) may open its output many times: it writes into
# FIFOs, and one cat per port copies them over.
out_port='' err_port=''
for _ in $(seq 50); do
  for p in /sys/class/virtio-ports/*; do
    [ -e "$p/name" ] || continue
    case $(<"$p/name") in
      lab-stdout) out_port=/dev/${p##*/} ;;
      lab-stderr) err_port=/dev/${p##*/} ;;
    esac
  done
  [ -n "$out_port" ] && [ -n "$err_port" ] && [ -c "$out_port" ] && [ -c "$err_port" ] && break
  sleep 0.1
done
if [ -z "$out_port" ] || [ -z "$err_port" ]; then
  console "the output ports did not appear"
  power_off
fi
mkfifo /run/lab-stdout /run/lab-stderr
cat </run/lab-stdout >"$out_port" &
copy_out=$!
cat </run/lab-stderr >"$err_port" &
copy_err=$!

mapfile -d '' -t argv <"$STATE/argv"
mapfile -d '' -t environ <"$STATE/environ"
: >"$STATE/started"
# shellcheck disable=SC2016 # $1 and $@ belong to the inner shell
env -i "${environ[@]}" /bin/bash -c 'cd -- "$1" || exit 125; shift; exec "$@"' kernel-lab "$LAB_CWD" "${argv[@]}" \
  </dev/null >/run/lab-stdout 2>/run/lab-stderr
status=$?

# The copies end when the last writer closes the FIFO. A daemon the command left behind may
# hold it open: give up on it after a few seconds.
for _ in $(seq 30); do
  kill -0 "$copy_out" 2>/dev/null || kill -0 "$copy_err" 2>/dev/null || break
  sleep 0.1
done
kill "$copy_out" "$copy_err" 2>/dev/null
wait "$copy_out" "$copy_err" 2>/dev/null

echo "$status" >"$STATE/status"
power_off
