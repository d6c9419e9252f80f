#!/bin/bash
# The end-to-end tier: clusterboot on a real kernel USB stack, in one VM boot.
#
#   sudo tests/vm/run-e2e.sh [--results FILE] [--verbose]
#   sudo tests/vm/run-e2e.sh --demo [--verbose]
#
# 1. builds clusterboot (meson, prefix /usr, in build-vm/) and installs it
#    with `DESTDIR=PAYLOAD/root meson install`, as a package would be;
# 2. builds tests/vm/gadget-boards (emulated Pi Zeros: raw-gadget on
#    dummy_hcd, driven by the shared board model tests/emu/board.c);
# 3. prepares the boot directory (/var/lib/clusterboot/boot in the guest):
#    the real Raspberry Pi firmware if the host has Debian's raspi-firmware
#    installed (/usr/lib/raspi-firmware), else synthetic files of realistic
#    sizes; kernel.img, the .dtb and the overlay are always synthetic;
# 4. builds or reuses the VM image (build-image.sh, cached in CBVM_CACHE) and
#    boots it with a payload whose `run` (tests/vm/e2e/run) plays the
#    scenarios of issue 4 inside the guest;
# 5. prints one line per scenario ("PASS name" / "FAIL name: reason"), then
#    "N passed, N failed"; exits non-zero on any failure. With --results,
#    also writes one JSON object per line {"name": ..., "result": "OK" |
#    "FAIL" | "SKIP"} for tests/run-all.sh's summary.
#
# --demo (what setup.sh runs on a machine with no boards): steps 1-4 the same,
# but the payload's `run` is tests/vm/demo/run: `systemctl enable --now
# clusterboot`, 4 emulated Pi Zeros at once, board 4 dropping off the bus mid
# kernel.img on its first attempt, `clusterbootctl status` every ~0.5 s until
# all 4 are up, then the final table, node 4 in detail and its journal. Only
# the demo's own lines are shown (all of the console with --verbose); no
# PASS/FAIL lines. Exits 0 if all 4 nodes came up.
#
# Environment:
#   CBVM_CACHE      VM image cache (default /var/cache/clusterboot-vm: outside
#                   the clone, so CI's fresh clones share it)
#   CBVM_BUILD_DIR  meson build directory (default build-vm/ in the clone)
#   CBVM_TIMEOUT    limit for the VM run, seconds (default 900; the demo 600)
#   CBVM_*          see run-vm.sh
set -euo pipefail

# shellcheck disable=SC2034 # used by lib.sh
LOG_TAG=e2e
export CBVM_CACHE=${CBVM_CACHE:-/var/cache/clusterboot-vm}
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
TOP=$(cd "$VM_DIR/../.." && pwd)
# shellcheck source=checks.sh
. "$VM_DIR/checks.sh"

RESULTS_FILE=
VERBOSE=0
DEMO=0
USAGE="usage: $0 [--results FILE] [--verbose] | --demo [--verbose]"
while [ $# -gt 0 ]; do
	case $1 in
	--results) RESULTS_FILE=$(realpath -m "$2"); shift 2 ;;
	--results=*) RESULTS_FILE=$(realpath -m "${1#*=}"); shift ;;
	--verbose) VERBOSE=1; shift ;;
	--demo) DEMO=1; shift ;;
	-h | --help) sed -n '2,36p' "$0"; exit 0 ;;
	*) echo "$USAGE" >&2; exit 2 ;;
	esac
done
if [ "$DEMO" = 1 ]; then
	[ -z "$RESULTS_FILE" ] || { echo "$USAGE" >&2; exit 2; }
	# shellcheck disable=SC2034 # used by lib.sh
	LOG_TAG=demo
fi

# Every check the guest reports, in its order; one missing from its report is a failure.
# One per line: branches that add checks then touch only their own lines.
CHECKS=(
	setup
	unit-runs-daemon
	1-enable-4-boards
	1-clusterbootctl-status
	udev-rule-matches
	2-seed-failure
	9-seed-under-load
	udev-starts-daemon
	3-plugged-before-start
	3-restart-mid-boot
	5-escape-name
	zero2w-rom
	udev-denied
	9-realistic-faults
	9-rom-stall
	9-rom-pause
	7-reboot
	7-power-off-persists
	7-power-recovers-unplug
	9-hang-power
	7-reboot-request
	7-power-off-persists-request
	7-power-recovers-unplug-request
	11-mixed-socs
	11-serial-follows
	11-wire-2835
	11-wire-2837
	11-wire-2711
	11-wire-2712
	unit-reload
	14-named-interface
	4-32-boards
	sandbox-attacks
	12-private-socket
	daemon-healthy
)

BUILD=${CBVM_BUILD_DIR:-$TOP/build-vm}
PAYLOAD=$BUILD/e2e-payload
OUT=$BUILD/e2e-out
T0=$(now)
declare -A RESULT REASON

fail_all() { # fail_all REASON: nothing ran
	[ "$DEMO" = 1 ] && die "$1"
	checks_fail_all "$1"
}

payload_start

# ------------------------------------------------------------ clusterboot
t=$(now)
# shellcheck disable=SC2119 # no extra pkg-config modules
payload_install_clusterboot
# The emulated boards: same warnings as the project (tests/vm/meson.build builds it too).
if ! cc "${EMU_CFLAGS[@]}" -o "$PAYLOAD/bin/gadget-boards" \
	"$VM_DIR/gadget-boards.c" "$VM_DIR/gb-board.c" "$VM_DIR/gb-bulk.c" "$VM_DIR/gb-control.c" \
	"$VM_DIR/gb-ep0.c" "$VM_DIR/gb-power.c" "$VM_DIR/gb-rawgadget.c" "$VM_DIR/gb-status.c" \
	"$VM_DIR/gb-util.c" "${EMU_BOARD_SOURCES[@]}" -pthread > "$OUT/gadget-boards-build.log" 2>&1 ||
	! cc -std=gnu17 -O2 -Wall -Wextra -Werror -o "$PAYLOAD/bin/hub-port" "$VM_DIR/hub-port.c" \
		>> "$OUT/gadget-boards-build.log" 2>&1; then
	cat "$OUT/gadget-boards-build.log" >&2
	fail_all "building gadget-boards or hub-port failed"
fi
log "clusterboot and gadget-boards built and installed into the payload in $(elapsed "$t") s"

# ------------------------------------------------------------ boot files
boot=$PAYLOAD/root/var/lib/clusterboot/boot
mkdir -p "$boot/overlays"
synth() { head -c "$2" /dev/urandom > "$boot/$1"; }
FW=/usr/lib/raspi-firmware
if [ -f "$FW/bootcode.bin" ] && [ -f "$FW/start.elf" ] && [ -f "$FW/fixup.dat" ]; then
	cp "$FW/bootcode.bin" "$FW/start.elf" "$FW/fixup.dat" "$boot/"
	FW_NOTE="real firmware from $FW"
else
	# Debian's raspi-firmware is in non-free-firmware, which this host's apt does not use:
	# random bytes with the real files' sizes.
	synth bootcode.bin 52476
	synth start.elf 2975744
	synth fixup.dat 7168 # a multiple of 512: the last bulk packet is a full one
	FW_NOTE="synthetic firmware of real sizes"
fi
synth kernel.img 5240833
synth bcm2708-rpi-zero-w.dtb 25600
synth overlays/dwc2.dtbo 1500
# The other SoCs' own files (e2e/socs.sh), of their real sizes: the Zero 2 W's and the CM4's
# kernel and device trees, the CM4's and the CM5's loaders, the CM5's memory set-up and its
# ramdisk image of tens of MB.
synth kernel8.img 8147456
synth bcm2710-rpi-zero-2-w.dtb 32753
synth bootcode4.bin 104848
synth start4.elf 2251392
synth fixup4.dat 5425
synth bcm2711-rpi-cm4.dtb 52593
synth bootcode5.bin 91136
synth mcb.bin 8192
for m in 00 01 02 03; do synth "memsys$m.bin" 12288; done
synth bootmain 184320
synth boot.img 25165824
printf 'dtoverlay=dwc2\nenable_uart=1\n' > "$boot/config.txt"
printf 'console=serial0,115200 console=tty1 root=/dev/mmcblk0p2 rootfstype=ext4 rootwait modules-load=dwc2,g_ether\n' \
	> "$boot/cmdline.txt"
log "boot directory: $FW_NOTE; $(du -sh "$boot" | cut -f1)"

install -D -m 644 "$VM_DIR/e2e/clusterboot.conf" "$PAYLOAD/root/etc/clusterboot/clusterboot.conf"
if [ "$DEMO" = 1 ]; then
	install -m 755 "$VM_DIR/demo/run" "$PAYLOAD/run"
	log "booting the VM (~30 s without KVM); the demo runs inside (console: $OUT/console.log)"
	echo >&2
	rc=0
	if [ "$VERBOSE" = 1 ]; then
		CBVM_TIMEOUT=${CBVM_TIMEOUT:-600} "$VM_DIR/run-vm.sh" -o "$OUT" "$PAYLOAD" 2>&1 || rc=$?
	else
		# The guest marks the demo's lines "demo| "; the rest is the boot's and the kernel's.
		CBVM_TIMEOUT=${CBVM_TIMEOUT:-600} "$VM_DIR/run-vm.sh" -o "$OUT" "$PAYLOAD" 2>&1 |
			sed -un 's/^demo| \{0,1\}//p' || rc=${PIPESTATUS[0]}
	fi
	echo >&2
	case $rc in
	0) log "all 4 nodes up; total $(elapsed "$T0") s; logs in $OUT"
	   log "the boot timeline (open it in a browser): $OUT/guest/boot-timeline.svg" ;;
	124) log "the VM timed out; total $(elapsed "$T0") s; see $OUT/console.log" ;;
	*) log "the demo did not end with 4 nodes up (exit code $rc); total $(elapsed "$T0") s; see $OUT/console.log" ;;
	esac
	exit "$rc"
fi

# ------------------------------------------------------------ the VM
install -m 755 "$VM_DIR/e2e/run" "$PAYLOAD/run"
install -m 644 "$VM_DIR/e2e/socs.sh" "$PAYLOAD/socs.sh"
# run by the check sandbox-attacks as the daemon, from a drop-in of its unit
install -m 755 "$VM_DIR/e2e/sandbox-probe" "$PAYLOAD/bin/sandbox-probe"
log "booting the VM; the scenarios run inside (console: $OUT/console.log)"
rc=0
filter=('^(\[e2e|PASS |FAIL |SKIP |    \||\[vm-run\]|CBTEST-EXIT)|clusterboot')
[ "$VERBOSE" = 1 ] && filter=('.')
CBVM_TIMEOUT=${CBVM_TIMEOUT:-900} "$VM_DIR/run-vm.sh" -o "$OUT" "$PAYLOAD" 2>&1 |
	grep --line-buffered -E "${filter[@]}" || rc=${PIPESTATUS[0]}
log "VM finished with code $rc"

checks_read_results "$OUT/guest/results.txt" "$rc"

# ------------------------------------------------------------ 11-wire-*
# The guest recorded single boards' buses with usbmon (e2e/socs.sh); what the daemon sent is judged
# here, beside the reference capture: the Zero set up as the reference's was must match it line for
# line, and every SoC's record must keep the reference host's rules (wire-check.py).
WIRE_REFERENCE=${CBVM_WIRE_REFERENCE:-$TOP/tests/data/reference/rpiboot-wire-zero.txt}
WIRE_ART=$OUT/guest/artifacts
wire_judge() { # wire_judge CHECK CAPTURE MODE [ARGS...]: a failure from the guest stands
	local check=$1 cap=$2 out
	shift 2
	[[ " ${CHECKS[*]} " == *" $check "* ]] || CHECKS+=("$check")
	[ "${RESULT[$check]:-}" = FAIL ] && [ -n "${REASON[$check]:-}" ] && [[ ${REASON[$check]} != "no result"* ]] && return
	if [ ! -s "$cap" ]; then
		RESULT[$check]=FAIL
		REASON[$check]="no usbmon record ${cap##*/} from the guest (see 11-mixed-socs and $OUT/console.log)"
	elif out=$(python3 "$VM_DIR/wire-check.py" "$1" "$cap" "${@:2}" 2>&1); then
		out="${cap##*/}: $out"
		[ "${RESULT[$check]:-}" = PASS ] && out="${REASON[$check]}; $out"
		RESULT[$check]=PASS
		REASON[$check]=$out
	else
		RESULT[$check]=FAIL
		REASON[$check]="${cap##*/}: $(head -n 3 <<< "$out" | paste -sd' ')"
	fi
}
wire_judge 11-wire-2835 "$WIRE_ART/wire-wire.usbmon" exact "$WIRE_REFERENCE"
wire_judge 11-wire-2835 "$WIRE_ART/wire-soc1.usbmon" rules --boot-dir "$boot" --soc 2835
wire_judge 11-wire-2837 "$WIRE_ART/wire-soc2.usbmon" rules --boot-dir "$boot" --soc 2837
wire_judge 11-wire-2711 "$WIRE_ART/wire-soc3.usbmon" rules --boot-dir "$boot" --soc 2711
wire_judge 11-wire-2711 "$WIRE_ART/wire-soc4.usbmon" rules --boot-dir "$boot" --soc 2711
wire_judge 11-wire-2712 "$WIRE_ART/wire-soc5.usbmon" rules --boot-dir "$boot" --soc 2712
checks_finish
