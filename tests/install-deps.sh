#!/usr/bin/env bash
# Installs what building and testing clusterboot needs, from Debian 12's
# own packages. Idempotent: a no-op when everything is already there.
set -euo pipefail

packages=(
        build-essential meson ninja-build pkg-config
        libusb-1.0-0-dev libsystemd-dev libudev-dev libjson-c-dev
        umockdev libumockdev-dev libglib2.0-dev
        valgrind systemd udev
        systemd-journal-remote python3-prometheus-client
        zsh fish
        debhelper varlink-go
        libusbredirparser-dev
        librsvg2-bin tmux
        clang
)
if [ "${CB_WITH_VM:-1}" = 1 ]; then
        # the end-to-end tier: its own script knows its packages
        :
fi

missing=()
for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
