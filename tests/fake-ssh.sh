#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# ssh as clusterbootctl -H runs it (CLUSTERBOOT_SSH), for the tests: the
# options up to "--", then the destination, then the command, which runs
# here with the socket FAKE_SSH_HOSTS maps the destination to
# ("rack1=/path/sock rack2=/other/sock"); an unknown host fails as ssh does.
while [ $# -gt 0 ] && [ "$1" != -- ]; do shift; done
shift
host=$1
shift
sock=
for pair in $FAKE_SSH_HOSTS; do
        [ "${pair%%=*}" = "$host" ] && sock=${pair#*=}
done
[ -n "$sock" ] || { echo "ssh: Could not resolve hostname $host: Name or service not known" >&2; exit 255; }
CLUSTERBOOT_SOCKET=$sock exec "$@"
