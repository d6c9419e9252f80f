#!/usr/bin/env bash
# The README's first command. As root on Debian 12:
#   ./setup.sh            boards plugged in: build, install, enable and start the
#                         daemon; no boards: show it booting an emulated cluster
#   ./setup.sh --install  install and enable the daemon, boards or not
#   ./setup.sh --demo     the emulated cluster, boards or not
set -euo pipefail
cd "$(dirname "$0")"

mode=auto
case "${1:-}" in
--install) mode=install ;;
--demo) mode=demo ;;
"") ;;
*) echo "usage: $0 [--install|--demo]" >&2; exit 2 ;;
esac

if [ "$(id -u)" != 0 ]; then
        echo "setup.sh installs packages and a system service: run it as root" >&2
        exit 1
fi

./tests/install-deps.sh

# A board in USB boot mode shows up as 0a5c:2763/2764/2711/2712.
boards_present() {
        local d
        for d in /sys/bus/usb/devices/*; do
                [ -f "$d/idVendor" ] || continue
                [ "$(cat "$d/idVendor")" = 0a5c ] || continue
                case "$(cat "$d/idProduct")" in 2763|2764|2711|2712) return 0 ;; esac
        done
        return 1
}

if [ "$mode" = auto ]; then
        if boards_present; then mode=install; else mode=demo; fi
fi

if [ "$mode" = install ]; then
        meson setup build-install --prefix=/usr --buildtype=release >/dev/null
        ninja -C build-install
        # the group before the udev rule that names it: udevd may read the rule
        # as soon as it lands, and drops a GROUP= whose group does not exist
        systemd-sysusers systemd/clusterboot.sysusers
        meson install -C build-install --no-rebuild
        systemd-tmpfiles --create clusterboot.conf 2>/dev/null || true
        udevadm control --reload
        # boards and hubs plugged in before the rule existed: their device nodes
        # get the group before the daemon starts and opens them
        udevadm trigger --action=change --subsystem-match=usb --attr-match=idVendor=0a5c
        udevadm trigger --action=change --subsystem-match=usb --attr-match=bDeviceClass=09
        udevadm settle --timeout=10 || true
        systemctl daemon-reload
        systemctl enable --now clusterboot
        echo
        echo "clusterboot is running. Put boot files in /var/lib/clusterboot/boot"
        echo "(bootcode.bin, start.elf, fixup.dat, kernel.img, ...), then:"
        echo "  clusterbootctl status"
        echo "  journalctl -u clusterboot -f"
        exit 0
fi

echo "No Raspberry Pi in USB boot mode is plugged in: booting an emulated cluster in a VM."
echo "(QEMU without KVM, Debian's kernel, dummy_hcd + raw_gadget boards; first run ~2-3 minutes.)"
exec tests/vm/run-e2e.sh --demo
