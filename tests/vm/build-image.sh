#!/bin/bash
# Build (or reuse) everything the end-to-end VM tier boots:
#   - Debian's own kernel for the guest (uncompressed vmlinux, for fast PVH
#     boot under TCG) and its modules,
#   - raw_gadget.ko (not built in Debian's kernel), built out of tree against
#     the *guest* kernel's headers,
#   - a tiny initramfs that mounts the ext4 root disk,
#   - a bookworm rootfs image with systemd + udev + the daemon's runtime
#     libraries + cbtest.service, which runs the payload from run-vm.sh.
#
# Idempotent. Every stage's result is cached under tests/vm/cache/ in an
# entry named by a hash of that stage's inputs (package versions, the guest/
# files, the text of the function that builds it), so a warm run only
# re-checks, and a change rebuilds only the stages it affects. Old entries
# of a stage are removed when it is rebuilt.
#
# Environment:
#   CBVM_CACHE   cache directory (default tests/vm/cache)
#   CBVM_KVER    guest kernel ABI, e.g. 6.1.0-56-amd64 (default: what
#                Debian's linux-image-amd64 depends on now)
#   CBVM_MIRROR  Debian mirror for debootstrap (default: the host's)
set -euo pipefail

LOG_TAG=vm-build
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get, debootstrap, chroot)"

T0=$(now)
mkdir -p "$CACHE/tmp"
# One build at a time: two concurrent builds would fight over cache entries.
exec 9>"$CACHE/.lock"
flock 9
# Leftovers from an interrupted build.
rm -rf "${CACHE:?}/tmp/"*

timed() { # timed LABEL CMD... : run CMD, log how long it took
	local label=$1 t
	shift
	t=$(now)
	"$@"
	log "$label: $(elapsed "$t") s"
}

# Keep only the newest entry of a stage: rm every PREFIX* except KEEP.
prune() {
	local prefix=$1 keep=$2 e
	for e in "$CACHE/$prefix"*; do
		[ -e "$e" ] && [ "$e" != "$keep" ] && rm -rf "$e"
	done
	return 0
}

APT_UPDATED=0
apt_update() {
	[ "$APT_UPDATED" -eq 1 ] && return 0
	log "apt-get update"
	apt-get update -q >/dev/null
	APT_UPDATED=1
}

# ---------------------------------------------------------------- kernel ABI
# The guest runs Debian 12's kernel, not the host's (the host may run anything,
# e.g. 6.18 here). Take its ABI name from the metapackage, as Debian would.
resolve_kver() {
	if [ -n "${CBVM_KVER:-}" ]; then
		KVER=$CBVM_KVER
		return
	fi
	local try
	for try in 1 2; do
		KVER=$(apt-cache depends linux-image-amd64 2>/dev/null |
			awk '/Depends: linux-image-[0-9]/ { sub("linux-image-", "", $2); print $2; exit }')
		[ -n "$KVER" ] && return
		# No or stale package lists (fresh machine): fetch them once.
		[ "$try" -eq 1 ] && apt_update
	done
	die "cannot resolve the kernel behind linux-image-amd64"
}

# ---------------------------------------------------------- host packages
host_packages() {
	HOST_PKGS=(
		qemu-system-x86 qemu-utils   # the VM (TCG), qemu-img
		debootstrap                  # the rootfs
		e2fsprogs                    # mkfs.ext4 -d
		xz-utils                     # vmlinuz payload, linux-source tarball
		kmod                         # depmod, modprobe --show-depends
		cpio                         # initramfs
		busybox-static               # initramfs userland
		build-essential              # raw_gadget.ko
		"linux-headers-$KVER"        # ... against the guest kernel
		linux-source-6.1             # ... from Debian's own source
	)
	# Skip apt entirely when all are installed: a warm run must be fast and
	# should not depend on the mirror.
	local p missing=()
	for p in "${HOST_PKGS[@]}"; do
		[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" = "ii " ] ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing host packages (missing: ${missing[*]})"
	apt_update
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		"${HOST_PKGS[@]}" >/dev/null
}

# ---------------------------------------------------------------- kernel
# Debian's linux-image-KVER, unpacked (no install on the host), depmod'ed,
# plus an uncompressed vmlinux: QEMU boots an ELF vmlinux through PVH, which
# skips the bzImage decompressor (~3 s saved per boot under TCG).
build_kernel() { # build_kernel OUTDIR
	local out=$1 work=$CACHE/tmp/kernel deb off
	mkdir -p "$work"
	# (Run as root, apt warns that its _apt user can't write here: harmless.)
	if ! (cd "$work" && apt-get download -q "linux-image-$KVER=$KPKGVER" >&2 2>/dev/null); then
		apt_update # stale package lists point at a file the mirror dropped
		(cd "$work" && apt-get download -q "linux-image-$KVER=$KPKGVER" >&2 2>/dev/null) ||
			die "apt-get download linux-image-$KVER=$KPKGVER failed"
	fi
	deb=$(echo "$work"/linux-image-"$KVER"_*.deb)
	dpkg-deb -x "$deb" "$work/root"
	rm -f "$deb"
	# The package's modules.dep is made by its postinst; make it here.
	depmod -b "$work/root" "$KVER"
	# The compressed kernel is an xz stream inside vmlinuz: find its magic
	# (FD 37 7A 58 5A 00) and decompress that one stream.
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$work/root/boot/vmlinuz-$KVER" | head -n1 | cut -d: -f1)
	[ -n "$off" ] || die "no xz payload in vmlinuz-$KVER"
	# (Through a file, not a pipe: xz stops at the end of the stream, and
	# tail's SIGPIPE would fail the pipeline under pipefail.)
	tail -c +"$((off + 1))" "$work/root/boot/vmlinuz-$KVER" > "$work/payload.xz"
	xz -dc --single-stream "$work/payload.xz" > "$work/vmlinux"
	rm -f "$work/payload.xz"
	[ "$(head -c4 "$work/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] ||
		die "extracted vmlinux is not an ELF file"
	mv "$work" "$out"
}

# ------------------------------------------------------------ raw_gadget.ko
# CONFIG_USB_RAW_GADGET is not set in Debian's kernel. Build just that one
# file out of tree, from Debian's source of the same kernel, against the
# guest kernel's headers package. The kernel source stays in the cache's
# tmp/ (never in the repository) and is deleted right after.
build_raw_gadget() { # build_raw_gadget OUTDIR
	local out=$1 work=$CACHE/tmp/raw_gadget src
	mkdir -p "$work"
	# --occurrence=1: stop reading the 140 MB tarball once the file is out.
	tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$work" --occurrence=1 \
		--strip-components=5 linux-source-6.1/drivers/usb/gadget/legacy/raw_gadget.c
	src=$work/raw_gadget.c
	[ -f "$src" ] || die "raw_gadget.c not found in linux-source-6.1"
	# 6.1's raw-gadget leaves its reset and disconnect callbacks empty, so an
	# emulated board cannot notice a host's port reset (a real Pi restarts)
	# or a port power cut. Linux 6.6 reports both as events
	# (USB_RAW_EVENT_RESET = 5, USB_RAW_EVENT_DISCONNECT = 6); queue them
	# the same way, with the same numbers, so the board program is written
	# against the upstream ABI. A module without this patch still works;
	# its boards just never see a reset.
	sed -i \
		-e 's/^static void gadget_disconnect(struct usb_gadget \*gadget) { }$/static void gadget_disconnect(struct usb_gadget *gadget) { struct raw_dev *dev = get_gadget_data(gadget); if (dev) raw_queue_event(dev, (enum usb_raw_event_type)6, 0, NULL); }/' \
		-e 's/^static void gadget_reset(struct usb_gadget \*gadget) { }$/static void gadget_reset(struct usb_gadget *gadget) { struct raw_dev *dev = get_gadget_data(gadget); if (dev) raw_queue_event(dev, (enum usb_raw_event_type)5, 0, NULL); }/' \
		"$src"
	[ "$(grep -c 'raw_queue_event(dev, (enum usb_raw_event_type)[56]' "$src")" -eq 2 ] ||
		die "could not add reset/disconnect events to raw_gadget.c (source changed?)"
	# Its only non-standard include, <uapi/linux/usb/raw_gadget.h>, is in
	# linux-headers-KVER-common already.
	echo 'obj-m := raw_gadget.o' > "$work/Kbuild"
	make -s -C "/usr/src/linux-headers-$KVER" M="$work" -j"$(nproc)" modules >&2
	[ "$(modinfo -F vermagic "$work/raw_gadget.ko" | cut -d' ' -f1)" = "$KVER" ] ||
		die "raw_gadget.ko vermagic does not match $KVER"
	mkdir -p "$out.tmp"
	cp "$work/raw_gadget.ko" "$out.tmp/"
	mv "$out.tmp" "$out"
	rm -rf "$work"
}

# --------------------------------------------------------------- debootstrap
# The pristine bootstrap, cached on its own: it is the slow, network-bound
# step (~40 s), and changes to the guest configuration must not redo it.
# jq: the end-to-end scenarios read JSON (journal, clusterbootctl, board status).
DEBOOTSTRAP_INCLUDE=systemd-sysv,udev,kmod,libusb-1.0-0,libsystemd0,libudev1,libjson-c5,usbutils,jq
build_debootstrap() { # build_debootstrap OUTDIR
	local out=$1 work=$CACHE/tmp/debootstrap
	debootstrap --variant=minbase --include="$DEBOOTSTRAP_INCLUDE" \
		bookworm "$work" "$MIRROR" > "$CACHE/tmp/debootstrap.log" 2>&1 || {
		tail -n 30 "$CACHE/tmp/debootstrap.log" >&2
		die "debootstrap failed (log above)"
	}
	# Downloaded .debs are not needed in the guest.
	rm -f "$work"/var/cache/apt/archives/*.deb "$CACHE/tmp/debootstrap.log"
	mv "$work" "$out"
}

host_mirror() {
	local m
	m=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	[ -n "$m" ] || m=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
	echo "${m:-http://deb.debian.org/debian}"
}

# ---------------------------------------------------------------- initramfs
# busybox + the few modules needed to mount an ext4 root on virtio-blk.
# Not compressed: the kernel unpacks it faster than it would decompress it.
INITRAMFS_MODULES=(virtio_pci virtio_blk ext4)
build_initramfs() { # build_initramfs OUTFILE
	local out=$1 work=$CACHE/tmp/initramfs mods=$KDIR/root/lib/modules/$KVER ko
	mkdir -p "$work"/{bin,dev,proc,sys,newroot,lib/modules}
	cp /bin/busybox "$work/bin/busybox"
	cp "$VM_DIR/guest/initramfs-init" "$work/init"
	chmod 755 "$work/init"
	# Dependency order, soft dependencies (crc32c for ext4) included;
	# "builtin" lines are modules compiled into the kernel.
	modprobe -d "$KDIR/root" -S "$KVER" -a --show-depends "${INITRAMFS_MODULES[@]}" |
		awk '$1 == "insmod" && !seen[$2]++ { print $2 }' |
		while read -r ko; do
			ko=${ko#"$mods"/}
			mkdir -p "$work/lib/modules/$(dirname "$ko")"
			cp "$mods/$ko" "$work/lib/modules/$ko"
			echo "$ko" >> "$work/modules.list"
		done
	[ -s "$work/modules.list" ] || die "no initramfs modules found"
	(cd "$work" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet) > "$out.tmp"
	mv "$out.tmp" "$out"
	rm -rf "$work"
}

# ------------------------------------------------------------ rootfs image
# Everything the guest needs on top of the bootstrap. Its text is part of
# the image's cache key, so editing it rebuilds the image.
configure_rootfs() { # configure_rootfs ROOT
	local r=$1 d
	echo cbtest > "$r/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\tcbtest\n' > "$r/etc/hosts"
	# The initramfs mounts / read-write; no fsck, no remount.
	echo '/dev/vda / ext4 rw,noatime 0 0' > "$r/etc/fstab"
	# A fixed machine-id: an empty one makes systemd treat every boot as
	# the first (ConditionFirstBoot, preset-all), which is slow and noisy.
	tr -d '-' < /proc/sys/kernel/random/uuid > "$r/etc/machine-id"
	# Nothing logs in: no gettys (they would also print login prompts into
	# the console stream the host parses).
	# Also mask periodic jobs that could fire during a long test.
	for d in getty@.service serial-getty@.service console-getty.service \
		getty-static.service apt-daily.timer apt-daily-upgrade.timer \
		dpkg-db-backup.timer e2scrub_all.timer e2scrub_reap.service \
		fstrim.timer systemd-tmpfiles-clean.timer; do
		ln -sf /dev/null "$r/etc/systemd/system/$d"
	done
	# Journal in memory only (the disk is thrown away anyway).
	mkdir -p "$r/etc/systemd/journald.conf.d"
	printf '[Journal]\nStorage=volatile\n' > "$r/etc/systemd/journald.conf.d/cbtest.conf"

	# The payload runner.
	install -D -m 755 "$VM_DIR/guest/cbtest-wrapper" "$r/usr/local/sbin/cbtest-wrapper"
	install -D -m 644 "$VM_DIR/guest/cbtest.service" "$r/etc/systemd/system/cbtest.service"
	mkdir -p "$r/etc/systemd/system/multi-user.target.wants"
	ln -sf ../cbtest.service "$r/etc/systemd/system/multi-user.target.wants/cbtest.service"

	# The guest kernel's modules, plus raw_gadget.ko in extra/, indexed by
	# the guest's own depmod (same kmod as the host, but this is the
	# guest's view of it).
	mkdir -p "$r/lib/modules"
	cp -a "$KDIR/root/lib/modules/$KVER" "$r/lib/modules/"
	install -D -m 644 "$RGDIR/raw_gadget.ko" "$r/lib/modules/$KVER/extra/raw_gadget.ko"
	chroot "$r" depmod "$KVER"

	# Not needed to run anything; a smaller image is faster to build.
	rm -rf "$r"/usr/share/{doc,man,info,locale}/* "$r"/var/lib/apt/lists/*
	# devtmpfs provides /dev.
	rm -rf "${r:?}"/dev/*
}

build_rootfs_image() { # build_rootfs_image OUTFILE
	local out=$1 work=$CACHE/tmp/rootfs size_mb
	cp -a "$DBDIR" "$work"
	configure_rootfs "$work"
	# Used size + 25% + 1 GiB free for the tests (a sparse file: free space
	# costs nothing on the host).
	size_mb=$(du -sm "$work" | cut -f1)
	size_mb=$((size_mb * 5 / 4 + 1024))
	# No journal: the image is a throwaway (each run writes to its own
	# overlay), and journal writes cost time under TCG.
	mkfs.ext4 -q -F -L cbroot -O ^has_journal -d "$work" "$out.tmp" "${size_mb}M" >/dev/null
	mv "$out.tmp" "$out"
	rm -rf "$work"
}

# ====================================================================== main
resolve_kver
log "guest kernel: $KVER"
timed "host packages" host_packages
KPKGVER=$(dpkg-query -W -f='${Version}' "linux-headers-$KVER")
SRCVER=$(dpkg-query -W -f='${Version}' linux-source-6.1)
MIRROR=${CBVM_MIRROR:-$(host_mirror)}

# stage NAME PREFIX KEY FUNCTION: run FUNCTION CACHE/PREFIX-KEY unless that
# entry already exists; sets the variable NAME to the entry's path.
stage() {
	local var=$1 prefix=$2 k=$3 fn=$4 path
	path=$CACHE/$prefix-$k
	if [ -e "$path" ]; then
		log "$prefix: cached ($(basename "$path"))"
	else
		log "$prefix: building"
		timed "$prefix" "$fn" "$path"
		prune "$prefix-" "$path"
	fi
	printf -v "$var" '%s' "$path"
}

# A later stage's key includes the names (not paths: the cache may move) of
# the entries it is built from.
stage KDIR kernel "$(key "$KVER" "$KPKGVER" "$(declare -f build_kernel)")" build_kernel
stage RGDIR raw_gadget "$(key "${KDIR##*/}" "$SRCVER" "$(declare -f build_raw_gadget)")" build_raw_gadget
stage DBDIR debootstrap "$(key bookworm "$DEBOOTSTRAP_INCLUDE" "$(declare -f build_debootstrap)")" build_debootstrap
stage INITRD initramfs "$(key "${KDIR##*/}" "${INITRAMFS_MODULES[*]}" \
	"$(dpkg-query -W -f='${Version}' busybox-static)" \
	"$(cat "$VM_DIR/guest/initramfs-init")" "$(declare -f build_initramfs)")" build_initramfs
stage ROOTFS rootfs "$(key "${DBDIR##*/}" "${KDIR##*/}" "${RGDIR##*/}" \
	"$(cat "$VM_DIR/guest/cbtest-wrapper" "$VM_DIR/guest/cbtest.service")" \
	"$(declare -f configure_rootfs build_rootfs_image)")" build_rootfs_image

# What run-vm.sh boots.
cat > "$CURRENT_ENV.tmp" <<EOF
KVER=$KVER
VMLINUX=$KDIR/vmlinux
INITRD=$INITRD
ROOTFS=$ROOTFS
RAW_GADGET_KO=$RGDIR/raw_gadget.ko
EOF
mv "$CURRENT_ENV.tmp" "$CURRENT_ENV"
rmdir "$CACHE/tmp" 2>/dev/null || true
log "done in $(elapsed "$T0") s; artifacts listed in $CURRENT_ENV"
