#!/bin/bash
# The Debian package, as CI builds it: dpkg-buildpackage (dh + meson) in a
# copy of the tree (it writes beside the source), then a look inside: the
# programs, units, rules, sysusers/tmpfiles and the maintainer scripts the
# debhelper helpers generate.
#
#   tests/build-deb.sh [OUTDIR]     (default build-deb/)
#
# Prints the .deb's path on the last line; exits non-zero if it was not
# built or lacks something. DEB_BUILD_OPTIONS defaults to nocheck: the
# tests have their own phases in run-all.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$top/build-deb}")
rm -rf "$out"
mkdir -p "$out/src"
# the tracked tree as it is on disk (and new files not yet committed), nothing built
(cd "$top" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -C "$out/src" -xf -

version=$(cd "$out/src" && dpkg-parsechangelog -S Version)
meson_version=$(sed -n "s/^  version : '\(.*\)',\$/\1/p" "$out/src/meson.build")
[ "$version" = "$meson_version" ] || { echo "debian/changelog says $version, meson.build $meson_version" >&2; exit 1; }

(cd "$out/src" && DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-nocheck} dpkg-buildpackage -us -uc -b) \
        >"$out/dpkg-buildpackage.log" 2>&1 || { tail -n 40 "$out/dpkg-buildpackage.log" >&2; exit 1; }
deb=$(ls "$out"/clusterboot_"$version"_*.deb)

dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$out/contents"
missing=0
for f in /usr/sbin/clusterboot /usr/bin/clusterbootctl /lib/systemd/system/clusterboot.service \
        /lib/systemd/system/clusterboot.socket /lib/systemd/system/clusterboot-up@.target \
        /lib/udev/rules.d/60-clusterboot.rules /lib/udev/rules.d/61-clusterboot-nodes.rules \
        /usr/lib/sysusers.d/clusterboot.conf /usr/lib/tmpfiles.d/clusterboot.conf \
        /usr/share/man/man8/clusterboot.8.gz /usr/share/doc/clusterboot/examples/clusterboot.conf \
        /usr/share/doc/clusterboot/copyright /usr/share/zsh/vendor-completions/_clusterbootctl; do
        grep -qx "$f" "$out/contents" || { echo "the package lacks $f" >&2; missing=1; }
done
dpkg-deb -e "$deb" "$out/control"
for s in "systemd-sysusers" "systemd-tmpfiles" "--create clusterboot.conf" "deb-systemd-helper enable 'clusterboot.service'" \
        "deb-systemd-helper enable 'clusterboot.socket'"; do
        grep -q -- "$s" "$out/control/postinst" || { echo "postinst does not run $s" >&2; missing=1; }
done
# the group exists before udev reads the rule naming it: preinst makes it, with the sysusers line itself
sysusers_line=$(grep -v '^#' "$out/src/systemd/clusterboot.sysusers")
grep -qF -- "'$sysusers_line'" "$out/control/preinst" ||
        { echo "preinst does not create the user with systemd/clusterboot.sysusers' line ($sysusers_line)" >&2; missing=1; }
grep -q -- "udevadm trigger --action=change" "$out/control/postinst" ||
        { echo "postinst does not apply the udev rules to devices already plugged in" >&2; missing=1; }
# a maintainer script that does not parse fails the install halfway (debhelper
# substitutes its token wherever it appears, comments included)
for script in "$out"/control/preinst "$out"/control/postinst "$out"/control/prerm "$out"/control/postrm; do
        [ -e "$script" ] || continue
        sh -n "$script" || { echo "$(basename "$script") does not parse" >&2; missing=1; }
        n=$(grep -c '^# End automatically added section' "$script" || true)
        d=$(grep -c '^# Automatically added by' "$script" || true)
        [ "$n" = "$d" ] || { echo "$(basename "$script") has broken debhelper sections" >&2; missing=1; }
done
# the rules apply to plugged-in boards before debhelper's part starts the daemon
trigger_at=$(grep -n -m1 -- "udevadm trigger --action=change" "$out/control/postinst" | cut -d: -f1)
start_at=$(grep -n -m1 -- "deb-systemd-invoke" "$out/control/postinst" | cut -d: -f1)
[ -n "$trigger_at" ] && [ -n "$start_at" ] && [ "$trigger_at" -lt "$start_at" ] ||
        { echo "postinst starts the daemon before it applies the udev rules" >&2; missing=1; }
[ "$missing" = 0 ] || exit 1
echo "$deb"
