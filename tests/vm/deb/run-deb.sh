#!/bin/bash
# shellcheck disable=SC2034 # CHECKS, RESULT, REASON, T0, RESULTS_FILE are for checks.sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The Debian package in the VM: what `apt install ./clusterboot_*.deb` gives
# a user on a fresh Debian 12 machine (README, "Installing on a machine with
# boards").
#
#   sudo tests/vm/deb/run-deb.sh [--results FILE] [--verbose]
#
# Builds the .deb with tests/build-deb.sh (dpkg-buildpackage, dh + meson),
# puts it, the emulated boards (gadget-boards) and small boot files in a
# payload, and boots the e2e tier's VM image (nothing of clusterboot
# installed in it) with tests/vm/deb/run inside: apt install, 4 boards up
# with no configuration file, apt purge. One line per check, then
# "N passed, N failed"; --results as run-e2e.sh's. ~2 min warm without KVM.
#
# Environment: CBVM_DEB (a .deb built already, as run-all.sh's deb-builds
# phase leaves it: no second build), CBVM_CACHE (default
# /var/cache/clusterboot-vm, as run-e2e.sh), CBVM_BUILD_DIR (default
# build-vm/), CBVM_TIMEOUT (default 600), CBVM_*.
set -euo pipefail

# shellcheck disable=SC2034 # used by lib.sh
LOG_TAG=deb
export CBVM_CACHE=${CBVM_CACHE:-/var/cache/clusterboot-vm}
VM_DIR=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/vm/lib.sh
. "$VM_DIR/lib.sh"
TOP=$(cd "$VM_DIR/../.." && pwd)
# shellcheck source=tests/vm/checks.sh
. "$VM_DIR/checks.sh"

RESULTS_FILE=
VERBOSE=0
while [ $# -gt 0 ]; do
	case $1 in
	--results) RESULTS_FILE=$(realpath -m "$2"); shift 2 ;;
	--results=*) RESULTS_FILE=$(realpath -m "${1#*=}"); shift ;;
	--verbose) VERBOSE=1; shift ;;
	-h | --help) sed -n '4,21p' "$0"; exit 0 ;;
	*) echo "usage: $0 [--results FILE] [--verbose]" >&2; exit 2 ;;
	esac
done

CHECKS=(setup deb-installs deb-boots-boards deb-purges)
BUILD=${CBVM_BUILD_DIR:-$TOP/build-vm}
PAYLOAD=$BUILD/deb-payload
OUT=$BUILD/deb-out
T0=$(now)
declare -A RESULT REASON
fail_all() { checks_fail_all "$1"; }

payload_start
rmdir "$PAYLOAD/root" # no root/ tree: the package is all that installs clusterboot

t=$(now)
if ! command -v dpkg-buildpackage > /dev/null || ! pkg-config --exists libusb-1.0 libsystemd libudev json-c; then
	"$TOP/tests/install-deps.sh" > "$OUT/install-deps.log" 2>&1 ||
		fail_all "installing the build dependencies failed (see $OUT/install-deps.log)"
fi
if [ -n "${CBVM_DEB:-}" ]; then
	[ -f "$CBVM_DEB" ] || fail_all "CBVM_DEB=$CBVM_DEB: no such file"
	cp "$CBVM_DEB" "$PAYLOAD/"
else
	"$TOP/tests/build-deb.sh" "$BUILD/deb" > "$OUT/build-deb.log" 2>&1 || {
		tail -n 20 "$OUT/build-deb.log" >&2
		fail_all "the .deb was not built (see $OUT/build-deb.log)"
	}
	cp "$(tail -n 1 "$OUT/build-deb.log")" "$PAYLOAD/"
fi
if ! cc "${EMU_CFLAGS[@]}" -o "$PAYLOAD/bin/gadget-boards" \
	"$VM_DIR/gadget-boards.c" "$VM_DIR/gb-board.c" "$VM_DIR/gb-bulk.c" "$VM_DIR/gb-control.c" \
	"$VM_DIR/gb-ep0.c" "$VM_DIR/gb-power.c" "$VM_DIR/gb-rawgadget.c" "$VM_DIR/gb-status.c" \
	"$VM_DIR/gb-util.c" "${EMU_BOARD_SOURCES[@]}" -pthread > "$OUT/gadget-boards-build.log" 2>&1; then
	cat "$OUT/gadget-boards-build.log" >&2
	fail_all "building gadget-boards failed"
fi
log "the .deb and gadget-boards ready in $(elapsed "$t") s"

# Boot files: small (the e2e tier sends real sizes); the boards check they got exactly these.
boot=$PAYLOAD/boot
mkdir -p "$boot/overlays"
for f in bootcode.bin:52476 start.elf:300000 fixup.dat:7168 kernel.img:500000 bcm2708-rpi-zero-w.dtb:25600 \
	overlays/dwc2.dtbo:1500; do
	head -c "${f#*:}" /dev/urandom > "$boot/${f%:*}"
done
printf 'dtoverlay=dwc2\n' > "$boot/config.txt"
printf 'console=serial0,115200 modules-load=dwc2,g_ether\n' > "$boot/cmdline.txt"

install -m 755 "$VM_DIR/deb/run" "$PAYLOAD/run"
log "booting the VM; the package is installed inside (console: $OUT/console.log)"
rc=0
filter=('^(\[deb\]|PASS |FAIL |SKIP |    \||\[vm-run\]|CBTEST-EXIT)')
[ "$VERBOSE" = 1 ] && filter=('.')
CBVM_TIMEOUT=${CBVM_TIMEOUT:-600} "$VM_DIR/run-vm.sh" -o "$OUT" "$PAYLOAD" 2>&1 |
	grep --line-buffered -E "${filter[@]}" || rc=${PIPESTATUS[0]}
log "VM finished with code $rc"

checks_read_results "$OUT/guest/results.txt" "$rc"
checks_finish
