#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The control socket's interface descriptions, as a varlink client tool reads
# them: every interface GetInfo lists can be described
# (org.varlink.service.GetInterfaceDescription), and each description is
# accepted by a real parser for varlink's IDL (varlink-go's, Debian's
# varlink-go package), under the name it was asked for.
# usage: varlink-idl.sh CLUSTERBOOT
set -u
daemon=$1
generator=$(command -v varlink-go-interface-generator) || { echo "SKIP: no varlink-go-interface-generator (apt-get install varlink-go)"; exit 77; }
tmp=$(mktemp -d) || exit 2
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir "$tmp/boot" "$tmp/idl"
printf '[Daemon]\nBootDirectory=%s/boot\nStateDirectory=%s/state\nAutoNodes=no\n' "$tmp" "$tmp" >"$tmp/clusterboot.conf"
"$daemon" --config="$tmp/clusterboot.conf" --socket="$tmp/io.clusterboot" --log-target=stderr >"$tmp/log" 2>&1 &
pid=$!

# A varlink client in a few lines: one call per connection, each message ends in a NUL byte.
# Writes each description to IDL-DIR/INTERFACE.varlink; prints the interfaces, one a line.
python3 - "$tmp/io.clusterboot" "$tmp/idl" >"$tmp/interfaces" <<'PY' || { cat "$tmp/log"; exit 1; }
import json, os, socket, sys, time

path, out = sys.argv[1], sys.argv[2]

def call(method, parameters):
    for _ in range(100):
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            break
        except OSError:
            time.sleep(0.1)
    else:
        sys.exit(f"FAIL: nobody listens on {path}")
    s.sendall(json.dumps({"method": method, "parameters": parameters}).encode() + b"\0")
    data = b""
    while not data.endswith(b"\0"):
        chunk = s.recv(65536)
        if not chunk:
            sys.exit(f"FAIL: {method}: the connection closed")
        data += chunk
    s.close()
    reply = json.loads(data[:-1])
    if "error" in reply:
        sys.exit(f"FAIL: {method}{parameters}: {reply['error']} {reply.get('parameters')}")
    return reply.get("parameters", {})

interfaces = call("org.varlink.service.GetInfo", {})["interfaces"]
if "org.varlink.service" not in interfaces:
    sys.exit(f"FAIL: GetInfo does not list org.varlink.service: {interfaces}")
for name in interfaces:
    text = call("org.varlink.service.GetInterfaceDescription", {"interface": name})["description"]
    with open(os.path.join(out, name + ".varlink"), "w") as f:
        f.write(text)
    print(name)
PY

fail=0
while read -r name; do
        file=$tmp/idl/$name.varlink
        # the generator parses the file, then writes Go code for it beside it
        if ! out=$(cd "$tmp/idl" && "$generator" "$file" 2>&1); then
                echo "FAIL: varlink's IDL parser rejects $name: $out"
                sed 's/^/  | /' "$file"
                fail=1
                continue
        fi
        # the parser names the interface it read: the one asked for, not a prefix of it
        described=$(sed -n 's/^interface \([^ ]*\).*/\1/p' "$file")
        [ "$described" = "$name" ] || { echo "FAIL: asked for $name, described $described"; fail=1; }
        echo "ok: $name ($(grep -c '^method ' "$file") methods, $(grep -c '^error ' "$file") errors)"
done <"$tmp/interfaces"
[ -s "$tmp/interfaces" ] || { echo "FAIL: no interfaces"; fail=1; }
[ "$fail" = 0 ] || exit 1
echo "varlink-idl: all checks passed"
