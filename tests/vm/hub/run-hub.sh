#!/bin/bash
# The hub tier: boards behind a real hub driver, in one VM boot.
#
#   sudo tests/vm/hub/run-hub.sh [--results FILE] [--verbose]
#
# 1. builds clusterboot (meson, prefix /usr, in build-vm/) and installs it
#    into the payload with `DESTDIR=PAYLOAD/root meson install`, as
#    run-e2e.sh does;
# 2. builds redir-boards (this directory) for the host: the emulated Pis
#    (tests/emu/board.c) as QEMU usb-redir devices, built on libusbredirparser;
# 3. fills a small boot directory: QEMU's usb-hub is a USB 1.1 hub, so every
#    board behind it runs at full speed (~1 MB/s here), and real-size files
#    would make each boot take minutes;
# 4. starts redir-boards, then the VM (run-vm.sh) with an xHCI controller, QEMU's
#    monitor and the usb-hub trace events connected to redir-boards, and a
#    virtserialport (cb.hub) through which the guest's scenarios
#    (guest-run) plug hubs and boards in and out;
# 5. prints one line per check and "N passed, N failed"; exits non-zero on any
#    failure; --results FILE: one JSON object per check, for tests/run-all.sh.
#
# Environment: CBVM_CACHE (default /var/cache/clusterboot-vm, as run-e2e.sh),
# CBVM_BUILD_DIR (default build-vm/), CBVM_TIMEOUT (default 600), the other
# CBVM_* of run-vm.sh. Needs root (the image build, apt-get).
set -euo pipefail

# shellcheck disable=SC2034 # used by lib.sh
LOG_TAG=hub
export CBVM_CACHE=${CBVM_CACHE:-/var/cache/clusterboot-vm}
HUB_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../lib.sh
. "$HUB_DIR/../lib.sh"
TOP=$(cd "$VM_DIR/../.." && pwd)
# shellcheck source=../checks.sh
. "$VM_DIR/checks.sh"

RESULTS_FILE=
VERBOSE=0
while [ $# -gt 0 ]; do
	case $1 in
	--results) RESULTS_FILE=$(realpath -m "$2"); shift 2 ;;
	--results=*) RESULTS_FILE=$(realpath -m "${1#*=}"); shift ;;
	--verbose) VERBOSE=1; shift ;;
	-h | --help) sed -n '2,25p' "$0"; exit 0 ;;
	*) echo "usage: $0 [--results FILE] [--verbose]" >&2; exit 2 ;;
	esac
done

# Every check the guest reports, in its order; one missing from its report is a failure.
CHECKS=(hub-setup hub-4-boards-seed-failure hub-status-dotted-ports hub-reboot-sysfs hub-reboot-request
	hub-power-off-persists hub-unplugged-mid-boot hub-deep-path hub-no-power-cut hub-no-switching
	hub-daemon-healthy)

BUILD=${CBVM_BUILD_DIR:-$TOP/build-vm}
PAYLOAD=$BUILD/hub-payload
OUT=$BUILD/hub-out
T0=$(now)
declare -A RESULT REASON

fail_all() { checks_fail_all "$1"; }

payload_start

# ------------------------------------------------------------ clusterboot + redir-boards
t=$(now)
payload_install_clusterboot libusbredirparser-0.5
RB=$BUILD/hub-bin/redir-boards
mkdir -p "$BUILD/hub-bin"
# shellcheck disable=SC2046 # flag lists
if ! cc "${EMU_CFLAGS[@]}" $(pkg-config --cflags libusbredirparser-0.5 libsystemd json-c) -o "$RB" \
	"$HUB_DIR/redir-boards.c" "$HUB_DIR/rb-control.c" "$HUB_DIR/rb-qemu.c" "$HUB_DIR/rb-redir.c" \
	"$HUB_DIR/rb-spec.c" "$HUB_DIR/rb-status.c" "${EMU_BOARD_SOURCES[@]}" \
	$(pkg-config --libs libusbredirparser-0.5 libsystemd json-c) > "$OUT/redir-boards-build.log" 2>&1 ||
	! cc -std=gnu17 -O2 -Wall -Wextra -Werror -o "$PAYLOAD/bin/hub-port" "$VM_DIR/hub-port.c" \
		>> "$OUT/redir-boards-build.log" 2>&1; then
	cat "$OUT/redir-boards-build.log" >&2
	fail_all "building redir-boards or hub-port failed"
fi
log "clusterboot installed into the payload, redir-boards built, in $(elapsed "$t") s"

# ------------------------------------------------------------ boot files (small: full speed)
boot=$PAYLOAD/root/var/lib/clusterboot/boot
mkdir -p "$boot/overlays"
synth() { head -c "$2" /dev/urandom > "$boot/$1"; }
synth bootcode.bin 52476 # real size: the ROM's loader
synth start.elf 262144
synth fixup.dat 7168
synth kernel.img 524289 # odd: the last packet is a short one
synth bcm2708-rpi-zero-w.dtb 25600
synth overlays/dwc2.dtbo 1500
printf 'dtoverlay=dwc2\nenable_uart=1\n' > "$boot/config.txt"
printf 'console=serial0,115200 root=/dev/mmcblk0p2 rootwait modules-load=dwc2,g_ether\n' > "$boot/cmdline.txt"
log "boot directory: synthetic, small (full speed): $(du -sh "$boot" | cut -f1)"
install -D -m 644 "$HUB_DIR/clusterboot.conf" "$PAYLOAD/root/etc/clusterboot/clusterboot.conf"
install -m 755 "$HUB_DIR/guest-run" "$PAYLOAD/run"

# ------------------------------------------------------------ redir-boards, then the VM
RT=$(mktemp -d /tmp/cbhub.XXXXXX) # the sockets' paths must stay short (108 bytes)
RB_PID=
# shellcheck disable=SC2317 # called from the trap
cleanup() {
	if [ -n "$RB_PID" ] && kill -0 "$RB_PID" 2> /dev/null; then
		kill "$RB_PID" 2> /dev/null || true
		wait "$RB_PID" 2> /dev/null || true
	fi
	rm -rf "$RT"
}
trap cleanup EXIT
mkfifo "$RT/ready"
"$RB" --dir "$RT" --boot-dir "$boot" --status-file "$OUT/boards.json" ${HUB_RB_VERBOSE:+--verbose} \
	> "$RT/ready" 2> "$OUT/redir-boards.log" &
RB_PID=$!
# its first line says its sockets are listening (or it died: EOF)
read -r -t 30 line < "$RT/ready" || line=
[ "$line" = READY ] || { cat "$OUT/redir-boards.log" >&2; fail_all "redir-boards did not start"; }
cat > "$RT/qemu.args" << EOF
-device
qemu-xhci,id=xhci
-chardev
socket,id=qmp,path=$RT/qmp.sock
-mon
chardev=qmp,mode=control
-trace
enable=usb_hub_*_port_feature,file=$RT/trace.fifo
-device
virtio-serial-pci,id=vser
-chardev
socket,id=cbctl,path=$RT/ctl.sock
-device
virtserialport,bus=vser.0,chardev=cbctl,name=cb.hub
EOF

log "booting the VM; the scenarios run inside (console: $OUT/console.log)"
rc=0
filter=('^(\[hub|PASS |FAIL |SKIP |    \||\[vm-run\]|CBTEST-EXIT)|clusterboot')
[ "$VERBOSE" = 1 ] && filter=('.')
CBVM_QEMU_ARGS_FILE=$RT/qemu.args CBVM_TIMEOUT=${CBVM_TIMEOUT:-600} "$VM_DIR/run-vm.sh" -o "$OUT" "$PAYLOAD" 2>&1 |
	grep --line-buffered -E "${filter[@]}" || rc=${PIPESTATUS[0]}
log "VM finished with code $rc"

checks_read_results "$OUT/guest/results.txt" "$rc"
checks_finish
