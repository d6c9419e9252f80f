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
# bash's offers, without bash-completion loaded (its plain-variable path): WORDS... -> COMPREPLY
bash_offers() { # "LINE WORDS" WORD...: completing the last of LINE's words offers every WORD
        line=$1
        shift
        got=$(bash -c '. "$1"; read -ra COMP_WORDS <<< "$2"; [ "${2% }" != "$2" ] && COMP_WORDS+=("");
                COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _clusterbootctl 2>/dev/null; printf "%s\n" "${COMPREPLY[@]}"' \
                _ "$src/bash/clusterbootctl" "$line")
        for w in "$@"; do
                printf '%s\n' "$got" | grep -qx -- "$w" || fail "bash: '$line' does not offer $w (offers: $(echo $got))"
        done
}
bash_offers "clusterbootctl " status watch reboot power retry reload wait is-up logs metrics history timeline
bash_offers "clusterbootctl power " on off
bash_offers "clusterbootctl timeline --" --output= --last= --since= --input=
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
        offers "clusterbootctl " status watch reboot power retry reload wait is-up logs metrics history timeline
        offers "clusterbootctl timeline --" --output --last --since --input
        offers "clusterbootctl power " on off
        offers "clusterbootctl --json=" --json=pretty --json=short --json=off
        offers "clusterbootctl --" --no-pager --full --host --quiet
        ran=$((ran + 1))
fi
[ "$failures" = 0 ] || exit 1
echo "completions: $ran shells checked"
