#!/bin/bash
# Boot the test VM built by build-image.sh, run a payload in it, exit with
# the payload's exit code.
#
#   tests/vm/run-vm.sh [-o OUT_DIR] PAYLOAD_DIR
#
# PAYLOAD_DIR must contain an executable `run`. In the guest it is copied to
# /opt/cbtest and `./run` is started from there by cbtest.service, after
# multi-user.target (systemd is PID 1, systemd-udevd runs), with:
#   CBTEST_OUT=/opt/cbtest-out   read-write, shared with the host as
#                                OUT_DIR/guest/ (put logs, results here)
#   CBTEST_PAYLOAD=/opt/cbtest
# If PAYLOAD_DIR has a `root/` tree, it is copied onto / first (then ldconfig,
# systemd-sysusers, systemd-tmpfiles --create, systemctl daemon-reload and
# udevadm control --reload), so `DESTDIR=PAYLOAD/root meson install` output
# is installed as a package would be.
#
# The guest's serial console is streamed to stdout and OUT_DIR/console.log.
# The guest prints "CBTEST-EXIT=N" and writes OUT_DIR/guest/exit-code, then
# powers off. If the guest dies without reporting (panic, hang) or the
# timeout hits, the exit code is non-zero (124 for the timeout).
#
# Environment:
#   CBVM_TIMEOUT   hard limit for the whole VM run, seconds (default 600)
#   CBVM_MEM       guest memory, MiB (default 1024)
#   CBVM_SMP       guest CPUs (default 2; TCG runs one host thread per CPU)
#   CBVM_APPEND    extra kernel command line (e.g. "systemd.log_level=debug")
#   CBVM_DISK      qcow2 (default: copy-on-write overlay on the cached image)
#                  or copy (a private copy of the raw image)
#   CBVM_KEEP_DISK 1: keep OUT_DIR/disk.* for inspection
#   CBVM_MACHINE   QEMU machine type (default q35; pc measured no faster)
#   CBVM_QEMU_ARGS_FILE  more QEMU arguments, one per line (the hub tier's
#                  xHCI, monitor, trace and control channel)
#   CBVM_CACHE     as for build-image.sh
set -euo pipefail

LOG_TAG=vm-run
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

usage() { echo "usage: $0 [-o OUT_DIR] PAYLOAD_DIR" >&2; exit 2; }
OUT=
while getopts o:h opt; do
	case $opt in
	o) OUT=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage

T0=$(now)
PAYLOAD=$(realpath "$1")
[ -x "$PAYLOAD/run" ] || die "$PAYLOAD/run is missing or not executable"
TIMEOUT=${CBVM_TIMEOUT:-600}

[ -r "$CURRENT_ENV" ] || die "no VM image: run tests/vm/build-image.sh first"
# Shared lock for the whole run: build-image.sh (exclusive) then neither
# replaces the image under a starting VM nor is read half-written; runs can
# go in parallel with each other.
exec 9<"$CACHE/.lock"
flock -s 9
# shellcheck source=/dev/null
. "$CURRENT_ENV"
for f in "$VMLINUX" "$INITRD" "$ROOTFS"; do
	[ -r "$f" ] || die "$f is missing: run tests/vm/build-image.sh"
done

if [ -z "$OUT" ]; then
	mkdir -p "$CACHE/runs"
	OUT=$CACHE/runs/$(basename "$PAYLOAD")-$(date +%Y%m%d-%H%M%S)-$$
	# Keep the 20 newest default output directories.
	# shellcheck disable=SC2012
	{ ls -1dt "$CACHE/runs/"*/ 2>/dev/null || true; } | tail -n +20 | xargs -r rm -rf
fi
mkdir -p "$OUT/guest"
OUT=$(realpath "$OUT")
rm -f "$OUT/guest/exit-code"
LOG=$OUT/console.log
# -virtfs and -drive take comma-separated options.
case "$PAYLOAD$OUT" in *,*) die "paths must not contain commas" ;; esac

# Each run writes to its own disk; the cached image is never modified.
case ${CBVM_DISK:-qcow2} in
qcow2)
	DISK=$OUT/disk.qcow2
	qemu-img create -q -f qcow2 -F raw -b "$ROOTFS" "$DISK"
	DISKFMT=qcow2
	;;
copy)
	DISK=$OUT/disk.raw
	cp --sparse=always "$ROOTFS" "$DISK"
	DISKFMT=raw
	;;
*) die "CBVM_DISK must be qcow2 or copy" ;;
esac

QEMU_PID=$OUT/qemu.pid
# shellcheck disable=SC2317 # called from the trap
cleanup() {
	# If we are interrupted, don't leave the VM running: it is not in our
	# process group (timeout(1) makes its own).
	if [ -s "$QEMU_PID" ] && kill -0 "$(cat "$QEMU_PID")" 2>/dev/null; then
		kill "$(cat "$QEMU_PID")" 2>/dev/null || true
	fi
	rm -f "$QEMU_PID"
	[ "${CBVM_KEEP_DISK:-0}" = 1 ] || rm -f "$DISK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# loglevel=4: kernel warnings and worse on the console (each console line
# costs time under TCG). systemd.log_color=0: no escape codes in the log.
APPEND="console=ttyS0,115200 panic=-1 loglevel=4 mitigations=off 8250.nr_uarts=1 systemd.log_color=0 ${CBVM_APPEND:-}"
# shellcheck disable=SC2054 # the commas are QEMU option syntax
QEMU=(
	qemu-system-x86_64
	# No nested KVM here: multi-threaded TCG, one host thread per vCPU.
	-machine "${CBVM_MACHINE:-q35}" -accel tcg,thread=multi -cpu max -smp "${CBVM_SMP:-2}" -m "${CBVM_MEM:-1024}"
	# No default VGA/NIC/floppy/CD-ROM: nothing to probe, faster boot.
	-nodefaults -no-user-config -display none -monitor none
	-serial stdio
	# Guest poweroff or reboot (panic=-1) ends QEMU.
	-no-reboot
	-pidfile "$QEMU_PID"
	# Uncompressed ELF kernel: PVH boot, no decompressor under TCG.
	-kernel "$VMLINUX" -initrd "$INITRD" -append "$APPEND"
	# cache=unsafe: the disk is thrown away, so skip flushes.
	-drive "file=$DISK,if=virtio,format=$DISKFMT,cache=unsafe,discard=unmap"
	-virtfs "local,path=$PAYLOAD,mount_tag=cbpayload,security_model=none,readonly=on,multidevs=remap"
	-virtfs "local,path=$OUT/guest,mount_tag=cbout,security_model=none,multidevs=remap"
	# Entropy for early getrandom() users.
	-device virtio-rng-pci
)
if [ -n "${CBVM_QEMU_ARGS_FILE:-}" ]; then
	mapfile -t extra_args < "$CBVM_QEMU_ARGS_FILE"
	QEMU+=("${extra_args[@]}")
fi

log "payload $PAYLOAD, output $OUT, timeout ${TIMEOUT}s"
T_QEMU=$(now)
# stdin from /dev/null: CI has none, and the guest needs none.
# sed: the serial console ends lines with CR LF.
# In the background + wait: bash runs a signal trap only once the foreground
# job ends, so a foreground pipeline would leave a Ctrl-C'd or killed run
# waiting for the VM; `wait` is interrupted at once.
{
	rc=0
	timeout --kill-after=10 "$TIMEOUT" "${QEMU[@]}" </dev/null 2>&1 || rc=$?
	echo "$rc" > "$OUT/qemu.rc"
} | sed -u 's/\r*$//' | tee "$LOG" &
wait $!
qemu_rc=$(cat "$OUT/qemu.rc" 2>/dev/null || echo 1)
rm -f "$OUT/qemu.rc"
T_VM=$(elapsed "$T_QEMU")

rc=
if [ -s "$OUT/guest/exit-code" ]; then
	rc=$(tr -dc 0-9 < "$OUT/guest/exit-code")
fi
if [ -z "$rc" ]; then
	# The console line is the fallback (e.g. the 9p share failed to mount).
	rc=$(sed -n 's/.*CBTEST-EXIT=\([0-9]\+\).*/\1/p' "$LOG" | tail -n1)
fi
if [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
	log "TIMEOUT: the VM ran for more than ${TIMEOUT}s and was killed"
	[ -n "$rc" ] || rc=124
elif [ "$qemu_rc" -ne 0 ]; then
	log "qemu exited with status $qemu_rc"
	[ -n "$rc" ] || rc=1
fi
if [ -z "$rc" ]; then
	log "the guest reported no exit code (kernel panic? see $LOG)"
	rc=1
fi

boot=$(sed -n 's/.*CBTEST-START uptime=\([0-9.]\+\).*/\1/p' "$LOG" | head -n1)
log "timings: guest boot to payload start ${boot:-?} s (guest uptime), VM ${T_VM} s, total $(elapsed "$T0") s"
log "exit code $rc; console log $LOG; guest output $OUT/guest/"
exit "$rc"
