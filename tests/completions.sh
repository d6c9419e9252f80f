#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The shell completions parse in their shells, and fish's offers what a user
# types next: the commands, on/off after power, the JSON modes. (Node names
# come from a running daemon; the VM tier's shells are not driven.)
# usage: completions.sh SOURCE_ROOT
set -u
src=$1/shell-completion
failures=0 ran=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

bash -n "$src/bash/clusterbootctl" || fail "bash: syntax"
ran=$((ran + 1))
if command -v zsh >/dev/null; then
        zsh -n "$src/zsh/_clusterbootctl" || fail "zsh: syntax"
        ran=$((ran + 1))
fi
if command -v fish >/dev/null; then
        fish --no-execute "$src/fish/clusterbootctl.fish" || fail "fish: syntax"
        offers() { # LINE WORD...: completing LINE offers every WORD
                line=$1
                shift
                got=$(fish -c "source '$src/fish/clusterbootctl.fish'; complete -C '$line'" | cut -f1)
                for w in "$@"; do
                        printf '%s\n' "$got" | grep -qx -- "$w" || fail "fish: '$line' does not offer $w (offers: $(echo $got))"
                done
        }
        offers "clusterbootctl " status watch reboot power retry reload wait is-up logs metrics
        offers "clusterbootctl power " on off
        offers "clusterbootctl --json=" --json=pretty --json=short --json=off
        offers "clusterbootctl --" --no-pager --full --host --quiet
        ran=$((ran + 1))
fi
[ "$failures" = 0 ] || exit 1
echo "completions: $ran shells checked"
