# shellcheck shell=bash disable=SC2034 # variables are for the sourcing script
# Shared helpers for tests/vm/build-image.sh and tests/vm/run-vm.sh.
# Sourced, not executed: the caller has already done `set -euo pipefail`.

VM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Everything downloaded or built lives here (gitignored). Override to share a
# cache between work trees, e.g. CBVM_CACHE=/var/cache/cbvm.
CACHE="${CBVM_CACHE:-$VM_DIR/cache}"
# build-image.sh writes the paths of the current artifacts here; run-vm.sh reads it.
CURRENT_ENV="$CACHE/current.env"

# Seconds since the epoch with microseconds (bash 5 builtin: no fork).
now() { printf '%s' "$EPOCHREALTIME"; }
# elapsed START -> "12.3" (seconds since START, one decimal).
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

log() { printf '[%s] %s\n' "${LOG_TAG:-vm}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# key PART... -> short stable hash of its arguments; used to name cache
# entries so that a change to any input of a stage produces a new entry.
key() { printf '%s\n' "$@" | sha256sum | cut -c1-16; }
